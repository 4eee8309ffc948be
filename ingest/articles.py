"""Article references: THE place that finds them in text and the one ``ArticleRef`` type.

Forms understood:

* a statute heading as written, ``第一千二百零二条`` / ``第十条之一`` (:func:`parse_article`,
  :data:`ARTICLE_LABEL_RE`): what the statute parser, datasets and labels use;
* a reference in free text, ``第1202条`` / ``第 1202 条`` / ``第一千二百零二条`` / ``第十条之一``
  (:func:`find_article_refs`, :data:`ARTICLE_RE`): answers, claims, passages;
* a reference tied to a statute, ``民法典第1202条`` / ``消保法55条`` (:class:`StatuteNames`):
  questions and the cross-references passages make.

Numbers are compared as ints (:mod:`ingest.numerals` converts Chinese numerals both ways).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.numerals import NUMERAL_CHARS, cn_to_int, int_to_cn

# An article number in free text: Arabic (half- or full-width) or Chinese.
NUMBER = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
# 第X条 or 第X条之Y in free text, spaces allowed around the number (the paper writes 第 1202 条).
ARTICLE_RE = re.compile(rf"第\s*({NUMBER})\s*条(?:之([一二三四五六七八九十]+))?")
# A heading as a statute writes it: Chinese numerals, no spaces (第一百二十条之一).
ARTICLE_LABEL = rf"第([{NUMERAL_CHARS}]+)条(?:之([{NUMERAL_CHARS}]+))?"
ARTICLE_LABEL_RE = re.compile(ARTICLE_LABEL)
# Free text, also the bare 55条 that only counts right after a statute's name (消保法55条).
_ARTICLE_OR_BARE = re.compile(
    rf"{ARTICLE_RE.pattern}|({NUMBER})\s*条"
    # the first number of a list or range that names 条 once: 第1165、1166条, 第四十四至四十七条
    rf"|第\s*({NUMBER})(?=\s*[、,，和及与至到\-—～~]\s*(?:第\s*)?(?:{NUMBER})\s*条)"
)
# between the ends of a range: 第四十四条至四十七条, 第1194-1197条
_RANGE = re.compile(r"^\s*条?\s*[至到\-—～~]\s*(?:第\s*)?$")
MAX_RANGE = 10  # articles a range names at most (a longer one is taken as its two ends)


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """An article reference: 第一百二十条之一 → ArticleRef(120, 1); ``suffix`` is 0 for a plain article.

    Found in text, it also says which statute it names (``doc_id``, None when none is named
    near it) and where it starts (``position``), and keeps the reference as written (``text``).
    """

    number: int
    suffix: int = 0  # 之一 → 1
    doc_id: str | None = None
    position: int = 0
    text: str = field(default="", compare=False)

    def label(self) -> str:
        """The heading form: 第一千二百零二条, 第一百二十条之一."""
        base = f"第{int_to_cn(self.number)}条"
        return base + (f"之{int_to_cn(self.suffix)}" if self.suffix else "")


_DIGIT_BY_DIGIT = "〇零一二三四五六七八九两"
_DIGITS = str.maketrans(_DIGIT_BY_DIGIT, "001234567892")


def to_int(raw: str) -> int | None:
    """An article number as written in free text (1202, １２, 一千二百零二, 两百) → int; None if malformed."""
    raw = raw.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if raw.isdigit():
        return int(raw)
    if "〇" in raw and set(raw) <= set(_DIGIT_BY_DIGIT):  # 五〇六, 一〇六二: read digit by digit, as written
        return int(raw.translate(_DIGITS))
    try:
        return cn_to_int(raw.replace("两", "二").replace("〇", "零"))
    except ValueError:
        return None


def parse_article(text: str) -> ArticleRef:
    """Parse exactly one heading-form "第X条" or "第X条之Y" (surrounding whitespace allowed)."""
    match = ARTICLE_LABEL_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an article reference: {text!r}")
    return ArticleRef(cn_to_int(match.group(1)), cn_to_int(match.group(2)) if match.group(2) else 0)


def is_article_label(text: str) -> bool:
    """True for an article exactly as a heading writes it (第一千二百零二条), nothing around it."""
    if not ARTICLE_LABEL_RE.fullmatch(text):
        return False
    try:
        parse_article(text)
    except ValueError:
        return False
    return True


def find_article_refs(text: str, *, keep_malformed: bool = False) -> list[ArticleRef]:
    """Every 第X条 / 第X条之Y in ``text``, in order, with its position and text as written.

    A malformed number (第十十条) is skipped, or kept with ``number == 0`` when
    ``keep_malformed`` (no statute has it: the caller can count it as invented).
    """
    refs = []
    for m in ARTICLE_RE.finditer(text):
        number = to_int(m.group(1))
        if number is None and not keep_malformed:
            continue
        suffix = cn_to_int(m.group(2)) if m.group(2) else 0
        refs.append(ArticleRef(number or 0, suffix, None, m.start(), m.group(0)))
    return refs


# --- references tied to a statute (民法典第1202条, 消保法55条) -------------------------------------

# Common names users type for each statute; full titles are added from the manifest.
STATUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "civil-code": ("民法典",),
    "consumer-protection-law": ("消费者权益保护法", "消保法", "消法"),
    "product-quality-law": ("产品质量法", "产质法"),
    "e-commerce-law": ("电子商务法", "电商法"),
    "personal-information-protection-law": ("个人信息保护法", "个保法"),
    "cybersecurity-law": ("网络安全法", "网安法"),
    "data-security-law": ("数据安全法", "数安法"),
    "copyright-law": ("著作权法", "版权法"),
    "genai-interim-measures": (
        "生成式人工智能服务管理暂行办法",
        "暂行办法",  # the corpus holds one 暂行办法, and people call it so
        "生成式人工智能暂行办法",
        "生成式AI办法",
        "生成式办法",
        "生成式人工智能办法",
        "生成式人工智能服务管理办法",  # what people misremember it as
        "AIGC办法",
    ),
    "deep-synthesis-provisions": (
        "互联网信息服务深度合成管理规定",
        "深度合成管理规定",
        "深度合成规定",
        "深度合成管理办法",
    ),
    "algorithm-recommendation-provisions": (
        "互联网信息服务算法推荐管理规定",
        "算法推荐管理规定",
        "算法推荐规定",
        "算法推荐管理办法",
    ),
    "ai-content-labeling-measures": ("人工智能生成合成内容标识办法", "标识办法"),
}

# the agreement numbers its own parts (and so does every agreement legal staff add, by whatever name:
# ``StatuteNames(agreements=…)``); the paper and the blog have none, so "论文里提到的第1202条" is the statute's
# article they discuss
_OTHER_DOCUMENT = "协议"
# where a clause of a question starts: a document named before it is not what a later number belongs to
# ("签了协议之后平台违约，第五百七十七条怎么规定？")
_CLAUSE_START = re.compile(r"[，。？！；,;?!\n]")
# a document named right before the number that is none of ours: "劳动合同法第三十九条", "我们跟供应商的
# 合同第十二条", "隐私政策第三条".  Its article is not the corpus's article of that number (民法典第三十九条
# is about guardianship); "本法第二十条" in a statute's own text is its own article.
_UNKNOWN_DOCUMENT = re.compile(
    r"(?<![本该此这那])(?<!这个)(?<!这部)(?<!那个)(?<!上述)(?<!前述)(?P<word>(?<![办说方做想])法|法案|条例|办法|规定|解释|合同|协议书|协议|规章制度|制度|政策|章程|细则|规则|公约|守则|"
    r"说明书|手册|规约|须知|遗嘱|告知书|承诺书|公告|简章|合约|[A-Za-z]{2,})[》」”\"']?(?:里面|里|中|的|上)?\s*$"
)
# what a 民法典 part or a reference to one of ours may end in: 民法典买卖合同第六百一十条, 民法典规定第五百八十四条
_OURS_WITH = ("合同", "规定")
# the number alone after a statute's name: 民法典1202, 消保法55 (not 民法典2020年)
_NAME_THEN_NUMBER = re.compile(r"\s*([0-9]{1,4})(?![0-9年月日元万块岁号人个%.％条])")
# what may stand between a statute's name and its number: 《著作权法》里面第二十四条, 民法典中的第…条
_BETWEEN_NAME_AND_NUMBER = re.compile(r"里面|里|中的|中|上的|规定的?")
# a number alone that opens the question and is asked about ("1202条是什么", "请问1165条讲的啥"): the
# article of that number, as 第1202条 would be; "3条建议是什么" and "合同里有两条是什么意思" are not
_ASKED_ALONE_BEFORE = re.compile(
    r"(?:^|[，。？！；,;?!\s])(?:请问|我想问一?下?|想问一?下?|问一?下|查一?下|看一?下|帮我查一?下|那|那么)?\s*$"
)
_ASKED_ALONE_AFTER = re.compile(
    r"\s*(?:是什么|是啥|讲的?是?什么|讲了?啥|讲的啥|说的?是?什么|说了?啥|说的啥|规定了?什么|规定的?是?什么|"
    r"怎么规定|的?内容|写的?是?什么|写了?啥|呢|[？?]?\s*$)"
)
# between two numbers of one list: 第496条、497条、498条
_LIST_SEPARATOR = re.compile(r"^[、,，和及与或\s]*$")


# Statutes people name that the corpus does not hold, as they type them: asked "劳动合同法第三十九条是什么",
# the answer says the corpus lacks that law instead of quoting whatever ranks (民法典第三十九条 is about
# guardianship).  The codes the 民法典 replaced (合同法, 婚姻法, …) are not listed here: the corpus itself
# names them (民法典 第一千二百六十条), see :func:`repealed_codes`.
OTHER_STATUTES = (
    "劳动合同法", "劳动法", "劳动争议调解仲裁法", "社会保险法", "刑法", "公司法", "合伙企业法", "企业破产法",
    "证券法", "保险法", "商业银行法", "票据法", "民事诉讼法", "刑事诉讼法", "行政诉讼法", "行政处罚法",
    "行政许可法", "仲裁法", "律师法", "广告法", "反不正当竞争法", "反垄断法", "价格法", "商标法", "专利法",
    "食品安全法", "药品管理法", "医师法", "道路交通安全法", "个人所得税法", "企业所得税法", "税收征收管理法",
    "未成年人保护法", "妇女权益保障法", "老年人权益保障法", "反家庭暴力法", "治安管理处罚法",
    "反电信网络诈骗法", "城市房地产管理法", "土地管理法", "农村土地承包法", "旅游法", "招标投标法",
    "政府采购法", "教育法", "网络数据安全管理条例", "电信条例", "征信业管理条例",
)  # fmt: skip
# what people call a repealed code besides its name in 第一千二百六十条
_REPEALED_ALIASES = {"侵权法": "侵权责任法"}
# "…《中华人民共和国合同法》、《中华人民共和国物权法》…同时废止。"
_REPEAL_SENTENCE = re.compile(r"[^。]*同时废止")
_FULL_NAME = re.compile(r"《(?:中华人民共和国)?([^》]{2,20})》")
# a name followed by one of these is a word, not a statute: 合同法律关系, 合同法定解除, 刑法学
_NOT_A_NAME_AFTER = "律人院定官庭理治学务"  # 公司法务
# what may stand right before a statute's name in a question (违反劳动法, 按照合同法, 那公司法呢, 公司法和劳动法)
_BEFORE_A_NAME = "反据照依按和与及跟同对在是用了的那问查看说讲于或即国"  # 国: 《中华人民共和国合同法》
_HAN = re.compile(r"[\u4e00-\u9fff]")


def repealed_codes(text: str) -> tuple[str, ...]:
    """The laws a statute's text repeals by name ("…《中华人民共和国合同法》…同时废止"), short names."""
    names: list[str] = []
    for sentence in _REPEAL_SENTENCE.findall(text):
        names += _FULL_NAME.findall(sentence)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class OtherStatute:
    """A statute a question names that the corpus does not hold; ``repealed`` when the corpus repeals it."""

    name: str  # as the corpus or common usage writes it: 劳动合同法, 侵权责任法
    repealed: bool


class StatuteNames:
    """Maps statute names (full, short, colloquial) to doc ids, and knows the statutes we do not hold."""

    def __init__(
        self, titles: dict[str, list[str]], repealed: tuple[str, ...] = (), agreements: tuple[str, ...] = ()
    ) -> None:
        """``agreements``: the names of the corpus's own agreements (not every one says 协议: 星河服务条款); a
        number after one is the agreement's part, not a statute's article."""
        names: dict[str, str] = {}
        for doc_id, aliases in STATUTE_ALIASES.items():
            for alias in aliases:
                names[alias] = doc_id
        for doc_id, doc_titles in titles.items():
            for title in doc_titles:
                bare = title.strip("《》")
                names[bare] = doc_id
                if bare.startswith("中华人民共和国"):
                    names[bare.removeprefix("中华人民共和国")] = doc_id
        # longest first so 消费者权益保护法 wins over 消法
        self._pattern = re.compile(
            "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.IGNORECASE
        )
        self._names = {k.lower(): v for k, v in names.items()}
        numbered = sorted({_OTHER_DOCUMENT, *agreements}, key=len, reverse=True)
        self._numbered_document = re.compile("|".join(re.escape(n) for n in numbered), re.IGNORECASE)
        self.repealed = frozenset(repealed)
        others = {name: name for name in OTHER_STATUTES} | {name: name for name in repealed}
        others |= {alias: name for alias, name in _REPEALED_ALIASES.items() if name in self.repealed}
        self._others = others
        self._other_pattern = re.compile(
            "(?:"
            + "|".join(re.escape(n) for n in sorted(others, key=len, reverse=True))
            + ")"
            + f"(?![{_NOT_A_NAME_AFTER}]|规(?!定))"  # 劳动法规 is rules in general, 劳动法规定 the 劳动法
        )

    def other_statutes(self, text: str) -> list[OtherStatute]:
        """Statutes ``text`` names that are none of ours (longest name first: 劳动合同法, not 合同法)."""
        return list(dict.fromkeys(other for _start, _end, other in self.other_mentions(text)))

    def other_mentions(self, text: str) -> list[tuple[int, int, OtherStatute]]:
        """Where ``text`` names a statute that is none of ours, and which."""
        ours = [(start, end) for start, end, _doc in self.mentions(text)]
        found = []
        for m in self._other_pattern.finditer(text):
            before = text[m.start() - 1] if m.start() else ""
            if _HAN.match(before) and before not in _BEFORE_A_NAME:
                continue  # the end of a longer name: 高等教育法 is not 教育法, 执业医师法 not 医师法
            if not any(start < m.end() and m.start() < end for start, end in ours):
                name = self._others[m.group(0)]
                found.append((m.start(), m.end(), OtherStatute(name, name in self.repealed)))
        return found

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), self._names[m.group(0).lower()]) for m in self._pattern.finditer(text)]

    def article_refs(
        self, text: str, *, default_doc: str | None = None, of_other_documents: bool = False
    ) -> list[ArticleRef]:
        """Article numbers in ``text``, each tied to the nearest statute named before it.  A number right
        after a document that is none of ours ("劳动合同法第三十九条", "合同第十二条") is left out, unless
        ``of_other_documents`` (the verifier checks every number an answer states)."""
        mentions = self.mentions(text)
        others = [(start, end, other.name) for start, end, other in self.other_mentions(text)]
        refs: list[ArticleRef] = []
        for m in _ARTICLE_OR_BARE.finditer(text):
            raw = m.group(1) or m.group(3) or m.group(4)
            bare_form = m.group(3) is not None
            number = to_int(raw)
            if number is None or number <= 0:
                continue
            before = [doc for start, end, doc in mentions if end <= m.start()]
            clause_start = max((c.end() for c in _CLAUSE_START.finditer(text, 0, m.start())), default=0)
            document = [d.end() for d in self._numbered_document.finditer(text, clause_start, m.start())]
            if document and not any(end > document[-1] for _s, end, _d in mentions if end <= m.start()):
                continue  # "…民法典第506条…，用户协议第八部分第6条": a clause of the agreement, not the 民法典's
            if not of_other_documents and (
                self._of_unknown_document(text, mentions, m.start()) or _adjacent(text, others, m.start())
            ):
                continue  # 劳动合同法第三十九条, 民法通则第一百零六条: not the 民法典's
            gap = text[refs[-1].position + len(refs[-1].text) : m.start()] if refs else None
            listed = gap is not None and bool(_LIST_SEPARATOR.match(gap) or _RANGE.match(gap))
            if (
                bare_form
                and not listed
                and not (before and _adjacent(text, mentions, m.start()))
                and not _asked_alone(text, m.start(), m.end(), raw, number)
            ):
                continue  # "55条" alone is too ambiguous; "消保法55条", "第496条、497条", "1202条是什么" are fine
            # a number before any statute is named is not the later one's ("第1202条…还是要看产品质量法")
            doc = refs[-1].doc_id if listed else before[-1] if before else default_doc
            suffix = cn_to_int(m.group(2)) if m.group(2) else 0
            if gap is not None and _RANGE.match(gap) and 0 < number - refs[-1].number <= MAX_RANGE:
                refs += [ArticleRef(n, 0, doc, m.start(), "") for n in range(refs[-1].number + 1, number)]
            refs.append(ArticleRef(number, suffix, doc, m.start(), m.group(0)))
        for _start, end, doc in mentions:  # 民法典1202
            bare = _NAME_THEN_NUMBER.match(text, end)
            if bare and all(ref.position != bare.start(1) for ref in refs):
                refs.append(ArticleRef(int(bare.group(1)), 0, doc, bare.start(1), bare.group(1)))
        return sorted(refs, key=lambda ref: ref.position)

    def other_document_refs(self, text: str) -> list[tuple[int, str]]:
        """Where ``text`` gives the number of a document we do not hold by a generic name ("我们跟供应商的
        合同第十二条", "隐私政策第三条", "GDPR第17条"), and that name as written (合同, 政策, GDPR)."""
        ours = {ref.position for ref in self.article_refs(text)}
        found = []
        for ref in self.article_refs(text, of_other_documents=True):
            unknown = _UNKNOWN_DOCUMENT.search(text[max(0, ref.position - 12) : ref.position])
            if ref.position not in ours and unknown:
                found.append((ref.position, unknown.group("word")))
        return found

    @staticmethod
    def _of_unknown_document(text: str, mentions: list[tuple[int, int, str]], pos: int) -> bool:
        """Whether the number at ``pos`` follows a document that is none of ours: 高等教育法, 合同, GDPR;
        not 民法典买卖合同 or 民法典规定, which name a part or a rule of ours."""
        window = text[max(0, pos - 12) : pos]
        unknown = _UNKNOWN_DOCUMENT.search(window)
        if not unknown or _adjacent(text, mentions, pos):
            return False
        ours_near = any(pos - 12 <= end <= pos - len(unknown.group(0)) for _s, end, _d in mentions)
        return not (ours_near and unknown.group("word") in _OURS_WITH)


def _asked_alone(text: str, start: int, end: int, raw: str, number: int) -> bool:
    """Whether the bare number at ``start`` opens its clause and is asked about ("1202条是什么"); written in
    Chinese numerals it must be at least 十 ("两条是什么" counts things)."""
    if not raw.isdigit() and number < 10:
        return False
    return bool(_ASKED_ALONE_BEFORE.search(text, 0, start) and _ASKED_ALONE_AFTER.match(text, end))


def _adjacent(text: str, mentions: list[tuple[int, int, str]], pos: int) -> bool:
    """Whether the number at ``pos`` follows the name right away ("消保法55条", "《著作权法》里面第二十四条")."""
    ends = [end for _s, end, _d in mentions if end <= pos]
    between = _BETWEEN_NAME_AND_NUMBER.sub("", text[max(ends) : pos]) if ends else ""
    return bool(ends) and len(between.strip(" 　》的")) <= 1
