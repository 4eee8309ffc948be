"""Statute and agreement references in free text, as retrieval and verification use them.

Statute article references (民法典第1202条, 消保法55条, 第一千二百零二条) and the one
``ArticleRef`` type live in ``ingest.articles``; they are re-exported here for the modules
that import them from ``app``.  What is ``app``'s own: the user agreement's clause
references ("用户协议第八部分第6条").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ingest.articles import STATUTE_ALIASES, ArticleRef, StatuteNames, to_int

__all__ = [
    "STATUTE_ALIASES",
    "ArticleRef",
    "StatuteNames",
    "agreement_clause_refs",
    "agreement_parts",
    "agreement_section_refs",
    "named_source_kinds",
    "section_path",
]

_CN_SECTION = "一二三四五六七八九十"
_NUM = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
_AGREEMENT_CLAUSE = re.compile(
    rf"协议[^，。？！\n]{{0,6}}?第?([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})(?:部分|章|节|、|条款|条)[^，。？！\n]{{0,8}}?第?([0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})(?:条|款|项)"
)


# How people name the corpus's non-statute sources.  The agreement is named by its party (智谱) or
# as "this agreement": a bare 用户协议/服务协议 is as often the asker's own terms as Zhipu's.
_SOURCE_KIND_NAMES = {
    "paper": re.compile(r"论文"),
    "blog": re.compile(r"博客|博文"),
    "agreement": re.compile(r"智谱|开放平台|(?:该|这份|此|本)(?:用户|服务)?协议"),
}


def named_source_kinds(text: str) -> frozenset[str]:
    """The kinds of source document ("paper", "blog", "agreement") the text names: what it asks about."""
    return frozenset(kind for kind, pattern in _SOURCE_KIND_NAMES.items() if pattern.search(text))


# "用户协议8.3", "用户协议八、3": the section and the clause as the agreement numbers them
_AGREEMENT_CLAUSE_SHORT = re.compile(
    rf"协议\s*(?:([0-9]{{1,2}})\s*[.．]|([{_CN_SECTION}]{{1,3}})、)\s*([0-9]{{1,2}})(?![0-9.．])"
)


def agreement_clause_refs(text: str) -> list[tuple[int, int]]:
    """(section, clause) pairs for "用户协议第八部分第6条" / "协议八、责任限制第3条" / "用户协议8.3"."""
    found = [(m.start(), m.group(1), m.group(2)) for m in _AGREEMENT_CLAUSE.finditer(text)]
    found += [(m.start(), m.group(1) or m.group(2), m.group(3)) for m in _AGREEMENT_CLAUSE_SHORT.finditer(text)]
    out = []
    for pos, raw_section, raw_clause in sorted(found):
        section, clause = to_int(raw_section), to_int(raw_clause)
        if section and clause and (section, clause) not in out and _zhipus(text, pos):
            out.append((section, clause))
    return out


# A whole section of the agreement: "用户协议第八条" / "服务协议第八部分" / "智谱协议八、": the agreement numbers
# its sections 一、… 十三、 and people call them 条.  Not someone's own terms ("我们的用户协议第八条"), and
# not a clause reference (第八部分第6条 is :func:`agreement_clause_refs`'s).
_AGREEMENT_SECTION = re.compile(
    rf"(?<!我们的)(?<!我们)(?<!我的)(?<!公司的)(?<!自己的)(?:智谱|开放平台|平台)?(?:的)?(?:用户|服务)协议(?:的|里的?|中的?)?"
    rf"\s*(?:第\s*([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})\s*(?:条|部分|章|节)|([{_CN_SECTION}]{{1,3}})、(?!\s*[0-9]))"
    rf"(?![^，。？！\n]{{0,8}}?第?\s*(?:[0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})\s*(?:条|款|项))"
)


# whose agreement: "我们公司的用户协议第十五条", "我跟一家AI绘画公司签的服务协议第18条" are not Zhipu's
_SOMEONE_ELSES = re.compile(r"我们|我方|我的|我跟|公司|自己|某|一家|签的|他们|对方|商家|店铺")


def _zhipus(text: str, start: int) -> bool:
    """Whether the agreement named at ``start`` is the corpus's (not the asker's or a third party's)."""
    return not _SOMEONE_ELSES.search(text[max(0, start - 10) : start + 2])


def agreement_section_refs(text: str) -> list[int]:
    """Section numbers of the agreement named whole: "用户协议第八条" → [8]."""
    out = []
    for m in _AGREEMENT_SECTION.finditer(text):
        if not _zhipus(text, m.start()):
            continue
        number = to_int(m.group(1) or m.group(2))
        if number and number not in out:
            out.append(number)
    return out


def agreement_parts(chunk_ids: Iterable[str]) -> frozenset[tuple[int, int]]:
    """(section, clause) of every agreement chunk id (agreement/8/3 → (8, 3), agreement/11 and
    agreement/1/p2 → (11, 0) and (1, 0)): what "用户协议第八部分第3条" can name."""
    parts: set[tuple[int, int]] = set()
    for chunk_id in chunk_ids:
        bits = chunk_id.split("/")
        if bits[0] != "agreement" or len(bits) < 2 or not bits[1].isdigit():
            continue
        parts.add((int(bits[1]), 0))
        if len(bits) >= 3 and bits[2].isdigit():
            parts.add((int(bits[1]), int(bits[2])))
    return frozenset(parts)


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
            number = to_int(raw.strip("(（)） "))
        if not number:
            return None
        parts.append(number)
        pos = m.end()
    return tuple(parts) if 0 < len(parts) <= 4 else None
