"""Retrieval ablations on a dataset: which retrieval choices actually help, measured.

``python -m evals.ablation --dataset evals/datasets/dev.jsonl`` prints hit@k and
MRR for each variant (no answering, so it runs in seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

from app.pipeline import build_pipeline
from app.retrieve import HybridRetriever, RetrievalConfig
from evals.dataset import load_dataset
from evals.metrics import hit_at_k, reciprocal_rank
from ingest.settings import Settings

ANSWERABLE = ("in_scope", "multi_hop", "false_premise", "injection")

VARIANTS: dict[str, tuple[str, RetrievalConfig]] = {
    "hybrid (default)": ("hybrid", RetrievalConfig()),
    "hybrid + query expansion": ("hybrid", replace(RetrievalConfig(), expand=True)),
    "hybrid, no named-statute bonus": ("hybrid", replace(RetrievalConfig(), named_statute_bonus=0.0)),
    "hybrid, rrf_k=20": ("hybrid", replace(RetrievalConfig(), rrf_k=20)),
    "dense only": ("dense", RetrievalConfig()),
    "bm25 only": ("bm25", RetrievalConfig()),
    "bm25 only + query expansion": ("bm25", replace(RetrievalConfig(), expand=True)),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.ablation")
    parser.add_argument("--dataset", default="evals/datasets/dev.jsonl")
    args = parser.parse_args(argv)
    cases = [c for c in load_dataset(args.dataset) if c.category in ANSWERABLE and c.gold]
    pipeline = build_pipeline(Settings.from_env())
    print(f"{len(cases)} answerable cases from {args.dataset}")
    print(f"{'variant':34} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR':>6}")
    for name, (mode, config) in VARIANTS.items():
        retriever = HybridRetriever(pipeline.index, mode=mode, config=config)
        rows = [[r.chunk for r in retriever.retrieve(c.question, 10)] for c in cases]
        h1, h5, h10, mrr = _scores(rows, cases)
        print(f"{name:34} {h1:6.3f} {h5:6.3f} {h10:6.3f} {mrr:6.3f}")
    return 0


def _scores(rows, cases):  # noqa: ANN001, ANN202
    n = len(cases)
    hits = [sum(hit_at_k(r, c.gold, k) or 0 for r, c in zip(rows, cases, strict=True)) / n for k in (1, 5, 10)]
    mrr = sum(reciprocal_rank(r, c.gold) or 0 for r, c in zip(rows, cases, strict=True)) / n
    return (*hits, mrr)


if __name__ == "__main__":
    raise SystemExit(main())
