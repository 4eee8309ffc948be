"""Abstention trade-off on a dataset: out-of-scope declined vs answerable wrongly declined.

``python -m evals.calibrate --dataset evals/datasets/dev.jsonl`` prints, for a
range of thresholds, both rates, so the default in ``app/abstain.py`` can be
chosen (and re-checked) from numbers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.abstain import assess, is_licence_procedure
from app.pipeline import build_pipeline
from evals.dataset import NEEDS_GOLD, load_dataset
from ingest.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate")
    parser.add_argument("--dataset", default="evals/datasets/dev.jsonl")
    args = parser.parse_args(argv)
    cases = load_dataset(args.dataset)
    pipeline = build_pipeline(Settings.from_env())
    rows = []
    for case in cases:
        query = pipeline.prepare(case.question).query
        results = pipeline.retrieve(query)
        ev = assess(query, results, threshold=1e-9, idf=pipeline.index.idf)
        rows.append((case, ev))
    off = [(c, e) for c, e in rows if c.category == "out_of_scope"]
    on = [(c, e) for c, e in rows if c.category in NEEDS_GOLD]
    print(f"{len(off)} out_of_scope, {len(on)} answerable cases (injection cases excluded)")
    print(f"{'threshold':>9} {'oos declined':>13} {'answerable declined':>20}")
    for t in [x / 100 for x in range(40, 76, 2)]:
        declined_off = sum(_declines(c, e, t) for c, e in off) / len(off)
        declined_on = sum(_declines(c, e, t) for c, e in on) / len(on)
        print(f"{t:9.2f} {declined_off:13.3f} {declined_on:20.3f}")
    print("\nper case (score, top_dense, coverage):")
    for c, e in sorted(rows, key=lambda r: r[1].score):
        print(f"  {e.score:.3f} {e.top_dense:.3f} {e.coverage:.3f} {'L' if e.named_article else ' '} {c.category:13} {c.id:18} {c.question[:40]}")
    return 0


def _declines(case, ev, threshold: float) -> bool:  # noqa: ANN001
    return not ev.named_article and (ev.score < threshold or is_licence_procedure(case.question))


if __name__ == "__main__":
    raise SystemExit(main())
