"""Default answerer, offline and LLM-free: quotes the sentences that answer the question.

Every statement it outputs is a verbatim slice of the passage it cites, so
grounding holds by construction; the work is in choosing and ordering them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from app.draft import Draft
from app.sentences import Unit, split_units
from app.types import Citation, Retrieved, Statement
from ingest.tokenize import STOPWORDS as TOKENIZER_STOPWORDS
from ingest.tokenize import tokenize

# Beyond the tokenizer's question words: words too common in both questions and law to pick a sentence.
STOPWORDS = TOKENIZER_STOPWORDS | frozenset(
    "是 可以 能 会 要 需要 有 没有 在 对 把 被 让 给 又 请 问 一下 情况 问题 规定 条 第 中 上 下 其 该 为 以 于 而 如果 但是 因为 所以 时候 "
    "我们 你们 他们".split()
)


def question_terms(question: str) -> dict[str, float]:
    """Content terms of the question with a length-based weight (longer terms are more specific)."""
    return dict(_question_terms(question))


@lru_cache(maxsize=1024)
def _question_terms(question: str) -> tuple[tuple[str, float], ...]:
    """Cached: retrieval, abstention and the answerer all ask for the same question's terms."""
    terms: dict[str, float] = {}
    for tok in tokenize(question):
        if tok in STOPWORDS or len(tok) < 2 and not tok.isalnum():
            continue
        terms[tok] = max(terms.get(tok, 0.0), 1.0 + math.log(len(tok)))
    return tuple(terms.items())


def unit_score(unit: Unit, terms: dict[str, float]) -> float:
    """Question-term weight found in the unit, damped by length; a question in the source answers nothing."""
    if not terms:
        return 0.0
    hit = sum(w for t, w in terms.items() if t in unit.text)
    score = hit / math.sqrt(max(len(unit.text), 20) / 20)
    return 0.0 if unit.text.rstrip("”’」』）)").endswith(("？", "?")) else score


class ExtractiveAnswerer:
    """Implements ``Answerer``: a lead sentence, then supporting provisions grouped by source."""

    name = "extractive"

    def __init__(self, *, max_statements: int = 6, per_passage: int = 2, passages: int = 5) -> None:
        self.max_statements = max_statements
        self.per_passage = per_passage
        self.passages = passages

    def answer(self, question: str, passages: Sequence[Retrieved]) -> Draft:
        terms = question_terms(question)
        primary = [p for p in passages if p.via != "xref"][: self.passages]
        pool = primary + [p for p in passages if p.via == "xref"]
        chosen = self._choose(pool, terms)
        return compose(chosen, pool)

    def _choose(self, pool: Sequence[Retrieved], terms: dict[str, float]) -> list[tuple[Unit, Retrieved]]:
        scored: list[tuple[float, int, Unit, Retrieved]] = []
        for rank, r in enumerate(pool):
            prior = 1.0 / (1.0 + 0.35 * rank) * (0.6 if r.via == "xref" else 1.0)
            for pos, unit in enumerate(split_units(r.chunk)):
                relevance = unit_score(unit, terms)
                if r.via == "lookup":  # the user named this article: it leads, quoted from its start
                    relevance += 10.0 / (1 + pos)
                if relevance > 0:
                    scored.append((relevance * prior + 0.05 * prior / (1 + pos), rank, unit, r))
        scored.sort(key=lambda s: (-s[0], s[1], s[2].start))
        if not scored:
            return []
        best = scored[0][0]
        chosen: list[tuple[Unit, Retrieved]] = []
        per_chunk: dict[str, int] = {}
        for score, _rank, unit, r in scored:
            if len(chosen) >= self.max_statements or score < 0.25 * best:
                break
            cid = r.chunk.chunk_id
            if per_chunk.get(cid, 0) >= self.per_passage:
                continue
            per_chunk[cid] = per_chunk.get(cid, 0) + 1
            chosen.append((unit, r))
        return chosen


# The paper's own reference markers ([8]) are shown with full-width brackets in the answer
# text so they are never mistaken for our citation markers; statements keep the exact quote.
_SOURCE_MARKER = re.compile(r"\[(\d{1,3})\]")


def compose(chosen: list[tuple[Unit, Retrieved]], pool: Sequence[Retrieved]) -> Draft:
    """Lead first, then the rest grouped by document in retrieval order; number citations by first use."""
    if not chosen:
        return Draft(text="", statements=(), citations=(), abstained=True)
    lead, rest = chosen[0], chosen[1:]
    doc_order = {r.chunk.doc_id: i for i, r in reversed(list(enumerate(pool)))}
    rest.sort(key=lambda ur: (doc_order.get(ur[1].chunk.doc_id, 99), ur[1].chunk.ordinal, ur[0].start))
    numbers: dict[str, int] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    by_id: dict[str, Retrieved] = {}
    statements: list[Statement] = []
    lines: list[str] = []
    current_doc = None
    for i, (unit, r) in enumerate([lead, *rest]):
        cid = r.chunk.chunk_id
        n = numbers.setdefault(cid, len(numbers) + 1)
        by_id[cid] = r
        spans.setdefault(cid, []).append((unit.start, unit.end))
        statements.append(Statement(unit.text, (n,)))
        shown = _SOURCE_MARKER.sub(r"［\1］", unit.text)
        if i == 0:
            lines += [f"{shown}[{n}]", ""]
            continue
        if r.chunk.doc_id != current_doc:
            current_doc = r.chunk.doc_id
            lines.append(f"**{_source_heading(r)}**")
        lines.append(f"- {shown}[{n}]")
    citations = tuple(
        replace(Citation.from_chunk(n, by_id[cid].chunk, by_id[cid].fused_score), spans=tuple(sorted(spans[cid])))
        for cid, n in sorted(numbers.items(), key=lambda kv: kv[1])
    )
    return Draft(text="\n".join(lines).strip(), statements=tuple(statements), citations=citations)


def _source_heading(r: Retrieved) -> str:
    title = re.sub(r"(第.+条.*|\s.*)$", "", r.chunk.locator) or r.chunk.doc_title
    return f"{title} 的相关规定" if r.chunk.kind == "statute" else f"{title}"
