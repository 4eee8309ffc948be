"""Train the learned fusion of the rankers (``app.fusion``) on the consultation stories.

Each story (``data/stories-*.jsonl``) is asked of the hybrid retriever, and every passage a ranker
placed becomes a row: what the rankers said about it, labelled by whether it is one of the story's gold
passages.  The shipped query adapter was trained on every story, so its dense ranks on them would be
better than on any question a user asks, and the model would learn to trust them too much.  The
stories are therefore split into folds, an adapter is trained without each fold (on everything else
the shipped one learns from), and a story's features come from the adapter that never saw it
(cross-fitting).  The question memory holds no story, so its ranks are honest as they are.

A logistic regression is fitted on the rows; its regularisation is chosen on the lay dev split
(Recall@5 with the model in place, the shipped adapter serving, as users meet it), printed beside
reciprocal-rank fusion and the covered lay split.

    python -m evals.train.fusion                  # ~12 min: 3 fold adapters, 1,839 stories, fit, write
    python -m evals.train.fusion --max-questions 60 --folds 2 --epochs 1 --out /tmp/f.json   # tiny run

Retrain after the adapter, the question memory, the issue map or the glosses change; then retrain the
decline model and the citation filter, which learn from the ranks this model gives.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.fusion import FEATURES, MODEL_PATH, FusionModel, candidate_features
from app.pipeline import Pipeline, build_pipeline
from app.question_memory import QuestionMemory, load_memory
from app.retrieve import HybridRetriever
from evals.metrics import recall_at_k
from evals.train import exit_code, fitted_weights
from evals.train.adapter import AdapterConfig, _bare, adapter_files, train_adapter, training_set
from evals.train.data import (
    covered_dev_file,
    dev_file,
    load_questions,
    resolve_gold,
    story_files,
)
from ingest.errors import LegalQAError
from ingest.glosses import gloss_key
from ingest.manifest import sha256_file
from ingest.settings import Settings

REGULARISATION = (0.1, 1.0)  # sklearn's C, chosen on the lay dev splits
PASSAGE_SHARES = (0.0, 0.5, 1.0)  # the passage cross-fitting's share of the rows' weight, likewise


def fold_of(key: str, folds: int) -> int:
    """The fold of a story (by its id) or of a passage (by doc id and article), fixed by the key, not by
    file order, which a new story would shift."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % folds


SCHEMES = ("story", "passage")


@dataclass(frozen=True)
class Rows:
    features: np.ndarray  # (rows, len(FEATURES))
    labels: np.ndarray  # 1: a gold passage of the story
    scheme: np.ndarray  # index into SCHEMES: which cross-fitting the row's features came from
    questions: int  # stories asked (once per scheme)
    with_gold: int  # of those, with a gold passage among their candidates

    def save(self, path: Path) -> None:
        np.savez_compressed(path, features=self.features, labels=self.labels, scheme=self.scheme,
                            counts=np.array([self.questions, self.with_gold]))  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Rows:
        with np.load(path) as data:
            counts = data["counts"]
            return cls(data["features"], data["labels"], data["scheme"], int(counts[0]), int(counts[1]))


def hybrid(pipeline: Pipeline) -> HybridRetriever:
    retriever = pipeline.retriever("hybrid")
    if not isinstance(retriever, HybridRetriever):
        raise LegalQAError("the learned fusion trains on the hybrid retriever, and this pipeline has another")
    return retriever


def story_rows(
    settings: Settings, adapter_config: AdapterConfig, *, folds: int, max_questions: int = 0
) -> Rows:
    """The stories' candidate rows under two cross-fittings, each story asked once in each.

    ``story``: the story's fold left out of the adapter; its passages keep their other questions (in the
    adapter and in the question memory), as for a user asking about an article the training data covers.
    ``passage``: every question on the passages of the story's fold left out of the adapter and the
    memory, as for a question about an article nobody wrote a training question for (what the lay dev
    split measures)."""
    from tqdm import tqdm

    story_names = {p.name for p in story_files()}
    questions = load_questions(adapter_files())
    if max_questions:  # a tiny run: the first N stories and the first N of the rest
        stories = [q for q in questions if Path(q.file).name in story_names]
        rest = [q for q in questions if Path(q.file).name not in story_names]
        questions = rest[:max_questions] + stories[:max_questions]
    bare = _bare(settings)
    data = training_set(bare, questions=questions)
    bare.index.close()

    pipeline = build_pipeline(replace(settings, query_adapter=True))
    retriever = hybrid(pipeline)
    retriever.fusion = None  # the rows are what the rankers say, whatever fuses them
    memory = retriever.memory
    chunks = pipeline.index.chunks
    gold = resolve_gold(questions, chunks)
    keys = {q.id: {"\t".join(gloss_key(chunks[c])) for c in gold[q.id]} for q in questions}
    is_story = [Path(q.file).name in story_names for q in questions]
    remembered = load_memory() if memory is not None else []

    features: list[list[float]] = []
    labels: list[int] = []
    scheme: list[int] = []
    asked = with_gold = 0
    for s, name in enumerate(SCHEMES):
        for f in range(folds):
            if name == "story":
                probe = [st and fold_of(q.id, folds) == f for q, st in zip(questions, is_story, strict=True)]
                keep = [not p for p in probe]
            else:
                touched = [any(fold_of(k, folds) == f for k in keys[q.id]) for q in questions]
                probe = [st and t for st, t in zip(is_story, touched, strict=True)]
                keep = [not t for t in touched]
                if memory is not None:
                    retriever.memory = QuestionMemory(
                        [r for r in remembered if fold_of(f"{r[0]}\t{r[1]}", folds) != f], chunks
                    )
            asking = [q for q, p in zip(questions, probe, strict=True) if p]
            if not asking:
                continue
            adapter, _losses = train_adapter(
                data.vectors[np.asarray(keep)],
                [r for r, k in zip(data.rows, keep, strict=True) if k],
                data.passages,
                data.candidates,
                adapter_config,
            )
            pipeline.index.set_query_adapter(adapter)
            for q in tqdm(asking, desc=f"{name} fold {f + 1}/{folds}", unit="q"):
                candidates = retriever.candidates(q.question, settings.top_k)
                positives = set(gold[q.id])
                asked += 1
                with_gold += any(c in positives for c in candidates)
                for chunk_id, candidate in candidates.items():
                    row = candidate_features(candidate)
                    features.append([row[n] for n in FEATURES])
                    labels.append(1 if chunk_id in positives else 0)
                    scheme.append(s)
            retriever.memory = memory
    pipeline.index.close()
    return Rows(
        np.asarray(features, dtype=np.float64), np.asarray(labels), np.asarray(scheme), asked, with_gold
    )


def fit(rows: Rows, embedder: str, c: float, passage_share: float) -> FusionModel:
    """``passage_share``: the weight of the ``passage`` cross-fitting's rows against the ``story`` one's
    (how many of the questions users ask are about articles without training questions)."""
    weight = np.where(rows.scheme == SCHEMES.index("passage"), passage_share, 1.0 - passage_share)
    fields = fitted_weights(rows.features, rows.labels, FEATURES, c, weight * len(weight) / weight.sum())
    return FusionModel(embedder=embedder, **fields)


def lay_recall(pipeline: Pipeline, model: FusionModel | None, *, max_questions: int = 0) -> dict[str, float]:
    """Recall@5 on the lay dev and covered lay splits with ``model`` fusing (None: reciprocal rank)."""
    retriever = hybrid(pipeline)
    retriever.fusion = model
    # the model is chosen by its own order; how much of reciprocal rank to blend in is the retriever's
    # setting (RetrievalConfig.fusion_blend), chosen afterwards on the dev splits with the model fixed
    retriever.config = replace(retriever.config, fusion_blend=0.0)
    out = {}
    for name, path in (("lay_dev", dev_file()), ("covered_dev", covered_dev_file())):
        questions = load_questions([path])[: max_questions or None]
        values = [recall_at_k(pipeline.retrieve(q.question, 5), q.gold, 5) or 0.0 for q in questions]
        out[name] = round(sum(values) / max(len(values), 1), 3)
    return out


def run(
    settings: Settings,
    *,
    folds: int = 3,
    adapter_config: AdapterConfig | None = None,
    max_questions: int = 0,
    out: Path = MODEL_PATH,
    cache: Path | None = None,
) -> dict:
    """``cache``: an .npz of the rows, read when it exists (the fits and their selection only), else
    written (the rows take ~10 minutes)."""
    if cache is not None and cache.is_file():
        rows = Rows.load(cache)
    else:
        rows = story_rows(
            settings, adapter_config or AdapterConfig(), folds=folds, max_questions=max_questions
        )
        if cache is not None:
            rows.save(cache)
    if not rows.labels.any() or rows.labels.all():
        raise LegalQAError(f"the stories gave {len(rows.labels)} rows, not both gold and other passages")
    pipeline = build_pipeline(settings)
    embedder = pipeline.index.embedder.name
    before = lay_recall(pipeline, None, max_questions=max_questions)
    print(f"reciprocal-rank fusion: {before}")
    tried = []
    for share in PASSAGE_SHARES:
        for c in REGULARISATION:
            model = fit(rows, embedder, c, share)
            tried.append((lay_recall(pipeline, model, max_questions=max_questions), share, c, model))
            print(f"learned fusion, passage share {share}, C={c}: {tried[-1][0]}")
    # the sum of the two lay splits (the one whose articles have training questions and the one whose
    # have none), as the fusion weights were chosen; then the uncovered one, then the simpler model
    after, share, chosen, model = max(
        tried, key=lambda t: (t[0]["lay_dev"] + t[0]["covered_dev"], t[0]["lay_dev"], -t[2])
    )
    pipeline.index.close()
    data = {
        **model.to_json(),
        "training": {
            "stories_asked": rows.questions,  # once per cross-fitting; more when its passages span folds
            "asked_with_gold_among_candidates": rows.with_gold,
            "rows": len(rows.labels),
            "folds": folds,
            "C": chosen,
            "passage_share": share,
            "files": {p.name: sha256_file(p) for p in adapter_files()},
        },
        "recall_at_5": {"reciprocal_rank": before, "learned": after},
    }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        f"wrote {out} (passage share {share}, C={chosen}): lay dev Recall@5 {before['lay_dev']} -> {after['lay_dev']}"
    )
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.train.fusion", description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=AdapterConfig().epochs, help="of each fold's adapter")
    parser.add_argument(
        "--max-questions", type=int, default=0, help="the first N questions only (a tiny run)"
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument(
        "--cache", type=Path, default=None, help="an .npz of the rows: read if it exists, else written"
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    config = replace(AdapterConfig(), epochs=args.epochs)
    return exit_code(
        lambda: run(
            Settings.from_env(),
            folds=args.folds,
            adapter_config=config,
            max_questions=args.max_questions,
            out=args.out,
            cache=args.cache,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
