"""Train the answer-or-decline model (``app/decline_model.json``) and report its calibration.

Data, all kept apart from the eval sets:
- answerable: a seeded sample of the retrieval training questions (``train-*.jsonl``) and the
  short questions of ``short-train.jsonl`` (5–16 characters, as people type them);
- declined: ``negatives-train.jsonl`` (everyday topics, other law, near misses, tasks);
- dev, never fitted on: ``dev-lay.jsonl`` and ``short-dev.jsonl`` (answerable) and ``negatives-dev.jsonl``.

Each question goes through the real pipeline (cleaning, hybrid retrieval with the
issue map); the features are ``app.decline.FEATURES``.  The threshold is the one that
declines the most training negatives while wrongly declining at most
``--max-false-decline`` of the training positives.  The report prints the dev split's
rates and the calibration table (predicted vs observed share answerable per bin), and
draws the calibration curve.

    python -m evals.train.decline [--positives 1500] [--plot docs/decline-calibration.png]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.abstain import coverage
from app.decline import FEATURES, MODEL_PATH, DeclineModel, features
from evals.dataset import DatasetError
from evals.train.data import DATA_DIR, dev_file, load_questions, training_files, without_memory

SHORT_TRAIN, SHORT_DEV = "short-train.jsonl", "short-dev.jsonl"  # short answerable questions, written apart


@dataclass(frozen=True, slots=True)
class Labelled:
    question: str
    answerable: bool
    kind: str  # "answerable" or the negative's kind


def load_negatives(path: Path) -> list[Labelled]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            out.append(Labelled(str(data["question"]), False, str(data.get("kind", "negative"))))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"bad negative: {exc}", file=str(path), line=n) from None
    return out


def training_data(
    positives: int, seed: int, data_dir: Path = DATA_DIR
) -> tuple[list[Labelled], list[Labelled]]:
    """(train, dev) question lists; positives are sampled with ``seed`` so a run is reproducible."""
    pos = [Labelled(q.question, True, "answerable") for q in load_questions(training_files(data_dir))]
    random.Random(seed).shuffle(pos)
    train = (
        pos[:positives] + _short(data_dir / SHORT_TRAIN) + load_negatives(data_dir / "negatives-train.jsonl")
    )
    dev = [Labelled(q.question, True, "answerable") for q in load_questions([dev_file(data_dir)])]
    dev += _short(data_dir / SHORT_DEV) + load_negatives(data_dir / "negatives-dev.jsonl")
    return train, dev


def _short(path: Path) -> list[Labelled]:
    """Short answerable questions ("平台宕机要赔吗"): without them every short question looked like a
    negative (the negatives' median is 14 characters, the training questions' 27), and the model
    declined them for their length."""
    if not path.is_file():
        return []
    return [Labelled(q.question, True, "answerable-short") for q in load_questions([path])]


def feature_matrix(
    pipeline: Any, items: Sequence[Labelled], progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(scalar features, query embeddings) of each question exactly as ``Pipeline.ask`` computes them."""
    from app.question import QuestionError

    rows = []
    vectors = []
    retriever = pipeline.retriever("hybrid")
    for i, item in enumerate(items):
        try:
            query = pipeline.prepare(item.question).query
        except QuestionError:
            query = item.question
        results = retriever.retrieve(query, pipeline.settings.top_k)
        judged, vector = pipeline.decision_inputs(query, results)
        cover = coverage(query, judged, pipeline.index.idf)
        values = features(query, judged, cover, retriever.best_issue_score(query))
        rows.append([values[n] for n in FEATURES])
        vectors.append(vector)
        if progress and (i + 1) % 250 == 0:
            print(f"  features {i + 1}/{len(items)}", flush=True)
    return np.asarray(rows, dtype=np.float64), np.asarray(vectors, dtype=np.float64)


def fit(
    x: np.ndarray, e: np.ndarray, y: np.ndarray, embedder: str, max_false_decline: float, c: float
) -> DeclineModel:
    """Logistic regression on the standardized scalar features and the raw query embedding."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    design = np.hstack([scaler.transform(x), e])
    clf = LogisticRegression(class_weight="balanced", C=c, max_iter=2000).fit(design, y)
    n = x.shape[1]
    model = DeclineModel(
        embedder=embedder,
        names=FEATURES,
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_),
        coef=tuple(float(v) for v in clf.coef_[0][:n]),
        intercept=float(clf.intercept_[0]),
        threshold=0.5,
        embedding_coef=tuple(float(v) for v in clf.coef_[0][n:]),
    )
    p = probabilities(model, x, e)
    positives = np.sort(p[y == 1])
    # the highest threshold that keeps wrongly declined positives at or under the allowed share
    allowed = int(np.floor(max_false_decline * len(positives)))
    threshold = float(positives[allowed]) if len(positives) else 0.5
    return replace(model, threshold=round(min(threshold, 0.5), 4))


def probabilities(model: DeclineModel, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.asarray(
        [model.probability(dict(zip(FEATURES, row, strict=True)), vec) for row, vec in zip(x, e, strict=True)]
    )


def rates(model: DeclineModel, p: np.ndarray, items: Sequence[Labelled]) -> dict[str, Any]:
    declined = p < model.threshold
    pos = np.asarray([i.answerable for i in items])
    out: dict[str, Any] = {
        "answerable wrongly declined": round(float(declined[pos].mean()), 3) if pos.any() else None,
        "negatives declined": round(float(declined[~pos].mean()), 3) if (~pos).any() else None,
    }
    for kind in sorted({i.kind for i in items if i.answerable} - {"answerable"}):
        mask = np.asarray([i.kind == kind for i in items])
        out[f"  {kind} wrongly declined"] = round(float(declined[mask].mean()), 3)
    for kind in sorted({i.kind for i in items if not i.answerable}):
        mask = np.asarray([i.kind == kind for i in items])
        out[f"  {kind} declined"] = round(float(declined[mask].mean()), 3)
    long_negatives = np.asarray([not i.answerable and len(i.question) >= 30 for i in items])
    if long_negatives.any():
        out["  negatives of 30+ characters declined"] = round(float(declined[long_negatives].mean()), 3)
    return out


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[tuple[str, int, float, float]]:
    """(bin, n, mean predicted P(answerable), observed share answerable) for non-empty bins."""
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.any():
            rows.append((f"{lo:.1f}-{hi:.1f}", int(mask.sum()), float(p[mask].mean()), float(y[mask].mean())))
    return rows


def plot(rows: list[tuple[str, int, float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot([r[2] for r in rows], [r[3] for r in rows], marker="o", label="decline model (dev split)")
    ax.set_xlabel("predicted P(answerable)")
    ax.set_ylabel("observed share answerable")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    from app.pipeline import build_pipeline

    parser = argparse.ArgumentParser(
        prog="python -m evals.train.decline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--positives", type=int, default=1500, help="training questions sampled as answerable"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--max-false-decline",
        type=float,
        default=0.015,
        help="share of training positives the threshold may decline (0.02 until the adapter learnt the "
        "stories; then 11 of the 100 short dev questions were declined end to end; 0.015: dev short "
        "0.09 -> 0.08, negatives declined 0.82 -> 0.80)",
    )
    parser.add_argument(
        "--c",
        type=float,
        default=10.0,
        help="inverse regularization strength (dev split: 1 → 0.77, 3 → 0.85, 10 → 0.87, 30 → 0.90 of negatives declined; 10 is better calibrated than 30)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="reuse/store computed features here (.npz)")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--plot", type=Path, default=Path("docs/decline-calibration.png"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    train, dev = training_data(args.positives, args.seed, args.data_dir)
    pipeline = build_pipeline(without_memory())  # judged without the query adapter (Pipeline.decision_inputs)
    print(
        f"train: {sum(i.answerable for i in train)} answerable, {sum(not i.answerable for i in train)} negatives; "
        f"dev: {sum(i.answerable for i in dev)} answerable, {sum(not i.answerable for i in dev)} negatives"
    )
    if args.cache is not None and args.cache.is_file():  # features of an earlier run (same data, same index)
        saved = np.load(args.cache)
        x_train, e_train, x_dev, e_dev = (saved[k] for k in ("x_train", "e_train", "x_dev", "e_dev"))
    else:
        x_train, e_train = feature_matrix(pipeline, train)
        x_dev, e_dev = feature_matrix(pipeline, dev)
        if args.cache is not None:
            np.savez(args.cache, x_train=x_train, e_train=e_train, x_dev=x_dev, e_dev=e_dev)
    y_train = np.asarray([i.answerable for i in train], dtype=int)
    y_dev = np.asarray([i.answerable for i in dev], dtype=int)
    model = fit(x_train, e_train, y_train, pipeline.index.embedder.name, args.max_false_decline, args.c)
    p_dev = probabilities(model, x_dev, e_dev)
    print(f"threshold P(answerable) < {model.threshold} declines")
    print("weights: " + ", ".join(f"{n}={c:+.2f}" for n, c in zip(model.names, model.coef, strict=True)))
    for split, p, items in (("train", probabilities(model, x_train, e_train), train), ("dev", p_dev, dev)):
        for key, value in rates(model, p, items).items():
            print(f"{split:5} {key:32} {value}")
    table = calibration_table(p_dev, y_dev)
    print("calibration (dev): bin      n   predicted  observed")
    for name, n, pred, obs in table:
        print(f"                   {name}  {n:4d}  {pred:9.3f}  {obs:8.3f}")
    args.out.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.plot:
        plot(table, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
