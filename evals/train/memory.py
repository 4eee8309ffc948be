"""Write the question memory (``app/question_memory.tsv.gz``) from the training questions.

Every training question (``train-*.jsonl``) is filed under each passage its gold resolves to, by
the passage's article or locator (``ingest.glosses.gloss_key``), so the memory survives a change
of chunking.  The dev splits are never remembered: they measure the memory.  Run it after
changing the training data; ``tests/test_question_memory.py`` fails while the file is stale.

    python -m evals.train.memory [--out app/question_memory.tsv.gz]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.question_memory import MEMORY_PATH, Remembered, write_memory
from evals.train.data import (
    DATA_DIR,
    TrainingQuestion,
    corpus_chunks,
    load_questions,
    resolve_gold,
    training_files,
)
from ingest.glosses import gloss_key
from ingest.settings import PROJECT_ROOT
from ingest.types import Chunk


def memory_rows(questions: Sequence[TrainingQuestion], chunks: Mapping[str, Chunk]) -> list[Remembered]:
    """(doc id, article or locator, question) for every question and passage it answers, in file order."""
    gold = resolve_gold(questions, chunks)
    rows: list[Remembered] = []
    for q in questions:
        keys = dict.fromkeys(gloss_key(chunks[c]) for c in gold[q.id])  # a passage cut in two is one passage
        rows += [(doc, key, q.question) for doc, key in keys]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.train.memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=MEMORY_PATH)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "corpus")
    args = parser.parse_args(argv)
    questions = load_questions(training_files(args.data_dir))
    rows = memory_rows(questions, corpus_chunks(args.corpus))
    path = write_memory(rows, args.out)
    passages = len({(doc, key) for doc, key, _q in rows})
    print(f"{len(questions)} questions on {passages} passages -> {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
