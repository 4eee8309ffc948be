"""Persistent embedding cache: re-ingesting an unchanged corpus embeds nothing.

Vectors are keyed by (embedder name, version, dimension) and the sha256 of the
exact text embedded, so a cached vector is valid for any chunk, document or
index generation that embeds the same text with the same model.  Storage is a
single SQLite file under the data folder (float32 blobs); each embedded batch
is committed at once, so an interrupted ingest resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ingest.embed import Embedder, l2_normalize
from ingest.errors import LegalQAError


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_key(embedder: Embedder) -> str:
    return f"{embedder.name}@{embedder.version}#{embedder.dimension}"


class EmbeddingCache:
    """(model key, text sha256) → float32 vector, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, sha TEXT NOT NULL, "
                "vec BLOB NOT NULL, PRIMARY KEY (model, sha)) WITHOUT ROWID"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise LegalQAError(f"cannot write the embedding cache {path}: {exc}") from exc

    def get_many(self, key: str, shas: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(shas))
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            rows = self._db.execute(
                f"SELECT sha, vec FROM vectors WHERE model = ? AND sha IN ({','.join('?' * len(part))})",
                [key, *part],
            )
            for sha, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (dim,):
                    found[sha] = vec
        return found

    def put_many(self, key: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, sha, vec) VALUES (?, ?, ?)",
                [(key, sha, np.asarray(v, dtype=np.float32).tobytes()) for sha, v in items],
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise LegalQAError(f"cannot write the embedding cache {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()


class CachedEmbedder:
    """Embeds documents through the cache; counts what it embedded and what it reused."""

    def __init__(
        self,
        embedder: Embedder,
        cache: EmbeddingCache,
        *,
        batch_size: int = 32,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.embedder = embedder
        self.cache = cache
        self.key = model_key(embedder)
        self.batch_size = batch_size
        self.progress = progress
        self.embedded = 0
        self.reused = 0
        self.embed_seconds = 0.0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for ``texts`` (n × dim float32), embedding only cache misses."""
        dim = self.embedder.dimension
        shas = [text_sha(t) for t in texts]
        vectors = self.cache.get_many(self.key, shas, dim)
        missing = list(dict.fromkeys(s for s in shas if s not in vectors))
        by_sha = dict(zip(shas, texts, strict=True))
        hits = sum(1 for s in shas if s in vectors)
        self.reused += hits
        self.embedded += len(shas) - hits  # chunks not served by the cache (duplicates embed once)
        done = 0
        for i in range(0, len(missing), self.batch_size):
            batch = missing[i : i + self.batch_size]
            start = time.perf_counter()
            out = l2_normalize(self.embedder.embed_documents([by_sha[s] for s in batch]))
            self.embed_seconds += time.perf_counter() - start
            if out.shape != (len(batch), dim):
                raise LegalQAError(
                    f"embedder {self.embedder.name} returned vectors of shape {out.shape}, expected ({len(batch)}, {dim})"
                )
            self.cache.put_many(self.key, zip(batch, out, strict=True))
            vectors.update(zip(batch, out, strict=True))
            done += len(batch)
            if self.progress:
                self.progress("embed", done, len(missing))
        return np.stack([vectors[s] for s in shas]) if shas else np.zeros((0, dim), np.float32)
