"""Find the passage clauses that state the same predicate as a clause of a statement.

A statement clause (生产者应当承担侵权责任) is compared with a *window*: a run of consecutive
clauses of a cited passage.  Its facts are masked out first, so the window is chosen by what the
clause is about (承担 侵权 责任), never by what it claims (生产者, 应当) — otherwise a changed fact
would simply pull the alignment towards another clause that happens to say it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.fact_extract import Facts, extract, own_articles, paragraph_count
from app.fact_lexicon import ALIGN_FUNCTION_CHARS, ALIGN_STOPWORDS, NEGATORS
from app.terms import question_terms

CLAUSE = re.compile(r"[^，,；;。！？!?：:\n]+")
_SENTENCE_END = set("；;。！？!?\n")
ALIGN_MIN = 0.6  # share of a clause's content weight a window must hold to state "the same predicate"
MAX_WINDOW = 6  # clauses


@dataclass(frozen=True, slots=True)
class Clause:
    start: int
    end: int
    sentence: int  # index of the sentence (。；！？ or line) it belongs to
    facts: Facts


@dataclass(frozen=True, slots=True)
class PassageModel:
    """A cited passage read once: its facts, clauses, laws (title and text) and own article."""

    text: str
    facts: Facts
    clauses: tuple[Clause, ...]
    laws: frozenset[str]
    own: frozenset[tuple[int, int]]
    paragraphs: int  # 款 when it is a statute article, else 0


@dataclass(frozen=True, slots=True)
class Window:
    model: PassageModel
    i: int  # first clause
    j: int  # last clause

    @property
    def text(self) -> str:
        return self.model.text[self.model.clauses[self.i].start : self.model.clauses[self.j].end]

    @property
    def facts(self) -> Facts:
        return extract(self.text)

    @property
    def sentences(self) -> str:
        """The whole sentences the window touches: where a cross-reference it relies on may sit."""
        first, last = self.model.clauses[self.i].sentence, self.model.clauses[self.j].sentence
        inside = [c for c in self.model.clauses if first <= c.sentence <= last]
        return self.model.text[inside[0].start : inside[-1].end]

    def roles(self) -> list[str]:
        """Roles in order, led by the subject the window leaves out (也可以向销售者请求赔偿 ← 被侵权人)."""
        clauses = self.model.clauses
        roles = [r for c in clauses[self.i : self.j + 1] for r, _w in c.facts.roles]
        if not clauses[self.i].facts.subject:
            for c in reversed(clauses[: self.i]):
                if c.sentence != clauses[self.i].sentence:
                    break
                if c.facts.subject:
                    return [c.facts.subject, *roles]
        return roles


@lru_cache(maxsize=4096)
def passage_model(text: str, source: str) -> PassageModel:
    clauses, sentence = [], 0
    for m in CLAUSE.finditer(text):
        clauses.append(Clause(m.start(), m.end(), sentence, extract(m.group(0))))
        sentence += text[m.end() : m.end() + 1] in _SENTENCE_END
    laws = {doc for doc, _ in extract(text).laws} | {doc for doc, _ in extract(source).laws}
    own = own_articles(text, source)
    return PassageModel(
        text,
        extract(text),
        tuple(clauses),
        frozenset(laws),
        frozenset(own),
        paragraph_count(text) if own else 0,
    )


def content(text: str) -> dict[str, float]:
    """Content words with the facts masked out: what a clause is about, not what it claims."""
    return {
        t: w
        for t, w in question_terms(extract(text).masked).items()
        if (len(t) >= 2 or t not in ALIGN_FUNCTION_CHARS) and t not in ALIGN_STOPWORDS and not t.isdigit()
    }


def align_statement(clauses: list[str], models: list[PassageModel]) -> list[list[Window]]:
    """The windows each clause of a statement is aligned with (several when they tie).

    Where several windows hold a clause's content equally well, they are narrowed down in turn by:

    1. not being the only window of another clause — each clause has its own counterpart (run
       twice, so a clause narrowed to one window claims it too); a clause with nothing to align by
       itself borrows its neighbours' windows and neither claims nor loses them;
    2. how many of the clause's two neighbours can sit in the window's sentence — a statement
       follows its passage sentence by sentence whatever the order of its clauses, and one joining
       two passages has a neighbour in each;
    3. the clause's own wording (character bigrams, facts and negators masked): 出卖人解除合同的,
       not …或者解除合同;
    4. the least content of the window's own beyond the clause's: 债务人不履行债务, not
       当事人约定由第三人向债权人履行债务;
    5. stating the same kinds of fact, whatever their values (a modality, amounts in 元):
       承揽人可以将其承揽的辅助工作交由第三人完成, not …交由第三人完成的;
    6. as 2, for the clauses one further out, and so on: 处十五日以下拘留 belongs to the sentence its
       违反本法第二十九条规定 opened.

    Remaining ties are kept: the clause then only has to agree with one of them.  Negation never
    steers, so a clause that drops the 未 of 未经被代理人同意 still finds that clause and the drop is
    seen.  A clause with nothing to align by itself (根据第五十五条, 可以根据情况) takes the window of
    the clauses after it, grown by one clause towards it.
    """
    direct = [align(clause, models) for clause in clauses]
    own = [found or _borrowed(clauses, k, models) for k, found in enumerate(direct)]
    sentences = [{_sentence(w) for w in found} for found in own]
    out = own
    for _ in range(
        2
    ):  # a clause narrowed to one window in the first pass takes it from the others in the second
        taken = {_span(f[0]): n for n, f in enumerate(out) if len(f) == 1 and direct[n]}
        out = [
            _narrow(
                clauses,
                k,
                [w for w in found if not direct[k] or taken.get(_span(w), k) == k] or found,
                sentences,
            )
            if len(found) > 1
            else found
            for k, found in enumerate(own)
        ]
    return out


def _span(w: Window) -> tuple[int, int, int]:
    return id(w.model), w.i, w.j


def _narrow(
    clauses: list[str], k: int, found: list[Window], sentences: list[set[tuple[int, int]]]
) -> list[Window]:
    mine, terms, kinds = _bigrams(clauses[k]), content(clauses[k]), _kinds(extract(clauses[k]))

    def key(w: Window) -> tuple[float, ...]:
        votes = [
            sum(_sentence(w) in sentences[n] for n in (k - d, k + d) if 0 <= n < len(clauses))
            for d in range(1, len(clauses))
        ]
        wording = round(len(mine & _bigrams(w.text)) / (len(mine) or 1), 6)
        return (
            votes[0] if votes else 0,
            wording,
            _precision(terms, w),
            len(kinds & _kinds(w.facts)),
            *votes[1:],
        )

    return _keep_best(found, key)


def _kinds(facts: Facts) -> set[str]:
    """The kinds of fact a text states, not their values: a modality, amounts in 元, a role …"""
    kinds = {f"number:{n.unit}" for n in facts.numbers}
    return kinds | {k for k, present in (("modality", facts.modalities), ("role", facts.roles)) if present}


def _precision(terms: dict[str, float], w: Window) -> float:
    """Share of the window's content the clause also has (negators aside: 未经 counts as 经)."""
    own = content(w.text)
    total = sum(own.values())
    mine = {t.lstrip(NEGATORS) or t for t in terms}
    return (
        round(sum(v for t, v in own.items() if (t.lstrip(NEGATORS) or t) in mine) / total, 6)
        if total
        else 0.0
    )


def _sentence(w: Window) -> tuple[int, int]:
    return id(w.model), w.model.clauses[w.i].sentence


def _borrowed(clauses: list[str], k: int, models: list[PassageModel]) -> list[Window]:
    """Windows for a clause with nothing to align by itself: its neighbours', grown towards it."""
    found: list[Window] = []
    lo, hi = k, k
    while not found and (lo > 0 or hi < len(clauses) - 1):
        lo, hi = (lo, hi + 1) if hi < len(clauses) - 1 else (lo - 1, hi)
        found = [_reach(w, left=hi > k) for w in align("，".join(clauses[lo : hi + 1]), models)]
    return found


def _reach(w: Window, *, left: bool) -> Window:
    """``w`` grown by one clause towards the statement clause it was found for (within its sentence):
    the clause's own counterpart sits next to what its neighbours aligned with (应当根据情况)."""
    clauses = w.model.clauses
    if left and w.i > 0 and clauses[w.i - 1].sentence == clauses[w.i].sentence:
        return Window(w.model, w.i - 1, w.j)
    if not left and w.j + 1 < len(clauses) and clauses[w.j + 1].sentence == clauses[w.j].sentence:
        return Window(w.model, w.i, w.j + 1)
    return w


def align(text: str, models: list[PassageModel]) -> list[Window]:
    """The shortest windows holding the most of ``text``'s content weight (at least ALIGN_MIN).

    A window stays inside one sentence of its passage, so the next sentence's 不承担 is never
    taken for this one's 承担.
    """
    terms = content(text)
    total = sum(terms.values())
    if not total:
        return []
    scored = []
    for m in models:
        found = [{t for t in terms if t in c.facts.masked} for c in m.clauses]  # 侵权 is not in 被侵权人
        for i in range(len(found)):
            have: set[str] = set()
            for j in range(i, min(i + MAX_WINDOW, len(found))):
                if m.clauses[j].sentence != m.clauses[i].sentence:
                    break
                have |= found[j]
                scored.append((sum(terms[t] for t in have) / total, Window(m, i, j)))
    best = max((s for s, _w in scored), default=0.0)
    if best < ALIGN_MIN:
        return []
    return _keep_best([w for s, w in scored if s >= best - 1e-9], lambda w: w.i - w.j)


def _keep_best(windows: list[Window], score: Callable[[Window], Any]) -> list[Window]:
    """The windows with the highest score (floats are compared to six decimals)."""
    scores = [round(s, 6) if isinstance(s, float) else s for s in map(score, windows)]
    best = max(scores, default=0)
    return [w for w, s in zip(windows, scores, strict=True) if s == best]


@lru_cache(maxsize=65536)
def _bigrams(text: str) -> frozenset[str]:
    bare = re.sub(rf"[\s，,；;。：:、（）()“”{NEGATORS}]+", "", extract(text).masked)
    return frozenset(bare[i : i + 2] for i in range(len(bare) - 1))
