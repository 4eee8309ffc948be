"""``legalqa eval``: score systems on a dataset, same cases in the same run, and write a report.

Systems: ``ours`` (hybrid retrieval), ``dense``, ``bm25`` (the same pipeline with
one ranker) and ``naive`` (``evals.baseline``: LangChain splitter + Chroma over
the raw files).  All four go through ``Pipeline.ask``, so the abstention rule,
the answerer and the warning are identical; only retrieval differs.

Each system answers with the configured ``top_k`` passages (what users get);
retrieval metrics are computed on a separate top ``--k`` list from the same
retriever (the query embedding is reused, so this costs one ranking, and the
latency reported is the ``ask`` alone).

Exit codes: 0 all thresholds met, 3 some threshold not met, 1 bad input
(dataset, thresholds, index), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.dataset import CATEGORIES, EvalCase, load_dataset
from evals.scoring import (
    METRIC_KEYS,
    check_thresholds,
    instruction_markers,
    load_thresholds,
    ratios_to,
    read_corpus_texts,
    score_case,
    summarize,
)
from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT, Settings

SYSTEMS = ("ours", "dense", "bm25", "naive")
MODE = {"ours": "hybrid", "dense": "dense", "bm25": "bm25", "naive": "naive"}
THRESHOLD_EXIT = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="legalqa eval",
        description="在评测集上比较检索与回答系统（ours / dense / bm25 / naive），输出 cases.jsonl、summary.json、report.md 和图表。",
    )
    p.add_argument("--dataset", required=True, help="JSONL dataset (format: evals/dataset.py)")
    p.add_argument("--answerer", choices=("extractive", "llm"), default=None, help="default: LEGALQA_ANSWERER")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--out", default=None, help="output folder (default evals/results/<dataset>-<timestamp>)")
    p.add_argument("--thresholds", default=None, help="TOML thresholds; exit 3 naming each one not met")
    p.add_argument("--k", type=int, default=10, help="retrieval depth scored (hit/recall@1,5,10, MRR)")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument("--judge", action="store_true", help="LLM judge for expected_points/must_not (needs LEGALQA_LLM)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_systems(text: str) -> list[str]:
    systems = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise LegalQAError(f"--systems: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(SYSTEMS)}")
    return list(dict.fromkeys(systems))


def run(_command: str, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.k < 1:
        raise LegalQAError("--k must be at least 1")
    settings = Settings.from_env()
    dataset = Path(args.dataset)
    if not dataset.is_file():
        raise LegalQAError(f"dataset {dataset} does not exist")
    cases = load_dataset(dataset)
    if args.limit is not None:
        cases = cases[: max(args.limit, 0)]
    if not cases:
        raise LegalQAError(f"{dataset}: no cases to evaluate")
    systems = parse_systems(args.systems)
    thresholds = load_thresholds(args.thresholds) if args.thresholds else None
    answerer = args.answerer or settings.answerer
    if answerer == "llm" and not settings.llm:
        raise LegalQAError("--answerer llm needs LEGALQA_LLM (provider:model)")
    if args.judge and not settings.llm:
        raise LegalQAError("--judge needs LEGALQA_LLM (provider:model)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out) if args.out else PROJECT_ROOT / "evals" / "results" / f"{dataset.stem}-{stamp}"

    result = evaluate(
        settings, cases, systems=systems, k=args.k, answerer=answerer, judge=args.judge,
        progress=not args.quiet,
    )
    result.metadata.update(dataset_metadata(dataset, len(cases), args, argv))
    failures = check_thresholds(result.summary, thresholds) if thresholds is not None else []
    result.metadata["thresholds"] = {"file": args.thresholds, "failures": failures}

    from evals.report import write_outputs

    write_outputs(out_dir, result, plots=not args.no_plots)
    print_summary(result, out_dir)
    if failures:
        print(f"legalqa eval: {len(failures)} threshold(s) not met ({args.thresholds}):", file=sys.stderr)
        for f in failures:
            print(f"  FAIL {f}", file=sys.stderr)
        return THRESHOLD_EXIT
    if thresholds is not None:
        print(f"all thresholds in {args.thresholds} met")
    return 0


# --- the run ------------------------------------------------------------------------


class QueryMemo:
    """Embedder proxy: ``reuse`` serves a query's vector from the last fresh call.

    ``ask`` always embeds (honest latency per system); the extra top-k retrieval
    for the metrics right after it reuses that vector.
    """

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.version = embedder.version
        self.reuse = False
        self._memo: dict[str, list[float]] = {}

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        if self.reuse and text in self._memo:
            return self._memo[text]
        vec = self.inner.embed_query(text)
        if len(self._memo) > 64:
            self._memo.clear()
        self._memo[text] = vec
        return vec


@dataclass
class EvalResult:
    systems: list[str]
    cases: list[EvalCase]
    rows: list[dict[str, Any]]  # one per case × system
    summary: dict[str, dict[str, Any]]
    by_category: dict[str, dict[str, dict[str, Any]]]
    ratio_to_naive: dict[str, dict[str, float | None]]
    metadata: dict[str, Any] = field(default_factory=dict)


def evaluate(
    settings: Settings,
    cases: Sequence[EvalCase],
    *,
    systems: Sequence[str] = SYSTEMS,
    k: int = 10,
    answerer: str | None = None,
    judge: bool = False,
    progress: bool = False,
    embedder: Any = None,
) -> EvalResult:
    from app.pipeline import build_pipeline
    from ingest.embed import make_embedder

    started = time.perf_counter()
    timings: dict[str, float] = {}
    memo = QueryMemo(embedder or make_embedder(settings.embedder))
    pipeline = build_pipeline(settings, embedder=memo)
    timings["open_index_s"] = time.perf_counter() - started
    try:
        return _evaluate(settings, pipeline, memo, cases, systems, k, answerer or settings.answerer, judge, progress,
                         started, timings)
    finally:
        pipeline.index.close()


def _evaluate(settings: Settings, pipeline: Any, memo: QueryMemo, cases: Sequence[EvalCase], systems: Sequence[str],
              k: int, answerer: str, judge: bool, progress: bool, started: float,
              timings: dict[str, float]) -> EvalResult:
    from app.llm import SYSTEM_PROMPT
    from app.pipeline import Pipeline
    from app.render import to_text

    if answerer not in pipeline.answerers:
        raise LegalQAError(f"answerer {answerer!r} is not configured; available: {', '.join(pipeline.answerers)}")

    the_judge = _make_judge(settings) if judge else None
    baseline = None
    pipelines = {s: pipeline for s in systems if s != "naive"}
    if "naive" in systems:
        t0 = time.perf_counter()
        baseline = _build_baseline(settings, memo, progress)
        timings["build_baseline_s"] = time.perf_counter() - t0
        pipelines["naive"] = Pipeline(
            settings=settings, index=pipeline.index, answerers=pipeline.answerers, retrievers={"naive": baseline}
        )

    index_chunks = pipeline.index.chunks
    files = {c.file for c in index_chunks.values()} | ({c.file for c in baseline.chunks.values()} if baseline else set())
    corpus_texts = read_corpus_texts(settings.corpus_dir, files)
    chunk_article = {cid: c.article for cid, c in index_chunks.items()}
    known_articles = {c.article for c in index_chunks.values() if c.article}
    markers = instruction_markers(SYSTEM_PROMPT, corpus_texts.values())

    rows: list[dict[str, Any]] = []
    bar = _progress_bar(len(cases) * len(systems), progress)
    try:
        for system in systems:  # warm-up (lazy imports, first model call): not timed, not scored
            pipelines[system].ask(cases[0].question, answerer="extractive", mode=MODE[system])
        t_cases = time.perf_counter()
        for case in cases:
            for system in systems:
                p, mode = pipelines[system], MODE[system]
                memo.reuse = False
                answer = p.ask(case.question, answerer=answerer, mode=mode)
                memo.reuse = True
                try:
                    retrieved = p.retrieve(_cleaned(case.question, settings), k, mode)[:k]
                except Exception as exc:  # scored as an empty ranking; the answer records the error too
                    retrieved = []
                    answer_error = f"retrieve failed: {exc}"
                else:
                    answer_error = ""
                memo.reuse = False
                rendered = to_text(answer)
                metrics = score_case(
                    case, answer, retrieved, k=k, rendered=rendered, corpus_texts=corpus_texts,
                    chunk_article=chunk_article, known_articles=known_articles, markers=markers,
                )
                if the_judge is not None:
                    metrics.update(the_judge.judge(case, answer.text if not answer.abstained else ""))
                rows.append(_row(case, system, answer, retrieved, metrics, answer_error))
                bar.update(1)
    finally:
        bar.close()
        if baseline is not None:
            baseline.close()
    timings["cases_s"] = time.perf_counter() - t_cases
    timings["total_s"] = time.perf_counter() - started

    summary = {s: summarize([r["metrics"] for r in rows if r["system"] == s]) for s in systems}
    by_category = {
        cat: {s: summarize([r["metrics"] for r in rows if r["system"] == s and r["category"] == cat]) for s in systems}
        for cat in CATEGORIES
        if any(c.category == cat for c in cases)
    }
    metadata = run_metadata(settings, memo.inner, pipeline, baseline, answerer, k, timings)
    metadata["instruction_markers"] = markers
    return EvalResult(list(systems), list(cases), rows, summary, by_category, ratios_to(summary, "naive"), metadata)


def _cleaned(question: str, settings: Settings) -> str:
    """The question exactly as ``Pipeline.ask`` retrieves with it."""
    from app.question import QuestionError, clean_question

    try:
        return clean_question(question, settings.max_question_chars)
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


def _row(case: EvalCase, system: str, answer: Any, retrieved: Sequence[Any], metrics: dict[str, Any], err: str) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "category": case.category,
        "persona": case.persona,
        "system": system,
        "question": case.question,
        "retrieved": [
            {"rank": i, "chunk_id": r.chunk.chunk_id, "doc_id": r.chunk.doc_id, "locator": r.chunk.locator,
             "score": round(float(r.fused_score), 6), "via": r.via}
            for i, r in enumerate(retrieved, start=1)
        ],
        "answer": {
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
            "evidence": answer.evidence,
            "timings": answer.timings,
        },
        "metrics": metrics,
    }


# --- metadata and console -----------------------------------------------------------


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dataset_metadata(path: Path, n: int, args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "dataset": {"path": str(path), "sha256": sha256_file(path), "cases": n, "limit": args.limit},
        "command": "legalqa eval " + " ".join(argv),
    }


def git_commit() -> dict[str, Any]:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if head.returncode != 0:
        return {"commit": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "platform": platform.platform(),
        "python": platform.python_version(), "load_average_at_end": load,
    }


def run_metadata(settings: Settings, embedder: Any, pipeline: Any, baseline: Any, answerer: str, k: int,
                 timings: dict[str, float]) -> dict[str, Any]:
    info = pipeline.index.info
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "answerer": answerer,
        "k": k,
        "answer_top_k": settings.top_k,
        "embedder": {"name": embedder.name, "version": embedder.version, "dimension": embedder.dimension},
        "settings": {env: value for env, value, _help in settings.describe()},
        "index": {"generation": info.generation, "chunks": info.chunks, "built_at": info.built_at,
                  "fingerprint": info.fingerprint},
        "baseline": baseline.describe() if baseline is not None else None,
        "git": git_commit(),
        "machine": machine(),
        "timings_s": {k2: round(v, 2) for k2, v in timings.items()},
    }


def print_summary(result: EvalResult, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from evals.report import metric_cells
    from evals.scoring import LABELS

    console = Console()
    table = Table(title=f"legalqa eval — {len(result.cases)} cases")
    table.add_column("metric")
    for s in result.systems:
        table.add_column(s, justify="right")
    for key in METRIC_KEYS:
        cells = metric_cells(result, key)
        if cells is not None:
            table.add_row(LABELS[key], *cells)
    console.print(table)
    console.print(f"report: {out_dir / 'report.md'}  ({result.metadata['timings_s'].get('total_s', 0):.0f} s)")
