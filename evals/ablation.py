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
from evals.dataset import ANSWERABLE, load_dataset
from evals.expand import expand_query
from evals.metrics import hit_at_k, reciprocal_rank
from ingest.settings import Settings


class ExpandedRetriever(HybridRetriever):
    """BM25 searches the question plus statutory terms for its colloquial words (measured: it hurts)."""

    def lexical_query(self, question: str) -> str:
        return expand_query(question)


VARIANTS: dict[str, tuple[str, RetrievalConfig]] = {
    "hybrid (default, with the issue map)": ("hybrid", RetrievalConfig()),
    "hybrid, no issue map": ("hybrid", RetrievalConfig()),
    "hybrid + query expansion": ("hybrid", RetrievalConfig()),
    "hybrid, no named-statute bonus": ("hybrid", replace(RetrievalConfig(), named_statute_bonus=0.0)),
    "hybrid, rrf_k=20": ("hybrid", replace(RetrievalConfig(), rrf_k=20)),
    "hybrid, RRF order only (no rerank)": ("hybrid", replace(RetrievalConfig(), rerank_weight=0.0)),
    "hybrid + rerank 0.5": ("hybrid", replace(RetrievalConfig(), rerank_weight=0.5)),
    "hybrid + rerank 2.0": ("hybrid", replace(RetrievalConfig(), rerank_weight=2.0)),
    "dense only": ("dense", RetrievalConfig()),
    "bm25 only": ("bm25", RetrievalConfig()),
    "bm25 only + query expansion": ("bm25", RetrievalConfig()),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.ablation")
    parser.add_argument("--dataset", default="evals/datasets/dev.jsonl")
    parser.add_argument(
        "--structure",
        action="store_true",
        help="instead: rebuild the index in temp dirs with/without law title and 编/章/节 headings in the embedded and BM25 text",
    )
    args = parser.parse_args(argv)
    cases = [c for c in load_dataset(args.dataset) if c.category in ANSWERABLE and c.gold]
    print(f"{len(cases)} answerable cases from {args.dataset}")
    if args.structure:
        return structure_ablation(cases)
    pipeline = build_pipeline(Settings.from_env())
    print(f"{'variant':34} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR':>6}")
    for name, (mode, config) in VARIANTS.items():
        kind = ExpandedRetriever if "expansion" in name else HybridRetriever
        issues = pipeline.authority().issues if mode == "hybrid" and "no issue map" not in name else None
        retriever = kind(pipeline.index, mode=mode, config=config, issues=issues)
        rows = [[r.chunk for r in retriever.retrieve(c.question, 10)] for c in cases]
        h1, h5, h10, mrr = _scores(rows, cases)
        print(f"{name:34} {h1:6.3f} {h5:6.3f} {h10:6.3f} {mrr:6.3f}")
    return 0


def structure_ablation(cases) -> int:  # noqa: ANN001
    """Does adding the law title and headings to what is embedded / BM25-indexed help? Measured, not assumed."""
    import shutil
    import tempfile
    from pathlib import Path

    from ingest.embed import make_embedder
    from ingest.manifest import load_documents
    from ingest.parsers import parse_document
    from ingest.store import Index, build_index

    settings = Settings.from_env()
    embedder = make_embedder(settings.embedder)
    docs = {d.doc_id: (d.meta, parse_document(d).chunks) for d in load_documents(settings.corpus_dir)}
    print(f"{'embedded text':>14} {'bm25 text':>10} {'mode':>7} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR':>6}")
    for emb_struct, bm25_struct in ((True, True), (False, False), (True, False), (False, True)):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            cache = settings.data_dir / "cache"
            if cache.is_dir():  # vectors of identical texts are reused; the rest is embedded now
                shutil.copytree(cache, data / "cache")
            variant = settings.with_overrides(data_dir=data)
            build_index(variant, embedder, docs, with_structure=emb_struct, bm25_with_structure=bm25_struct)
            index = Index.open(variant, embedder)
            for mode in ("hybrid", "dense", "bm25"):
                retriever = HybridRetriever(index, mode=mode)
                rows = [[r.chunk for r in retriever.retrieve(c.question, 10)] for c in cases]
                h1, h5, h10, mrr = _scores(rows, cases)
                label = ("with" if emb_struct else "without", "with" if bm25_struct else "without")
                print(f"{label[0]:>14} {label[1]:>10} {mode:>7} {h1:6.3f} {h5:6.3f} {h10:6.3f} {mrr:6.3f}", flush=True)
            index.close()
    return 0


def _scores(rows, cases):  # noqa: ANN001, ANN202
    n = len(cases)
    hits = [sum(hit_at_k(r, c.gold, k) or 0 for r, c in zip(rows, cases, strict=True)) / n for k in (1, 5, 10)]
    mrr = sum(reciprocal_rank(r, c.gold) or 0 for r, c in zip(rows, cases, strict=True)) / n
    return (*hits, mrr)


if __name__ == "__main__":
    raise SystemExit(main())
