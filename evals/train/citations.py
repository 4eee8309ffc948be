"""Train the citation filter (``app/citation_model.json``) and report what it does to citations.

Data, all kept apart from the eval sets: a seeded sample of the retrieval training
questions (``train-*.jsonl``).  Each goes through the real pipeline (cleaning, hybrid
retrieval with the issue map and glosses, the decline decision, the extractive answer);
every passage the answer is about to cite is a row (``app.citation_filter.citation_features``,
computed where the answerer computes them), labelled by whether it is one of the question's
gold passages.  Logistic regression, unweighted, so its output reads as a probability.

The threshold trades precision for recall, so it is a product choice, made on the eval
suite's dev split with the held-out split as the check: the highest threshold at which dev
citation recall stays at or above 0.80 (the floor the answers issue set).  ``legalqa eval``,
citation precision / recall (no filter: dev 0.318 / 0.891, held-out 0.259 / 0.661):

    threshold 0.050: dev 0.571 / 0.829, held-out 0.447 / 0.570
    threshold 0.075: dev 0.607 / 0.810, held-out 0.483 / 0.548   (the default until answers quoted
                     the provisions ranked second and third without a shared word, see below)
    threshold 0.100: dev 0.624 / 0.798, held-out 0.500 / 0.548
    threshold 0.200: dev 0.689 / 0.785, held-out 0.528 / 0.540

The lay dev split (``dev-lay.jsonl``, never fitted on) is printed for every threshold too, so
the trade-off is on record for questions worded the way business users ask.

Since answers open with the best-ranked passage and quote the provisions ranked second and third
by their decisive sentence even when they share no word with the question
(``ExtractiveAnswerer._wordless``), the filter sees more passages it should drop; the default is
0.125, where every split gained precision and recall against 0.075 before that change except dev
recall (0.838 -> 0.834): dev 0.672 / 0.834, held-out 0.551 / 0.696, lay dev split 0.457 / 0.636.
At 0.175 dev / held-out precision rise to 0.690 / 0.589 but lay dev recall falls to 0.615.

    python -m evals.train.citations [--questions 3000] [--threshold 0.125]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.answer import Retrieved
from app.citation_filter import FEATURES, MODEL_PATH, CitationModel, citation_features
from evals.dataset import GoldItem, chunk_matches
from evals.train.data import (
    DATA_DIR,
    TrainingQuestion,
    dev_file,
    load_questions,
    training_files,
    without_memory,
)

THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.0, 0.501, 0.025))


@dataclass
class Recorder:
    """A citation judge that keeps every passage and remembers what it was shown (the last answer's)."""

    shown: list[tuple[list[Retrieved], list[dict[str, float]] | None]] = field(default_factory=list)

    def keep(self, cited: Sequence[Retrieved], passages: Sequence[Retrieved]) -> list[bool]:
        self.shown.append((list(cited), citation_features(cited, passages)))
        return [True] * len(cited)


@dataclass(frozen=True, slots=True)
class CitedQuestion:
    """One answered question: per cited passage its features, whether it is named, and which gold items it matches."""

    rows: tuple[dict[str, float], ...]
    named: tuple[bool, ...]
    matches: tuple[frozenset[int], ...]
    gold: int


def _matches(r: Retrieved, gold: Sequence[GoldItem]) -> frozenset[int]:
    c = r.chunk
    return frozenset(
        i for i, g in enumerate(gold) if chunk_matches(c.doc_id, c.article, c.text, g, c.locator)
    )


def cited_questions(
    pipeline: Any, questions: Sequence[TrainingQuestion], progress: bool = True
) -> list[CitedQuestion]:
    """Ask each question through ``pipeline`` (whose extractive answerer must hold a ``Recorder``)."""
    recorder = pipeline.answerers["extractive"].citations
    if not isinstance(recorder, Recorder):
        raise TypeError(
            "the pipeline's extractive answerer must record citations (evals.train.citations.Recorder)"
        )
    out = []
    for i, q in enumerate(questions):
        recorder.shown.clear()
        answer = pipeline.ask(q.question, answerer="extractive")
        if not answer.abstained and recorder.shown and recorder.shown[-1][1] is not None:
            cited, rows = recorder.shown[-1]
            out.append(
                CitedQuestion(
                    tuple(rows),  # type: ignore[arg-type]
                    tuple(r.via == "lookup" for r in cited),
                    tuple(_matches(r, q.gold) for r in cited),
                    len(q.gold),
                )
            )
        if progress and (i + 1) % 500 == 0:
            print(f"  asked {i + 1}/{len(questions)}", flush=True)
    return out


def fit(questions: Sequence[CitedQuestion], embedder: str, c: float = 1.0) -> CitationModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.asarray([[row[n] for n in FEATURES] for q in questions for row in q.rows], dtype=np.float64)
    y = np.asarray([bool(m) for q in questions for m in q.matches], dtype=int)
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(x), y)
    return CitationModel(
        embedder=embedder,
        names=FEATURES,
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_),
        coef=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
        threshold=0.0,
    )


def precision_recall(
    model: CitationModel, questions: Sequence[CitedQuestion], threshold: float
) -> tuple[float, float, float]:
    """Mean per-question citation precision and recall, and citations per answer, at ``threshold``."""
    precision, recall, cited = [], [], []
    for q in questions:
        kept = [
            n == 0 or named or model.probability(row) >= threshold
            for n, (row, named) in enumerate(zip(q.rows, q.named, strict=True))
        ]
        matches = [m for m, k in zip(q.matches, kept, strict=True) if k]
        precision.append(sum(bool(m) for m in matches) / len(matches))
        recall.append(len(frozenset().union(*matches)) / q.gold if q.gold else 0.0)
        cited.append(len(matches))
    return float(np.mean(precision)), float(np.mean(recall)), float(np.mean(cited))


def main(argv: Sequence[str] | None = None) -> int:
    from app.extractive import ExtractiveAnswerer
    from app.pipeline import build_pipeline

    parser = argparse.ArgumentParser(
        prog="python -m evals.train.citations", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--questions", type=int, default=3000, help="training questions sampled")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--threshold", type=float, default=0.125, help="cite a passage from this P(relevant) up"
    )
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularization strength")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    pipeline = build_pipeline(
        without_memory(), answerers={"extractive": ExtractiveAnswerer(citations=Recorder())}
    )
    train = load_questions(training_files(args.data_dir))
    random.Random(args.seed).shuffle(train)
    train = train[: args.questions]
    dev = load_questions([dev_file(args.data_dir)])
    print(f"asking {len(train)} training and {len(dev)} lay dev questions")
    train_cited = cited_questions(pipeline, train)
    dev_cited = cited_questions(pipeline, dev)
    rows = sum(len(q.rows) for q in train_cited)
    positives = sum(bool(m) for q in train_cited for m in q.matches)
    print(
        f"train: {len(train_cited)} answered, {rows} citations, {positives / max(rows, 1):.3f} of them gold"
    )
    model = fit(train_cited, pipeline.index.embedder.name, args.c)
    model = replace(model, threshold=args.threshold)
    table = [(t, *precision_recall(model, dev_cited, t)) for t in sorted({*THRESHOLDS, args.threshold})]
    print("weights: " + ", ".join(f"{n}={c:+.2f}" for n, c in zip(model.names, model.coef, strict=True)))
    print("lay dev: threshold  precision  recall  citations/answer")
    for t, p, r, n in table:
        mark = "  <- chosen" if t == args.threshold else ""
        print(f"         {t:9.3f}  {p:9.3f}  {r:6.3f}  {n:16.2f}{mark}")
    args.out.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
