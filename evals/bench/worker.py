"""Benchmark jobs, each run in a fresh process (``python -m evals.bench.worker JOB SPEC OUT``).

A fresh process per measurement gives honest cold numbers and a clean peak RSS
(the parent reads the child's ``ru_maxrss`` from ``wait4``).  The same
functions run in-process for the fast smoke test (``--inprocess``).

Jobs (spec → result, both JSON objects):

* ``ingest``       — ``ingest.cli.ingest`` on (corpus_dir, data_dir, embedder): the IngestReport numbers.
* ``naive_build``  — ``evals.baseline.build_baseline`` with its embedding cache in data_dir.
* ``query``        — build the system (ours: ``build_pipeline``; naive: the baseline behind the same
  ``Pipeline.ask``), warm it up, then time retrieval and the full ``ask`` over the questions
  (``passes`` times each), plus the parts of our retrieval; RSS after all questions.
* ``first_answer`` — build the system and answer one question (the UI's pipeline load + first ask).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from ingest.settings import Settings


def settings_for(spec: dict[str, Any]) -> Settings:
    return Settings(
        corpus_dir=Path(spec["corpus_dir"]),
        data_dir=Path(spec["data_dir"]),
        embedder=spec["embedder"],
    )


def rss_mb() -> dict[str, float]:
    """Current RSS and this process' peak RSS so far, in MB."""
    import psutil

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"rss_mb": psutil.Process().memory_info().rss / 1e6, "peak_rss_mb": peak_kb * 1024 / 1e6}


def job_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    from ingest.cli import ingest

    settings = settings_for(spec)
    started = time.perf_counter()
    report = ingest(settings, rebuild=bool(spec.get("rebuild")), show_progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "chunks": report.chunks,
        "documents": report.documents,
        "chunks_embedded": report.chunks_embedded,
        "chunks_reused": report.chunks_reused,
        "embed_seconds": report.embed_seconds,
        "parse_seconds": report.parse_seconds,
        "build_seconds": report.seconds,
        "up_to_date": report.up_to_date,
        "changed": report.changed,
        "added": len(report.added),
        "index_mb": report.index_bytes / 1e6,
        **rss_mb(),
    }


def _baseline(spec: dict[str, Any], embedder: Any) -> Any:
    from evals.baseline import build_baseline

    data = Path(spec["data_dir"])
    work = data / "naive-work"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    return build_baseline(
        spec["corpus_dir"], embedder, cache_path=data / "baseline" / "embeddings.sqlite3", workdir=work
    )


def job_naive_build(spec: dict[str, Any]) -> dict[str, Any]:
    from ingest.embed import make_embedder

    embedder = make_embedder(spec["embedder"])
    started = time.perf_counter()
    baseline = _baseline(spec, embedder)
    seconds = time.perf_counter() - started
    try:
        return {
            "seconds": seconds,
            "chunks": len(baseline.chunks),
            "chunks_embedded": baseline.embedded,
            "chunks_reused": baseline.reused,
            **rss_mb(),
        }
    finally:
        baseline.close()


class TimedEmbedder:
    """Embedder proxy that records the time of every ``embed_query`` call (ms)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dimension, self.version = inner.name, inner.dimension, inner.version
        self.query_ms: list[float] = []

    def embed_documents(self, texts: Any) -> Any:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.embed_query(text)
        finally:
            self.query_ms.append((time.perf_counter() - started) * 1e3)


def _system(spec: dict[str, Any]) -> tuple[Any, Any, TimedEmbedder, Any]:
    """(pipeline, mode, embedder proxy, closer) for ``spec["system"]`` in ("ours", "naive")."""
    from app.pipeline import Pipeline, build_pipeline, make_answerers
    from ingest.embed import make_embedder

    settings = settings_for(spec)
    embedder = TimedEmbedder(make_embedder(spec["embedder"]))
    if spec["system"] == "ours":
        pipeline = build_pipeline(settings, embedder=embedder)
        return pipeline, "hybrid", embedder, pipeline.index.close
    baseline = _baseline(spec, embedder)
    pipeline = Pipeline(settings=settings, index=None, answerers=make_answerers(settings),  # type: ignore[arg-type]
                        retrievers={"naive": baseline})  # fmt: skip
    return pipeline, "naive", embedder, baseline.close


def job_first_answer(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    pipeline, mode, _embedder, close = _system(spec)
    built = time.perf_counter()
    try:
        answer = pipeline.ask(spec["question"], mode=mode)
        done = time.perf_counter()
        return {
            "build_s": built - started,
            "ask_s": done - built,
            "total_s": done - started,
            "abstained": answer.abstained,
            "error": answer.error,
            "citations": len(answer.citations),
            **rss_mb(),
        }
    finally:
        close()


def job_query(spec: dict[str, Any]) -> dict[str, Any]:
    questions: list[str] = spec["questions"]
    passes = max(1, int(spec.get("passes", 1)))
    started = time.perf_counter()
    pipeline, mode, embedder, close = _system(spec)
    try:
        build_s = time.perf_counter() - started
        k = pipeline.settings.top_k
        for q in questions[: int(spec.get("warmup", 10))]:  # model, HNSW segment, jieba, caches
            pipeline.ask(q, mode=mode)
        embedder.query_ms.clear()
        out: dict[str, Any] = {"build_s": build_s, "questions": len(questions), "passes": [], "mode": mode}
        gc.collect()
        for _ in range(passes):
            one: dict[str, Any] = {"loadavg_before": os.getloadavg()}
            for name, call in (
                ("retrieve", lambda q: pipeline.retrieve(q, k, mode)),
                ("ask", lambda q: pipeline.ask(q, mode=mode)),
            ):
                ms: list[float] = []
                cpu0 = time.process_time()
                for q in questions:
                    t0 = time.perf_counter()
                    result = call(q)
                    ms.append((time.perf_counter() - t0) * 1e3)
                    if name == "ask" and result.error:
                        out.setdefault("errors", []).append(result.error)
                one[name] = ms
                one[f"{name}_cpu_ms_per_q"] = (time.process_time() - cpu0) * 1e3 / max(1, len(questions))
            one["embed_query"] = list(embedder.query_ms)
            embedder.query_ms.clear()
            one["loadavg_after"] = os.getloadavg()
            out["passes"].append(one)
        if mode == "hybrid":
            out["parts"] = _parts(pipeline, embedder, questions, k)
        answers = [pipeline.ask(q, mode=mode) for q in questions[: min(len(questions), 50)]]
        out["abstained_of_50"] = sum(a.abstained for a in answers)
        out["chunks"] = len(pipeline.index.chunks) if mode == "hybrid" else len(pipeline.retrievers["naive"].chunks)
        gc.collect()
        out.update(rss_mb())
        return out
    finally:
        close()


def _parts(pipeline: Any, timed: TimedEmbedder, questions: list[str], k: int) -> dict[str, list[float]]:
    """Where our retrieval time goes: query embedding, vector search, BM25, and the rest (fusion, lookups, xrefs).
    ``timed``: the proxy ``_system`` built; the model itself is embedded, uncached and unrecorded (the
    index's embedder may wrap the proxy in turn, with the query adapter)."""
    index = pipeline.index
    n = max(pipeline.retriever("hybrid").config.candidates, k)
    parts: dict[str, list[float]] = {"embed_query": [], "vector_search": [], "bm25": [], "retrieve": []}
    for q in questions:
        t0 = time.perf_counter()
        vec = timed.inner.embed_query(q)
        t1 = time.perf_counter()
        index.vector_search(vec, n)
        t2 = time.perf_counter()
        index.bm25_search(q, n)
        t3 = time.perf_counter()
        pipeline.retrieve(q, k)
        t4 = time.perf_counter()
        parts["embed_query"].append((t1 - t0) * 1e3)
        parts["vector_search"].append((t2 - t1) * 1e3)
        parts["bm25"].append((t3 - t2) * 1e3)
        parts["retrieve"].append((t4 - t3) * 1e3)
    return parts


JOBS = {
    "ingest": job_ingest,
    "naive_build": job_naive_build,
    "query": job_query,
    "first_answer": job_first_answer,
}


def main(argv: list[str]) -> int:
    job, spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = JOBS[job](spec)
    Path(out_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
