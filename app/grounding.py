"""Check each sentence of a generated answer against the passages it cites.

A sentence is kept when every [n] it cites was given to the model and it is
either a verbatim quote of a cited passage or its content terms and any
article numbers it names are found in those passages.  Everything else is
unsupported: removed, or kept and marked when the caller asks to mark.

Term overlap alone cannot see a flipped meaning, so a paraphrase must also keep
the passages' polarity (a negation the passage does not have, or dropping one it
has, makes the sentence unsupported) and may not add markup (HTML tags, links,
chat-template tokens) that its passages do not contain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.extractive import question_terms
from app.types import Statement

_MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE = re.compile(r"[^。！？；!?\n]*(?:[。！？；!?]+(?:\s*\[\d{1,3}\])*|\n|$)")
_ARTICLE_NO = re.compile(r"第[0-9零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?")
_MARKUP = re.compile(r"<[^<>\n]{0,200}>|<\||\|>|\]\(|javascript:", re.IGNORECASE)
_NEGATORS = "不无未没非免禁勿"
_PUNCT = re.compile(r"[\s，。、；：！？,.;:!?“”‘’\"'（）()《》【】\[\]-]+")


@dataclass(frozen=True, slots=True)
class GroundingResult:
    statements: tuple[Statement, ...]
    unsupported: int


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip() and _MARKER.sub("", s).strip(" -*#：:")]


def check_sentence(sentence: str, passages: Sequence[str], *, min_overlap: float = 0.6) -> tuple[str, tuple[int, ...]]:
    """Return (support, cited numbers); support is quote, verified or unsupported."""
    numbers = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(sentence)))
    if not numbers or any(n < 1 or n > len(passages) for n in numbers):
        return "unsupported", numbers
    claim = _MARKER.sub("", sentence).strip().lstrip("-*• ").strip()
    cited = "\n".join(passages[n - 1] for n in numbers)
    bare = re.sub(r"\s+", "", claim.replace("**", ""))
    if bare and bare in re.sub(r"\s+", "", cited.replace("**", "")):
        return "quote", numbers
    if any(a not in _normalize_articles(cited) for a in _normalize_articles_list(claim)):
        return "unsupported", numbers
    if _MARKUP.search(claim) or not _same_polarity(claim, cited):
        return "unsupported", numbers
    terms = question_terms(claim)
    if not terms:
        return "unsupported", numbers
    found = sum(w for t, w in terms.items() if t in cited) / sum(terms.values())
    return ("verified" if found >= min_overlap else "unsupported"), numbers


def _negated(text: str, at: int) -> bool:
    return any(ch in _NEGATORS for ch in text[max(0, at - 2) : at])


def _same_polarity(claim: str, cited: str) -> bool:
    """No negation the passages lack (不应当 from 应当), none dropped (承担 from 不承担)."""
    c, p = _PUNCT.sub("", claim), _PUNCT.sub("", cited)
    for m in re.finditer(f"[{_NEGATORS}]", c):
        phrase = c[m.start() : m.start() + 3]
        if len(phrase) >= 2 and phrase not in p:  # the negator with what it negates
            return False
    for term in question_terms(claim):
        if len(term) < 2 or term[0] in _NEGATORS or term not in p:
            continue
        in_passage = [_negated(p, m.start()) for m in re.finditer(re.escape(term), p)]
        in_claim = [_negated(c, m.start()) for m in re.finditer(re.escape(term), c)]
        if all(in_passage) and not all(in_claim):
            return False
    return True


def ground(text: str, passages: Sequence[str]) -> GroundingResult:
    statements = []
    unsupported = 0
    for sentence in split_sentences(text):
        support, numbers = check_sentence(sentence, passages)
        unsupported += support == "unsupported"
        statements.append(Statement(_MARKER.sub("", sentence).strip(), numbers, support))
    return GroundingResult(tuple(statements), unsupported)


def _normalize_articles_list(text: str) -> list[str]:
    from app.citations_ref import _to_int

    out = []
    for m in _ARTICLE_NO.finditer(text):
        n = _to_int(m.group(0)[1 : m.group(0).index("条")])
        if n:
            out.append(f"{n}{m.group(0)[m.group(0).index('条') + 1 :]}")
    return out


def _normalize_articles(text: str) -> set[str]:
    return set(_normalize_articles_list(text))
