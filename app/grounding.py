"""Check each sentence of a generated answer against the passages it cites.

A sentence is kept when every [n] it cites was given to the model and it is
either a verbatim quote of a cited passage or its content terms and any
article numbers it names are found in those passages.  Everything else is
unsupported: removed, or kept and marked when the caller asks to mark.

Term overlap alone cannot see a flipped meaning, so a paraphrase must also keep
the passages' polarity (a negation the passage does not have, or dropping one it
has, makes the sentence unsupported) and may not add markup (HTML tags, links,
chat-template tokens) that its passages do not contain.  Nor can it see a changed fact (三倍 →
十倍, 生产者 → 销售者, 应当 → 可以, the wrong law or article): every paraphrase also goes through
``facts.changed_facts``, the same check the verifier can call on a saved answer.

Passages may be plain strings or carry their source (``facts.Passage``, or the ``Retrieved`` /
``Chunk`` / ``Citation`` itself), which the law check needs to tell 《民法典》 from 《消费者权益保护法》.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.answer import Statement
from app.fact_extract import extract, negated_at
from app.facts import Passage, as_passage, changed_facts
from app.terms import question_terms
from ingest.articles import find_article_refs

_MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE = re.compile(r"[^。！？；!?\n]*(?:[。！？；!?]+(?:\s*\[\d{1,3}\])*|\n|$)")
_MARKUP = re.compile(r"<[^<>\n]{0,200}>|<\||\|>|\]\(|javascript:", re.IGNORECASE)
_NEGATORS = "不无未没非免禁勿"
_NUMERAL = re.compile(r"[0-9零〇一二两三四五六七八九十百千万亿]")
_REFERENCE = re.compile(
    r"《[^《》\n]{1,40}》|第[0-9零〇一二两三四五六七八九十百千]+[条款项]|第?[（(][一二三四五六七八九十]+[）)]项?"
)
_FUNCTION_CHARS = set("的或和及与等")
_ATTRIBUTION = re.compile(
    r"(?:根据|依照|依据|按照)(?=[《\s]*□)"
)  # 根据《民法典》第七百一十一条 vs the passage's 未根据
_PUNCT = re.compile(r"[\s，。、；：！？,.;:!?“”‘’\"'（）()《》【】\[\]-]+")


@dataclass(frozen=True, slots=True)
class GroundingResult:
    statements: tuple[Statement, ...]
    unsupported: int


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip() and _MARKER.sub("", s).strip(" -*#：:")]


def check_sentence(
    sentence: str, passages: Sequence[str | Passage | object], *, min_overlap: float = 0.6
) -> tuple[str, tuple[int, ...]]:
    """Return (support, cited numbers); support is quote, verified or unsupported."""
    numbers = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(sentence)))
    if not numbers or any(n < 1 or n > len(passages) for n in numbers):
        return "unsupported", numbers
    claim = _MARKER.sub("", sentence).strip().lstrip("-*• ").strip()
    sources = [as_passage(passages[n - 1]) for n in numbers]
    cited = "\n".join(p.text for p in sources)
    bare = re.sub(r"\s+", "", claim.replace("**", ""))
    if bare and bare in re.sub(r"\s+", "", cited.replace("**", "")):
        return "quote", numbers
    if any(a not in _normalize_articles(cited) for a in _normalize_articles_list(claim)):
        return "unsupported", numbers
    if _MARKUP.search(claim) or not _same_polarity(claim, cited):
        return "unsupported", numbers
    terms = question_terms(_REFERENCE.sub("，", claim))  # the law and article it names are the fact check's
    if not terms:
        return "unsupported", numbers
    found = sum(w for t, w in terms.items() if t in cited) / sum(terms.values())
    if found < min_overlap or changed_facts(claim, sources):
        return "unsupported", numbers
    return "verified", numbers


def _same_polarity(claim: str, cited: str) -> bool:
    """No negation the passages lack (不应当 from 应当), none dropped (承担 from 不承担).

    Facts are blanked first (□): a negator inside one (不得, 无须, 不足五百元) or followed by one
    (免除商家责任 for 免除经营者责任) is the changed-fact check's to judge, with synonyms and numerals
    normalised.  A negator before an enumeration negates every item (不得制作、使用、公开).
    """
    blanked, p = _blank_facts(claim), _PUNCT.sub("", cited)
    for m in re.finditer(f"[{_NEGATORS}]", blanked):
        phrase = re.split(r"[□\s，。、；：！？,.;:!?“”（）()]", blanked[m.start() : m.start() + 3])[0]
        phrase = _NUMERAL.split(phrase)[0]  # 不受2年 vs 不受二年: the number is the fact check's
        phrase = phrase[:2] if phrase[2:] in _FUNCTION_CHARS else phrase  # 无效的 for 无效或者
        if len(phrase) >= 2 and phrase not in p:  # the negator with what it negates, within its clause
            return False
    for term in question_terms(blanked):
        if len(term) < 2 or term[0] in _NEGATORS or term not in p:
            continue
        in_passage = [
            negated_at(cited, m.start(), _NEGATORS, length=len(term))
            for m in re.finditer(re.escape(term), cited)
        ]
        in_claim = [
            negated_at(claim, m.start(), _NEGATORS, length=len(term))
            for m in re.finditer(re.escape(term), blanked)
        ]
        if in_passage and all(in_passage) and not all(in_claim):
            return False
    return True


def _blank_facts(claim: str) -> str:
    """The claim with its facts, and the words attributing it (根据《民法典》…), as □."""
    masked = extract(claim).masked
    blanked = "".join("□" if m == "，" and ch != "，" else ch for m, ch in zip(masked, claim, strict=True))
    return _ATTRIBUTION.sub(lambda m: "□" * len(m.group(0)), blanked)


def ground(text: str, passages: Sequence[str | Passage | object]) -> GroundingResult:
    statements = []
    unsupported = 0
    for sentence in split_sentences(text):
        support, numbers = check_sentence(sentence, passages)
        unsupported += support == "unsupported"
        statements.append(Statement(_MARKER.sub("", sentence).strip(), numbers, support))
    return GroundingResult(tuple(statements), unsupported)


def _normalize_articles_list(text: str) -> list[tuple[int, int]]:
    """The (number, 之 suffix) of every 第X条 in ``text``: 第1202条 and 第一千二百零二条 compare equal."""
    return [(ref.number, ref.suffix) for ref in find_article_refs(text) if ref.number]


def _normalize_articles(text: str) -> set[tuple[int, int]]:
    return set(_normalize_articles_list(text))
