"""Find statute article references in free text: 民法典第1202条, 消保法55条, 第一千二百零二条.

Used twice: on questions (direct lookup) and on retrieved passages
(cross-references such as the paper's 《民法典》第 1202 条).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.numerals import cn_to_int

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
        "生成式人工智能暂行办法",
        "生成式AI办法",
        "生成式办法",
        "生成式人工智能办法",
        "AIGC办法",
    ),
    "deep-synthesis-provisions": ("互联网信息服务深度合成管理规定", "深度合成管理规定", "深度合成规定"),
    "algorithm-recommendation-provisions": (
        "互联网信息服务算法推荐管理规定",
        "算法推荐管理规定",
        "算法推荐规定",
    ),
    "ai-content-labeling-measures": ("人工智能生成合成内容标识办法", "标识办法"),
}

_OTHER_DOCUMENT = re.compile(r"协议|论文|博客|文章|条款")
_NUM = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
_ARTICLE = re.compile(rf"第\s*({_NUM})\s*条(?:之([一二三四五六七八九十]+))?|({_NUM})\s*条")


@dataclass(frozen=True, slots=True)
class ArticleRef:
    doc_id: str | None  # None: no statute named near the number
    number: int
    suffix: int = 0  # 之一 → 1
    position: int = 0


class StatuteNames:
    """Maps statute names (full, short, colloquial) to doc ids."""

    def __init__(self, titles: dict[str, list[str]]) -> None:
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

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), self._names[m.group(0).lower()]) for m in self._pattern.finditer(text)]

    def article_refs(self, text: str, *, default_doc: str | None = None) -> list[ArticleRef]:
        """Article numbers in ``text``, each tied to the nearest statute named before it."""
        mentions = self.mentions(text)
        refs: list[ArticleRef] = []
        for m in _ARTICLE.finditer(text):
            raw = m.group(1) or m.group(3)
            bare_form = m.group(3) is not None
            number = _to_int(raw)
            if number is None or number <= 0:
                continue
            before = [doc for start, end, doc in mentions if end <= m.start()]
            if not before and _OTHER_DOCUMENT.search(text[: m.start()]):
                continue  # "用户协议第八部分第6条" is a clause of the agreement, not a statute article
            if bare_form and not (before and _adjacent(text, mentions, m.start())):
                continue  # "55条" alone is too ambiguous; "消保法55条" is fine
            doc = before[-1] if before else default_doc
            if doc is None and mentions:
                doc = mentions[0][2]
            suffix = cn_to_int(m.group(2)) if m.group(2) else 0
            refs.append(ArticleRef(doc, number, suffix, m.start()))
        return refs


_CN_SECTION = "一二三四五六七八九十"
_AGREEMENT_CLAUSE = re.compile(
    rf"协议[^，。？！\n]{{0,6}}?第?([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})(?:部分|章|节|、|条款)[^，。？！\n]{{0,8}}?第?([0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})(?:条|款|项)"
)


def agreement_clause_refs(text: str) -> list[tuple[int, int]]:
    """(section, clause) pairs for "用户协议第八部分第6条" / "协议八、责任限制第3条"."""
    out = []
    for m in _AGREEMENT_CLAUSE.finditer(text):
        section, clause = _to_int(m.group(1)), _to_int(m.group(2))
        if section and clause:
            out.append((section, clause))
    return out


_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_PATH_PART = re.compile(
    rf"\s*第?\s*({_NUM}|[{_CIRCLED}]|[(（]\s*[0-9]{{1,2}}\s*[)）])\s*(?:部分|条|款|项|章|节|、|[.．])?"
)


def section_path(text: str) -> tuple[int, ...] | None:
    """A numbered place in an agreement or a paper, as numbers from the outside in.

    "8.1" / "第八条第1款" / "八、1" → (8, 1); "8.3.2" / "第八部分第3条第②项" → (8, 3, 2);
    "4.2.2" → (4, 2, 2).  None unless the whole text is such a reference (at most four levels).
    """
    text, pos, parts = text.strip(), 0, []
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if not m or m.end() == pos:
            return None
        raw = m.group(1)
        if raw in _CIRCLED:
            number: int | None = _CIRCLED.index(raw) + 1
        else:
            number = _to_int(raw.strip("(（)） "))
        if not number:
            return None
        parts.append(number)
        pos = m.end()
    return tuple(parts) if 0 < len(parts) <= 4 else None


def _adjacent(text: str, mentions: list[tuple[int, int, str]], pos: int) -> bool:
    ends = [end for _s, end, _d in mentions if end <= pos]
    return bool(ends) and len(text[max(ends) : pos].strip(" 　》的")) <= 1


def _to_int(raw: str) -> int | None:
    raw = raw.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if raw.isdigit():
        return int(raw)
    try:
        return cn_to_int(raw.replace("两", "二").replace("〇", "零"))
    except ValueError:
        return None
