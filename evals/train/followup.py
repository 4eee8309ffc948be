"""Train the learned merge of a follow-up's two rankings (``app.followup``) on the training conversations.

Every follow-up of ``data/conversations-*.jsonl`` that the pipeline reads against its conversation is
asked as ``Pipeline.retrieve`` asks it (read with the earlier turns, and alone); each passage either
reading ranks becomes a row, labelled by whether it is one of the turn's gold passages.  The
conversations were written after the query adapter and the question memory were trained and neither
holds them, so the readings' ranks are what a new conversation would get.  A logistic regression is
fitted per regularisation and the one with the best follow-up hit@5 on the multi-turn dev conversations
(``evals/datasets/multiturn/dev.jsonl``) is written; the held-out conversations are only reported.

    python -m evals.train.followup                  # ~3 min
    python -m evals.train.followup --max-conversations 20 --out /tmp/f.json   # a tiny run
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.followup import FEATURES, MODEL_PATH, FollowUpModel
from app.pipeline import Pipeline, build_pipeline
from evals.dataset import DatasetError, chunk_matches
from evals.multiturn import MULTITURN_DEV, MULTITURN_HOLDOUT, Conversation, load_conversations, score
from evals.train import exit_code, fitted_weights
from evals.train.data import conversation_files
from ingest.errors import LegalQAError
from ingest.manifest import sha256_file
from ingest.settings import Settings

REGULARISATION = (0.01, 0.1, 1.0)  # sklearn's C, chosen on the multi-turn dev conversations


def load_training(paths: Sequence[Path], pipeline: Pipeline) -> list[Conversation]:
    """The conversations of ``paths``; a gold item no passage of the index matches is a DatasetError
    naming the file and the conversation (it would teach the model noise)."""
    out = []
    for path in paths:
        text = path.read_text(encoding="utf-8").splitlines()
        lines = [n for n, line in enumerate(text, start=1) if line.strip()]
        for line, conv in zip(lines, load_conversations(path), strict=True):
            for n, turn in enumerate(conv.turns):
                for g in turn.gold:
                    if not any(_matches(c, g) for c in pipeline.index.chunks.values()):
                        raise DatasetError(
                            f"conversation {conv.id}: no passage matches {g.doc} {g.article or g.quote!r}",
                            file=str(path),
                            line=line,
                            field=f"turns[{n}].gold",
                        )
            out.append(conv)
    return out


def _matches(chunk, gold) -> bool:  # noqa: ANN001
    return chunk_matches(chunk.doc_id, chunk.article, chunk.text, gold, chunk.locator)


def followup_rows(
    pipeline: Pipeline, conversations: Sequence[Conversation]
) -> tuple[np.ndarray, np.ndarray, int]:
    """(features, labels, follow-ups asked) of every follow-up the pipeline reads against its conversation."""
    features: list[list[float]] = []
    labels: list[int] = []
    asked = 0
    for conv in conversations:
        earlier: list[str] = []
        for i, turn in enumerate(conv.turns):
            question = pipeline.prepare(turn.question, earlier)
            if i and question.resolved:
                asked += 1
                chunks = pipeline.index.chunks
                for chunk_id, row in pipeline.followup_features(question.query, question.text).items():
                    features.append([row[n] for n in FEATURES])
                    labels.append(int(any(_matches(chunks[chunk_id], g) for g in turn.gold)))
            earlier.append(turn.question)
    return np.asarray(features, dtype=np.float64), np.asarray(labels), asked


def fit(features: np.ndarray, labels: np.ndarray, embedder: str, c: float) -> FollowUpModel:
    return FollowUpModel(embedder=embedder, **fitted_weights(features, labels, FEATURES, c))


def followup_hit(pipeline: Pipeline, model: FollowUpModel | None, path: Path, limit: int = 0) -> float:
    pipeline.use_followup_model(model)
    return score(pipeline, load_conversations(path)[: limit or None])["followup_hit@5"] or 0.0


def run(
    settings: Settings,
    *,
    max_conversations: int = 0,
    out: Path = MODEL_PATH,
    files: Sequence[Path] | None = None,
) -> dict:
    """``files``: these conversation files instead of ``data/conversations-*.jsonl``."""
    pipeline = build_pipeline(settings)
    files = list(files) if files is not None else conversation_files()
    if not files:
        raise LegalQAError("no training conversations (evals/train/data/conversations-*.jsonl)")
    conversations = load_training(files, pipeline)[: max_conversations or None]
    features, labels, asked = followup_rows(pipeline, conversations)
    if not labels.any() or labels.all():
        raise LegalQAError(f"the conversations gave {len(labels)} rows, not both gold and other passages")
    embedder = pipeline.index.embedder.name
    limit = max_conversations
    before = {"dev": followup_hit(pipeline, None, MULTITURN_DEV, limit)}
    print(f"interleaved: dev follow-up hit@5 {before['dev']}")
    tried = []
    for c in REGULARISATION:
        model = fit(features, labels, embedder, c)
        tried.append((followup_hit(pipeline, model, MULTITURN_DEV, limit), c, model))
        print(f"learned merge, C={c}: dev follow-up hit@5 {tried[-1][0]}")
    best, chosen, model = max(tried, key=lambda t: (t[0], -t[1]))
    after = {"dev": best}
    if MULTITURN_HOLDOUT.is_file():  # reported, never chosen on
        before["held_out"] = followup_hit(pipeline, None, MULTITURN_HOLDOUT, limit)
        after["held_out"] = followup_hit(pipeline, model, MULTITURN_HOLDOUT, limit)
    pipeline.index.close()
    data = {
        **model.to_json(),
        "training": {
            "conversations": len(conversations),
            "follow_ups": asked,
            "rows": len(labels),
            "C": chosen,
            "files": {p.name: sha256_file(p) for p in files},
        },
        "followup_hit_at_5": {"interleaved": before, "learned": after},
    }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out} (C={chosen}): follow-up hit@5 {before} -> {after}")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.train.followup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--max-conversations", type=int, default=0, help="the first N only (a tiny run)")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    return exit_code(lambda: run(Settings.from_env(), max_conversations=args.max_conversations, out=args.out))


if __name__ == "__main__":
    sys.exit(main())
