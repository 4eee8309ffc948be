"""Changed-fact check: does a statement keep the facts of the passages it cites?

Term overlap (``grounding.check_sentence``) passes "…的十倍。[1]" against a passage that says 三倍 and
"销售者应当承担侵权责任。[2]" against one that says 生产者: all the other words are there.  This
module compares the facts themselves, normalised (3倍 == 三倍, 15天 == 十五日, 商家 == 经营者; the
tables are in ``app/fact_lexicon.py``), in two ways:

1. present — every number (with its unit and limit), role, modality, 款/项, article and law the
   statement states is found in its cited passages; a law must be the cited passage's own (its
   title or locator) or be named in its text; an article must be a cited passage's own article or
   one it mentions; no word is negated on one side only (承担 vs 不承担 everywhere);
2. same predicate — each clause of the statement is aligned with the passage clauses that say the
   same thing (``app/fact_align.py``); where those state a fact of the same kind, the statement
   must agree: roles in the same order (a subject the passage leaves out is taken from the clause
   before), no modality class more often than there, the same numbers of that unit, the same 项,
   a cross-referenced article only where the passage makes that reference, no word negated on one
   side only.  Equally well aligned windows are alternatives: agreeing with one of them is enough.

Faithful paraphrases pass: clauses reordered, synonyms, sentences shortened, two passages combined.
What it cannot see: a sentence restructured so a role moves from object to subject
(应当按照消费者的要求赔偿 → 消费者可以要求赔偿) is reported as a changed role and modality.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.fact_align import CLAUSE, PassageModel, Window, align_statement, content, passage_model
from app.fact_extract import Facts, article_key, extract, negated_at
from app.fact_lexicon import NEGATORS, ROLE_WORDS, role_supported

_MARKER = re.compile(r"\[(\d{1,3})\]")
_CJK = re.compile(r"[\u4e00-\u9fff]{2}")
_ARTICLE_PARA = re.compile(
    r"第\s*([0-9零〇一二两三四五六七八九十百千]+)\s*条(?:之([一二三四五六七八九十]+))?第[一二三四五六七八九十\d]+款$"
)


@dataclass(frozen=True, slots=True)
class Passage:
    """A cited passage: its text and a label naming its document (title, locator), "" when unknown."""

    text: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class FactProblem:
    """One fact of a statement its cited passages do not back.

    ``kind`` is number, role, modality, negation, article, clause or law; ``fact`` is the fact as the
    statement writes it; ``detail`` says what the passage has instead, for logs and reviewers.
    """

    kind: str
    fact: str
    detail: str


def as_passage(obj: Any) -> Passage:
    """A ``Passage`` from a str, Passage, Citation (quote), Chunk (text) or Retrieved (chunk)."""
    if isinstance(obj, Passage):
        return obj
    if isinstance(obj, str):
        return Passage(obj)
    chunk = getattr(obj, "chunk", obj)
    text = getattr(chunk, "quote", None) or chunk.text
    return Passage(text, f"{getattr(chunk, 'doc_title', '')} {getattr(chunk, 'locator', '')}".strip())


def changed_facts(statement: str, cited: Sequence[Any]) -> tuple[FactProblem, ...]:
    """The facts of ``statement`` that the passages it cites do not back (empty: none changed).

    ``statement`` may keep its [n] markers; ``cited`` holds only the passages it cites, as str,
    ``Passage``, ``Citation``, ``Chunk`` or ``Retrieved``.  Pass sources whenever known: a law named
    by the statement (《民法典》) can only be matched against the passage's title or its text.
    """
    claim = _MARKER.sub("", statement).strip()
    models = [passage_model(p.text, p.source) for p in map(as_passage, cited)]
    if not claim or not models:
        return ()
    problems = _present(claim, models)
    clauses = CLAUSE.findall(claim)
    for clause, windows in zip(clauses, align_statement(clauses, models), strict=True):
        problems += _same_predicate(clause, windows, models)
    return tuple(dict.fromkeys(problems))


# --- 1. every fact is present somewhere in the cited passages -------------------------------------


def _present(claim: str, models: list[PassageModel]) -> list[FactProblem]:
    facts = extract(claim)
    out = []
    numbers = [n for m in models for n in m.facts.numbers]
    for n in facts.numbers:
        if not any(n.matches(p) for p in numbers):
            have = "、".join(dict.fromkeys(p.text for p in numbers if p.unit == n.unit)) or "无"
            out.append(FactProblem("number", n.text, f"引文中没有 {n.text}（同类数字：{have}）"))
    roles = {r for m in models for r, _w in m.facts.roles}
    out += [FactProblem("role", w, f"引文中没有 {w}") for r, w in facts.roles if not role_supported(r, roles)]
    modal = {c for m in models for c, _w in m.facts.modalities}
    out += [
        FactProblem("modality", w, f"引文中没有“{w}”这类情态") for c, w in facts.modalities if c not in modal
    ]
    laws = set().union(*(m.laws for m in models))
    out += [
        FactProblem("law", w, f"所引条文不属于、也未提及《{w}》") for doc, w in facts.laws if doc not in laws
    ]
    for key, written in facts.articles:
        if not any(key in m.own or key in {k for k, _ in m.facts.articles} for m in models):
            out.append(FactProblem("article", written, f"所引条文不是、也未提到{written}"))
    items = {i for m in models for i, _w in m.facts.items}
    out += [FactProblem("clause", w, f"引文中没有 {w}") for i, w in facts.items if i not in items]
    for k, w in facts.paras:
        article = _ARTICLE_PARA.search(claim[: claim.find(w) + len(w)])
        named = [m for m in models if article and _article_key(article) in m.own]
        if (
            named
            and not any(k <= m.paragraphs for m in named)
            or not named
            and not any(k <= m.paragraphs or k in {p for p, _ in m.facts.paras} for m in models)
        ):  # 第三十三条第三款 of a two-款 article, even if the text cites another article's 第三款
            out.append(FactProblem("clause", w, f"所引条文没有{w}"))
    return out + _polarity(claim, "\n".join(m.text for m in models), "引文", exact=False)


def _article_key(m: re.Match) -> tuple[int, int] | None:
    return article_key(m.group(1), m.group(2))


def _polarity(claim: str, passage: str, where: str, *, exact: bool) -> list[FactProblem]:
    """Words negated in the claim but not in the passage, or the other way round.

    Over whole passages a word must be negated everywhere on one side and nowhere on the other;
    within an aligned window (``exact``) the counts must also agree when both say it equally often
    (应当先履行…未履行 vs 应当先未履行…未履行).
    """
    out = []
    terms = {t[1:] if t[0] in NEGATORS and len(t) > 1 else t for t in content(claim)}  # 未履行 -> 履行
    terms |= {
        w for w in (*_negated_words(claim), *_negated_words(passage)) if w in claim
    }  # 中尽到 vs 中未尽到
    for term in sorted(t for t in terms if t and t[0] not in NEGATORS):  # 经 too: 未经权利人许可
        mine = sorted(
            negated_at(claim, m.start(), length=len(term)) for m in re.finditer(re.escape(term), claim)
        )
        theirs = sorted(
            negated_at(passage, m.start(), length=len(term)) for m in re.finditer(re.escape(term), passage)
        )
        flipped = len(set(mine)) == len(set(theirs)) == 1 and mine[0] != theirs[0]
        if flipped or exact and len(mine) == len(theirs) and mine != theirs:
            said = "否定" if mine[-1] else "肯定"
            out.append(FactProblem("negation", term, f"陈述{said}了“{term}”，{where}相反"))
    return out


def _negated_words(text: str) -> set[str]:
    """The two characters after each plain negator (未尽到 -> 尽到), whatever the tokenizer made of them;
    not those inside a fact (不得, 不足五百元) or a word that only looks negated (无论, 没收)."""
    masked = extract(text).masked
    return {
        text[q + 1 : q + 3]
        for q, ch in enumerate(text)
        if ch in NEGATORS
        and masked[q] == ch
        and negated_at(text, q + 1, length=2)
        and _CJK.fullmatch(text[q + 1 : q + 3])
    }


# --- 2. each clause agrees with the passage clauses that state the same predicate -----------------


def _same_predicate(clause: str, windows: list[Window], models: list[PassageModel]) -> list[FactProblem]:
    """A clause against its aligned windows: fine if it agrees, on every fact, with one of them."""
    facts = extract(clause)
    own = set().union(*(m.own for m in models))
    found = [
        [p for fact in _checkable(facts) for p in _disagreement(fact, facts, w, own)]
        + _polarity(clause, w.text, "引文此处", exact=True)
        for w in windows
    ]
    return [] if not found or any(not f for f in found) else min(found, key=len)


def _checkable(facts: Facts) -> list[tuple[str, Any]]:
    return [
        *([("roles", None)] if facts.roles else []),
        *(("modality", m) for m in facts.modalities),
        *(("number", n) for n in facts.numbers),
        *(("item", i) for i in facts.items),
        *(("article", a) for a in facts.articles),
    ]


def _disagreement(
    fact: tuple[str, Any], facts: Facts, w: Window, own: set[tuple[int, int]]
) -> list[FactProblem]:
    kind, value = fact
    window = w.facts
    if kind == "roles":  # in order within one passage clause; a clause merging several may reorder them
        theirs, mine = w.roles(), [r for r, _w in facts.roles]
        agree = _in_order(mine, theirs) if w.i == w.j else all(role_supported(r, set(theirs)) for r in mine)
        if theirs and not agree:
            said = "、".join(x for _r, x in window.roles) or "、".join(ROLE_WORDS[r][0] for r in theirs)
            return [FactProblem("role", "、".join(x for _r, x in facts.roles), f"引文此处的主体是 {said}")]
    elif (
        kind == "modality"
    ):  # as many of each class as the clause states: 不得将其列入…禁止…清单 is not 可以…禁止…
        theirs = Counter(c for c, _w in window.modalities)
        if theirs and Counter(c for c, _w in facts.modalities)[value[0]] > theirs[value[0]]:
            return [
                FactProblem(
                    "modality", value[1], f"引文此处是“{'、'.join(x for _c, x in window.modalities)}”"
                )
            ]
    elif kind == "number":
        same_unit = [p for p in window.numbers if p.unit == value.unit]
        if same_unit and not any(value.matches(p) for p in same_unit):
            return [FactProblem("number", value.text, f"引文此处是 {'、'.join(p.text for p in same_unit)}")]
    elif kind == "item":
        if window.items and value[0] not in {i for i, _ in window.items}:
            return [FactProblem("clause", value[1], "引文此处是 " + "、".join(x for _i, x in window.items))]
    elif value[0] not in own and value[0] not in {k for k, _ in extract(w.sentences).articles}:
        return [FactProblem("article", value[1], f"{value[1]} 不是所引条文，引文此处也未提到它")]
    return []


def _in_order(mine: list[str], theirs: list[str]) -> bool:
    """Is ``mine`` a subsequence of ``theirs`` (each role the same as, or wider than, the passage's)?"""
    it = iter(theirs)
    return all(any(role_supported(r, {t}) for t in it) for r in mine)
