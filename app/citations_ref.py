"""Statute and agreement references in free text, as retrieval and verification use them.

Statute article references (民法典第1202条, 消保法55条, 第一千二百零二条) and the one
``ArticleRef`` type live in ``ingest.articles``; they are re-exported here for the modules
that import them from ``app``.  What is ``app``'s own: references to an agreement's parts
("用户协议第八部分第6条", "云帆协议3.2"), the bundled agreement's and those legal staff added
(:class:`AgreementNames`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.articles import STATUTE_ALIASES, ArticleRef, StatuteNames, to_int
from ingest.types import Chunk

__all__ = [
    "BUNDLED_AGREEMENT",
    "STATUTE_ALIASES",
    "AgreementNames",
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
BUNDLED_AGREEMENT = "agreement"  # the doc id of the agreement the corpus ships (智谱's)

# What follows an agreement's name in a reference to one of its parts, whichever agreement it is.  A clause:
# "第八部分第6条" / "八、责任限制第3条" / "第八条第三款"; in the agreement's own numbering: "8.3" / "八、3"; a whole
# section: "第八条" / "第八部分" / "八、" (its sections are 一、… and people call them 条), not when a clause
# number follows (then it is a clause).
_CLAUSE_AFTER = (  # what stands between the name and the section never names another agreement (…协议)
    rf"(?:(?!协议)[^，。？！\n]){{0,6}}?第?([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})(?:部分|章|节|、|条款|条)"
    rf"[^，。？！\n]{{0,8}}?第?([0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})(?:条|款|项)"
)
_NUMBERED_CLAUSE_AFTER = (
    rf"\s*(?:([0-9]{{1,2}})\s*[.．]|([{_CN_SECTION}]{{1,3}})、)\s*([0-9]{{1,2}})(?![0-9.．])"
)
_SECTION_AFTER = (
    rf"(?:的|里的?|中的?)?"
    rf"\s*(?:第\s*([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})\s*(?:条|部分|章|节)|([{_CN_SECTION}]{{1,3}})、(?!\s*[0-9]))"
    rf"(?![^，。？！\n]{{0,8}}?第?\s*(?:[0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})\s*(?:条|款|项))"
)


@dataclass(frozen=True, slots=True)
class _ReferenceForms:
    """The three reference forms after one way of naming an agreement (``clause_name`` before a clause,
    ``section_name`` before a whole section: the bundled agreement's clause references count any 协议)."""

    clause: re.Pattern[str]
    numbered: re.Pattern[str]
    section: re.Pattern[str]

    @classmethod
    def after(cls, clause_name: str, section_name: str, flags: int = 0) -> _ReferenceForms:
        return cls(
            re.compile(clause_name + _CLAUSE_AFTER, flags),
            re.compile(clause_name + _NUMBERED_CLAUSE_AFTER, flags),
            re.compile(section_name + _SECTION_AFTER, flags),
        )


# The bundled agreement: a clause of any 协议 ("用户协议第八部分第6条", "用户协议8.3"); a whole section of the
# 用户协议/服务协议 ("用户协议第八条", "服务协议第八部分", "智谱协议八、"), not someone's own terms ("我们的用户协议第八条").
_BUNDLED_FORMS = _ReferenceForms.after(
    "协议",
    r"(?<!我们的)(?<!我们)(?<!我的)(?<!公司的)(?<!自己的)(?:智谱|开放平台|平台)?(?:的)?(?:用户|服务)协议",
)
# a name that says no more than "an agreement" names none of the user-added ones (it is the bundled one's)
_GENERIC_NAME = re.compile(r"(?:用户|服务)?协议")


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


# whose agreement: "我们公司的用户协议第十五条", "我跟一家AI绘画公司签的服务协议第18条" are not Zhipu's
_SOMEONE_ELSES = re.compile(r"我们|我方|我的|我跟|公司|自己|某|一家|签的|他们|对方|商家|店铺")


def _zhipus(text: str, start: int) -> bool:
    """Whether the agreement named at ``start`` is the corpus's (not the asker's or a third party's)."""
    return not _SOMEONE_ELSES.search(text[max(0, start - 10) : start + 2])


class AgreementNames:
    """The corpus's agreements by name, and THE parser of references to their parts.

    The bundled agreement (``BUNDLED_AGREEMENT``) is named as people name it (用户协议, 服务协议, 智谱);
    each agreement legal staff added, by its title or short title, with or without 《》 (云帆协议,
    《云帆智算大模型服务协议》).  A reference after a user-added agreement's name is to that agreement's
    parts, never the bundled one's, though its name ends in 服务协议 as the bundled one's may.
    """

    def __init__(self, titles: dict[str, list[str]] | None = None) -> None:
        """``titles``: doc id → the titles of each agreement (its title and short title as citations show
        it); the bundled agreement's give its short title only, it is named by the common names."""
        self._shown = {doc_id: names[-1] for doc_id, names in (titles or {}).items() if names}
        names: dict[str, str] = {}
        for doc_id, doc_titles in (titles or {}).items():
            for title in doc_titles if doc_id != BUNDLED_AGREEMENT else ():
                bare = title.strip("《》 ")
                if len(bare) >= 2 and not _GENERIC_NAME.fullmatch(bare):
                    names[bare] = doc_id
        self.numbered_names = tuple(names)  # a number after one is the agreement's part, not a law's article
        self._names = {name.lower(): doc_id for name, doc_id in names.items()}
        self._forms: _ReferenceForms | None = None
        self._pattern: re.Pattern[str] | None = None
        if names:
            alternatives = "|".join(re.escape(n) for n in sorted(self._names, key=len, reverse=True))
            name = rf"《?(?P<name>{alternatives})》?"
            self._pattern = re.compile(name, re.IGNORECASE)
            self._forms = _ReferenceForms.after(name, name, re.IGNORECASE)

    @classmethod
    def of_chunks(cls, chunks: Iterable[Chunk]) -> AgreementNames:
        """The agreements among ``chunks`` by their titles (the document's, and the short one its locators
        open with: 《云帆协议》四、数据安全 第3条)."""
        titles: dict[str, list[str]] = {}
        for chunk in chunks:
            if chunk.kind == "agreement" and chunk.doc_id not in titles:
                titles[chunk.doc_id] = [chunk.doc_title, chunk.locator.split("》")[0] + "》"]
        return cls(titles)

    @property
    def documents(self) -> frozenset[str]:
        """The doc ids of the agreements known (the bundled one too, when it was given)."""
        return frozenset(self._shown)

    def title(self, doc_id: str) -> str:
        """The agreement's name as citations show it (《用户协议》, 《云帆协议》)."""
        return self._shown.get(doc_id, "《用户协议》" if doc_id == BUNDLED_AGREEMENT else doc_id)

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """Where ``text`` names a user-added agreement, and which: (start, end, doc id)."""
        if self._pattern is None:
            return []
        return [
            (m.start(), m.end(), self._names[m.group("name").lower()]) for m in self._pattern.finditer(text)
        ]

    def clause_refs(self, text: str) -> list[tuple[str, int, int]]:
        """(doc id, section, clause) for "用户协议第八部分第6条" / "云帆协议3.2" / "《云帆协议》三、2", in order."""
        found = [(pos, doc, *groups) for pos, doc, groups in self._matches(text, "clause")]
        found += [(pos, doc, m[0] or m[1], m[2]) for pos, doc, m in self._matches(text, "numbered")]
        out: list[tuple[str, int, int]] = []
        for _pos, doc, raw_section, raw_clause in sorted(found):
            section, clause = to_int(raw_section), to_int(raw_clause)
            if section and clause and (doc, section, clause) not in out:
                out.append((doc, section, clause))
        return out

    def section_refs(self, text: str) -> list[tuple[str, int]]:
        """(doc id, section) of an agreement's sections named whole: "用户协议第八条", "云帆协议第四部分"."""
        out: list[tuple[str, int]] = []
        for _pos, doc, (raw_a, raw_b) in sorted(self._matches(text, "section")):
            number = to_int(raw_a or raw_b)
            if number and (doc, number) not in out:
                out.append((doc, number))
        return out

    def _matches(self, text: str, form: str) -> list[tuple[int, str, tuple[str, ...]]]:
        """(position, doc id, the form's number groups) of every reference of ``form``: a user-added
        agreement's after its name; the bundled one's where its name is not the end of a user-added
        agreement's (云帆智算大模型服务协议) and not the asker's own terms."""
        found = []
        mine = self.mentions(text)
        for m in getattr(_BUNDLED_FORMS, form).finditer(text):
            if _zhipus(text, m.start()) and not any(s <= m.start() < e for s, e, _d in mine):
                found.append((m.start(), BUNDLED_AGREEMENT, m.groups()))
        if self._forms is not None:
            for m in getattr(self._forms, form).finditer(text):
                found.append((m.start(), self._names[m.group("name").lower()], m.groups()[1:]))
        return found


_BUNDLED_ONLY = AgreementNames()


def agreement_clause_refs(text: str) -> list[tuple[int, int]]:
    """(section, clause) pairs of the bundled agreement: "用户协议第八部分第6条" / "协议八、责任限制第3条" /
    "用户协议8.3" (:meth:`AgreementNames.clause_refs` knows the user-added agreements too)."""
    return [(section, clause) for _doc, section, clause in _BUNDLED_ONLY.clause_refs(text)]


def agreement_section_refs(text: str) -> list[int]:
    """Section numbers of the bundled agreement named whole: "用户协议第八条" → [8]."""
    return [section for _doc, section in _BUNDLED_ONLY.section_refs(text)]


def agreement_parts(chunk_ids: Iterable[str], doc_id: str = BUNDLED_AGREEMENT) -> frozenset[tuple[int, int]]:
    """(section, clause) of every chunk id of agreement ``doc_id`` (agreement/8/3 → (8, 3), agreement/11 and
    agreement/1/p2 → (11, 0) and (1, 0)): what "用户协议第八部分第3条" can name."""
    parts: set[tuple[int, int]] = set()
    for chunk_id in chunk_ids:
        bits = chunk_id.split("/")
        if bits[0] != doc_id or len(bits) < 2 or not bits[1].isdigit():
            continue
        parts.add((int(bits[1]), 0))
        if len(bits) >= 3 and bits[2].isdigit():
            parts.add((int(bits[1]), int(bits[2])))
    return frozenset(parts)


def section_count(parts: Iterable[tuple[int, int]]) -> int:
    """How many sections an agreement has (its last section's number; 0 for none), from its ``agreement_parts``:
    what its missing-part note says ("《用户协议》共十三部分") and the verifier checks."""
    return max((section for section, _clause in parts), default=0)


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
