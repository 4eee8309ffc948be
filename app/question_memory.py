"""Rank passages by the training questions written for them: a memory of how people ask.

The training questions (``evals/train/data/train-*.jsonl``) are lay questions written from
the corpus passages, each mapped to the passages that answer it.  A new question that is
worded like one of them ("房东一直拖着不退押金") most likely wants the same passage, even when
it shares no word with the statute (出租人 / 租赁物).  This module ranks passages by BM25
between the question and each remembered question, a passage scoring as its best-matching
question (nearest neighbours, not one bag of words per passage: that measured lower).  The
hybrid retriever fuses the ranking with the others (``RetrievalConfig.memory_weight``).  A
remembered question is never shown or quoted: it only moves its passage up.

What it costs: the memory favours the passages that have questions (1,771 of the corpus's
1,983 articles and passages) over those without.  Measured (Recall@5, hybrid): the lay split
written for articles with training questions (``dev-lay-covered.jsonl``) 0.781 -> 0.806 at
weight 0.25, 0.838 at 1.0; the lay dev split, whose articles have none by construction,
0.793 -> 0.780 at 0.25, 0.675 at 1.0.  0.25 is the highest weight that costs the
uncovered articles at most 0.02.

The file ``app/question_memory.tsv.gz`` (doc id, article or locator, question) is written
from the training data by ``python -m evals.train.memory``; a test checks it is current.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ingest.bm25 import BM25Index
from ingest.errors import CorpusError
from ingest.glosses import chunks_by_key
from ingest.types import Chunk

MEMORY_PATH = Path(__file__).with_name("question_memory.tsv.gz")

Ranking = list[tuple[str, float]]  # (chunk id, score), best first
Remembered = tuple[str, str, str]  # (doc id, 第X条 or locator, question)


def load_memory(path: Path = MEMORY_PATH) -> list[Remembered]:
    """Every remembered question of ``path`` ([] when there is no file: the memory is optional).

    Raises ``CorpusError`` naming the file and line for a line that is not three tab-separated fields."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorpusError(f"not a gzip-compressed UTF-8 file ({exc})", file=str(path)) from None
    rows: list[Remembered] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise CorpusError(
                "expected doc id, article or locator, question (tab-separated)", file=str(path), line=n
            )
        rows.append((fields[0], fields[1], fields[2]))
    return rows


def write_memory(rows: Iterable[Remembered], path: Path = MEMORY_PATH) -> Path:
    """Write ``rows`` to ``path`` atomically and reproducibly (the gzip header carries no time)."""
    path = Path(path)
    text = "".join(f"{doc}\t{key}\t{' '.join(question.split())}\n" for doc, key, question in rows)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            fh.write(text.encode("utf-8"))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class QuestionMemory:
    """The remembered questions of one corpus, resolved against one index's chunks."""

    def __init__(
        self, rows: Iterable[Remembered], chunks: Mapping[str, Chunk], cache_dir: Path | None = None
    ) -> None:
        """Questions about a passage this index lacks (a document removed, renumbered) are left out;
        ``cache_dir``: where their BM25 index is kept between starts (``BM25Index.cached``)."""
        by_key = chunks_by_key(chunks.values())
        kept = [(by_key[(doc, key)], question) for doc, key, question in rows if (doc, key) in by_key]
        self._chunks = [tuple(ids) for ids, _q in kept]
        ids = [str(n) for n in range(len(kept))]
        self._index = BM25Index.cached(ids, [q for _ids, q in kept], cache_dir) if kept else None

    def __len__(self) -> int:
        return len(self._chunks)

    def rank(self, question: str, depth: int) -> Ranking:
        """Chunks of the passages whose remembered questions BM25 ranks highest, each at its best question."""
        if self._index is None:
            return []
        out: Ranking = []
        seen: set[str] = set()
        for n, score in self._index.search(question, depth * 4):
            for chunk_id in self._chunks[int(n)]:
                if chunk_id not in seen:
                    seen.add(chunk_id)
                    out.append((chunk_id, score))
            if len(out) >= depth:
                break
        return out[:depth]
