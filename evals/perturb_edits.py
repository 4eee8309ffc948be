"""Edits that turn one real statute sentence into a statement: unfaithful (one fact changed) or faithful.

Pure functions over a sentence and its passage (``Source``); ``evals/perturb.py`` picks among their
outputs with a seeded RNG.  Each edit writes the change it made, so a miss can be read at a glance.
The caller drops any statement that is a verbatim slice of its passage (a quote, not a
paraphrase).  The word tables below are the generator's own, chosen by hand as clear contrasts
(a swap of near-synonyms such as 个人 ⇄ 自然人 would not change a fact); only the recognition of
role words reuses the app's lexicon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.fact_extract import number_value
from app.fact_lexicon import ROLE_ANCESTORS, ROLE_OF, ROLE_RE
from ingest.numerals import int_to_cn


@dataclass(frozen=True, slots=True)
class Source:
    """A statute article as the edits need it."""

    text: str
    law: str  # 《消费者权益保护法》
    article: int
    other_laws: tuple[str, ...]  # short titles of the other statutes, 《民法典》 …


@dataclass(frozen=True, slots=True)
class Edit:
    kind: str
    text: str
    change: str


# --- unfaithful: one fact changed -----------------------------------------------------------------

_NUMBER = re.compile(r"(百分之)?([0-9]+|[零一二两三四五六七八九十百千万亿]+)(倍|元|日|天|个月|年(?!度)|小时|周岁|%)?")
_UNIT_KIND = {"倍": "multiplier", "元": "amount", "%": "percentage", "周岁": "number"}
_BOUND_AFTER = {"以下": "以上", "以上": "以下", "以内": "以上"}
_BOUND_BEFORE = {"不超过": "超过", "不足": "超过"}
ROLE_CONTRAST = {
    "生产者": ("销售者", "经营者"), "销售者": ("生产者",), "经营者": ("消费者", "生产者"), "消费者": ("经营者",),
    "提供者": ("使用者",), "服务提供者": ("使用者",), "使用者": ("提供者",), "用户": ("平台",),
    "网络服务提供者": ("网络用户",), "网络用户": ("网络服务提供者",), "侵权人": ("被侵权人",), "被侵权人": ("侵权人",),
    "受害人": ("经营者",), "个人信息处理者": ("个人",), "个人": ("个人信息处理者",), "出卖人": ("买受人",),
    "买受人": ("出卖人",), "电子商务平台经营者": ("平台内经营者",), "平台内经营者": ("电子商务平台经营者",),
    "权利人": ("侵权人",), "著作权人": ("使用者",), "网络运营者": ("用户",), "自然人": ("法人",), "法人": ("自然人",),
    "债权人": ("债务人",), "债务人": ("债权人",), "监护人": ("第三人",), "第三人": ("监护人",), "承运人": ("托运人",),
}
MODALITY_SWAP = {
    "应当": ("可以", "不得"), "可以": ("应当", "不得"), "有权": ("无权", "应当"), "不得": ("可以", "应当"),
    "必须": ("可以",), "禁止": ("允许",), "无须": ("应当",),
}
_MODALITY = re.compile(r"(?<![所享])(应当(?!知道)|可以|有权|不得|必须|禁止|无须)")
_VERBS = "承担|符合|知道|影响|适用|属于|超过|具备|履行|采取|尽到|存在|构成|同意|违反|告知|包括|得到"
_DROP_NEGATION = re.compile(rf"(?<![毫并])(不|未|没有)(?={_VERBS})|未(?=经)|(?<![毫])无(?=过错)")
_ADD_NEGATION = re.compile(r"(?<![不未没无非得当以权须应])(承担|符合|存在|造成|知道|履行|采取|适用|属于|违反|具备|构成)")
_PERFECTIVE = {"造成", "履行", "采取", "违反"}  # negated with 未, the rest with 不
_ARTICLE = re.compile(r"第([零一二两三四五六七八九十百千]+)条")


def _replace(sentence: str, start: int, end: int, new: str) -> str:
    return sentence[:start] + new + sentence[end:]


def _render(value: float, chinese: bool) -> str:
    v = int(value) if float(value).is_integer() else value
    if not chinese or not isinstance(v, int):
        return str(v)
    if v >= 10**8 and v % 10**8 == 0:
        return int_to_cn(v // 10**8) + "亿"
    if v >= 10**4 and v % 10**4 == 0:
        return int_to_cn(v // 10**4) + "万"
    return int_to_cn(v) if v < 10**4 else str(v)


def _quantities(text: str) -> list[tuple[re.Match, str]]:
    """Numbers with a unit (or 百分之), not ordinals (第三人): (match, unit)."""
    return [
        (m, "%" if m.group(1) else m.group(3))
        for m in _NUMBER.finditer(text)
        if (m.group(1) or m.group(3)) and not (m.start() and text[m.start() - 1] == "第")
    ]


def _unit_values(text: str, unit: str) -> set[float]:
    return {number_value(m.group(2)) for m, u in _quantities(text) if u == unit} - {None}


def number_edits(sentence: str, src: Source) -> list[Edit]:
    """Change one quantity: to a value the passage lacks, to another value of the passage, or its limit."""
    out = []
    for m, unit in _quantities(sentence):
        kind = _UNIT_KIND.get(unit, "time limit")
        value = number_value(m.group(2))
        if value is None:
            continue
        chinese = not m.group(2).isdigit()
        present = _unit_values(src.text, unit)
        fresh = next(v for v in (value * 2, value + 1, value * 10, value + 7) if v not in present)
        for new, how in ((fresh, "out"), *((p, "in") for p in sorted(present - {value})[:1])):
            script = chinese if how == "in" or len(out) % 3 else not chinese  # every third fresh value in the other script
            digits = _render(new, script)
            fragment = (f"百分之{digits}" if script else f"{digits}%") if unit == "%" else digits + m.group(3)
            out.append(Edit(kind, _replace(sentence, m.start(), m.end(), fragment), f"{m.group(0)} → {fragment}"))
        tail = sentence[m.end() :]
        head = sentence[: m.start()]
        for word, flipped in _BOUND_AFTER.items():
            if tail.startswith(word):
                out.append(Edit("limit", _replace(sentence, m.end(), m.end() + len(word), flipped), f"{word} → {flipped}"))
        for word, flipped in _BOUND_BEFORE.items():
            if head.endswith(word):
                out.append(Edit("limit", _replace(sentence, m.start() - len(word), m.start(), flipped), f"{word} → {flipped}"))
    return out


def _roles(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in ROLE_RE.finditer(text) if m.group(0) in ROLE_OF]


def _related(a: str, b: str) -> bool:
    ra, rb = ROLE_OF.get(a), ROLE_OF.get(b)
    return ra == rb or ra in ROLE_ANCESTORS.get(rb, ()) or rb in ROLE_ANCESTORS.get(ra, ())


def _subjects(text: str) -> set[str]:
    """Role words that open a clause of the passage (its subjects)."""
    return {w for clause in re.split(r"[，；。：\n　]", text) for s, _e, w in _roles(clause) if s == 0}


def role_edits(sentence: str, src: Source) -> list[Edit]:
    """Name another party: one the passage never mentions, one it never makes a subject, or swap two."""
    out = []
    roles = _roles(sentence)
    present = {w for _s, _e, w in _roles(src.text)}
    subjects = _subjects(src.text)
    for start, end, word in roles:
        for new in ROLE_CONTRAST.get(word, ()):
            if not any(_related(new, p) for p in present):
                out.append(Edit("role", _replace(sentence, start, end, new), f"{word} → {new}"))
                break
        clause_start = max(sentence.rfind(ch, 0, start) for ch in "，；：") + 1
        if start == clause_start:
            for new in sorted(present - subjects):
                if not _related(new, word) and ROLE_OF.get(new) != ROLE_OF.get(word):
                    out.append(Edit("role", _replace(sentence, start, end, new), f"{word} → {new}（主语）"))
                    break
    for (s1, e1, w1), (s2, e2, w2) in zip(roles, roles[1:], strict=False):
        between = sentence[e1:s2]
        contrast = w2 in ROLE_CONTRAST.get(w1, ()) or w1 in ROLE_CONTRAST.get(w2, ())  # a clear swap, not 个人 ⇄ 自然人
        if contrast and not re.search(r"[，；：、和或及与]", between):
            swapped = sentence[:s1] + w2 + between + w1 + sentence[e2:]
            out.append(Edit("role", swapped, f"{w1} ⇄ {w2}"))
    return out


def modality_edits(sentence: str, src: Source) -> list[Edit]:
    out = []
    for m in _MODALITY.finditer(sentence):
        for new in MODALITY_SWAP[m.group(0)]:
            out.append(Edit("modality", _replace(sentence, m.start(), m.end(), new), f"{m.group(0)} → {new}"))
    return out


def negation_edits(sentence: str, src: Source) -> list[Edit]:
    out = []
    for m in _DROP_NEGATION.finditer(sentence):
        new = "有" if m.group(0) in ("没有", "无") else ""
        out.append(Edit("negation", _replace(sentence, m.start(), m.end(), new), f"删去“{m.group(0)}”"))
    for m in _ADD_NEGATION.finditer(sentence):
        neg = "未" if m.group(0) in _PERFECTIVE else "不"
        out.append(Edit("negation", _replace(sentence, m.start(), m.start(), neg), f"加上“{neg}”：{neg}{m.group(0)}"))
    return out


def _absent_article(src: Source, near: int) -> int:
    mentioned = {number_value(m.group(1)) for m in _ARTICLE.finditer(src.text)}
    return next(n for n in (near + 1, near + 2, near - 1, near + 5) if n > 0 and n not in mentioned)


def article_edits(sentence: str, src: Source) -> list[Edit]:
    """A wrong article: another number in a cross-reference, a wrong attribution, or a cross-reference as source."""
    out = []
    for m in _ARTICLE.finditer(sentence):
        wrong = _absent_article(src, int(number_value(m.group(1)) or 0))
        out.append(Edit("article", _replace(sentence, m.start(1), m.end(1), int_to_cn(wrong)), f"{m.group(0)} → 第{int_to_cn(wrong)}条"))
    wrong = _absent_article(src, src.article)
    out.append(Edit("article", f"根据{src.law}第{int_to_cn(wrong)}条，{sentence}", f"第{int_to_cn(src.article)}条 → 第{int_to_cn(wrong)}条"))
    for m in _ARTICLE.finditer(src.text):
        n = int(number_value(m.group(1)) or 0)
        if n != src.article and m.group(0) not in sentence:
            out.append(Edit("article", f"根据{src.law}{m.group(0)}，{sentence}", f"本条 → 它引用的{m.group(0)}"))
            break
    return out


def paragraphs(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("（"))


_ITEM_LINE = re.compile(r"^（([一二三四五六七八九十]+)）(.{4,40}?)[；。]?$", re.M)


def item_statements(src: Source) -> list[tuple[int, str]]:
    """(item number, item text) for an article's enumerated items (（一）法人解散；)."""
    out = []
    for m in _ITEM_LINE.finditer(src.text):
        if "，" not in m.group(2) and "：" not in m.group(2):
            out.append((int(number_value(m.group(1)) or 0), m.group(2)))
    return out


def item_statement(src: Source, content: str, number: int) -> str:
    return f"{src.law}第{int_to_cn(src.article)}条第（{int_to_cn(number)}）项规定的是{content}"


def clause_edits(sentence: str, src: Source) -> list[Edit]:
    """A 款 the article does not have; an item number the content is not under."""
    n = paragraphs(src.text)
    article = f"{src.law}第{int_to_cn(src.article)}条"
    out = [Edit("clause", f"{article}第{int_to_cn(n + 1)}款规定，{sentence}", f"{n} 款的条文 → 第{int_to_cn(n + 1)}款")]
    items = item_statements(src)
    numbers = [k for k, _c in items]
    for k, content in items[:2]:
        for wrong in [*[x for x in numbers if x != k][:1], max(numbers) + 1]:
            out.append(Edit("clause", item_statement(src, content, wrong), f"第（{int_to_cn(k)}）项 → 第（{int_to_cn(wrong)}）项"))
    return out


def law_edits(sentence: str, src: Source) -> list[Edit]:
    others = [law for law in src.other_laws if law.strip("《》") not in src.text]
    if not others:
        return []
    other = others[src.article % len(others)]
    out = [Edit("law", f"根据{other}第{int_to_cn(src.article)}条，{sentence}", f"{src.law} → {other}")]
    if "本法" in sentence:
        out.append(Edit("law", sentence.replace("本法", other, 1), f"本法 → {other}"))
    return out


UNFAITHFUL = (number_edits, role_edits, modality_edits, negation_edits, article_edits, clause_edits, law_edits)


# --- faithful: the same facts, said differently ---------------------------------------------------

ROLE_SYNONYMS = {"经营者": "商家", "生产者": "生产商", "被侵权人": "受害人", "使用者": "用户", "销售者": "销售商", "侵权人": "加害人"}
MODALITY_SYNONYMS = {"应当": "必须", "可以": "有权"}
_CONDITION = re.compile(r"^([^，；]{6,40}?)的，(.{6,})$")
_ITEM_BEFORE = set("的为对以止括即有在是将把从向")  # what may precede the first item of an enumeration
_ITEM_AFTER = set("等和及或以的")  # and follow its last
_KEEP = re.compile(r"[不未没无非禁须应可权倍元日天年月%]")  # a clause holding these is not dropped: that would change a fact


def reordered(sentence: str, src: Source) -> list[Edit]:
    out = []
    m = _CONDITION.match(sentence)
    if m:
        out.append(Edit("reordered", f"{m.group(2)}，如果{m.group(1)}", "条件从句移到句末"))
    for segment in re.finditer(r"[^，；：（）“”]+", sentence):
        parts = segment.group(0).split("、")
        inner = parts[1:-1]
        if len(parts) < 3 or not all(2 <= len(p) <= 4 for p in inner):
            continue
        first, last = parts[0][-len(inner[0]) :], parts[-1][: len(inner[-1])]  # items are about as long as each other
        before, after = parts[0][: -len(inner[0])], parts[-1][len(inner[-1]) :]
        if not before or before[-1] not in _ITEM_BEFORE or after and after[0] not in _ITEM_AFTER:
            continue  # the first or last item is not cleanly delimited (合同不生效、无效、被撤销或者终止)
        items = [first, *inner, last]
        if len(set(items)) == len(items):
            start = segment.start() + len(parts[0]) - len(first)
            end = segment.start() + len(segment.group(0)) - len(parts[-1]) + len(last)
            out.append(Edit("reordered", _replace(sentence, start, end, "、".join(reversed(items))), "列举倒序"))
    return out


def synonyms(sentence: str, src: Source) -> list[Edit]:
    out = []
    ids = sorted(ROLE_OF[w] for _s, _e, w in _roles(sentence))
    for start, end, word in _roles(sentence):
        text = _replace(sentence, start, end, ROLE_SYNONYMS.get(word, word))
        if word in ROLE_SYNONYMS and sorted(ROLE_OF[w] for _s, _e, w in _roles(text)) == ids:  # not 生产经营者 → 生产商家
            out.append(Edit("synonyms", text, f"{word} → {ROLE_SYNONYMS[word]}"))
    for m in _MODALITY.finditer(sentence):
        if m.group(0) in MODALITY_SYNONYMS:
            new = MODALITY_SYNONYMS[m.group(0)]
            out.append(Edit("synonyms", _replace(sentence, m.start(), m.end(), new), f"{m.group(0)} → {new}"))
    for m, unit in _quantities(sentence):
        value = number_value(m.group(2))
        if value and not m.group(2).isdigit() and unit != "%":
            unit = "天" if m.group(3) == "日" else m.group(3)
            out.append(Edit("synonyms", _replace(sentence, m.start(), m.end(), f"{_render(value, False)}{unit}"), f"{m.group(0)} → 阿拉伯数字"))
    return out


def shortened(sentence: str, src: Source) -> list[Edit]:
    out = []
    clauses = sentence.split("，")
    if len(clauses) >= 3 and not _KEEP.search(clauses[1]) and not clauses[1].endswith("的"):  # never a condition
        out.append(Edit("shortened", "，".join(clauses[:1] + clauses[2:]), f"删去“{clauses[1]}”"))
    for m in re.finditer(r"或者[^，；。、的]{1,6}(?=的，|，|的$|$)", sentence):
        if _KEEP.search(m.group(0)):
            continue  # 或者依法不得撤销: dropping a negated alternative garbles the rest
        out.append(Edit("shortened", _replace(sentence, m.start(), m.end(), ""), f"删去“{m.group(0)}”"))
    for m in re.finditer(r"（[^（）]{2,30}）", sentence):
        out.append(Edit("shortened", _replace(sentence, m.start(), m.end(), ""), "删去括注"))
    return out


def attributed(sentence: str, src: Source) -> list[Edit]:
    out = [Edit("named source", f"根据{src.law}第{int_to_cn(src.article)}条，{sentence}", "加上正确的法律和条号")]
    if paragraphs(src.text) >= 2 and sentence in src.text.splitlines()[-1]:
        k = int_to_cn(paragraphs(src.text))
        out.append(Edit("named source", f"{src.law}第{int_to_cn(src.article)}条第{k}款规定，{sentence}", "加上正确的款"))
    for k, content in item_statements(src)[:1]:
        out.append(Edit("named source", item_statement(src, content, k), "正确的项"))
    return out


def paraphrased(sentence: str, src: Source) -> list[Edit]:
    """Two faithful edits at once, as a model would write: a reordered or shortened sentence with a synonym."""
    out = []
    for first in (*reordered(sentence, src), *shortened(sentence, src)):
        for second in synonyms(first.text, src)[:1]:
            out.append(Edit("paraphrased", second.text, f"{first.change}；{second.change}"))
    return out


FAITHFUL = (reordered, synonyms, shortened, attributed, paraphrased)
