"""A query-side adapter for the legal-tuned embedder: lay questions moved towards the passages that answer them.

Fine-tuning the whole model again would ship another 12 MB delta and another set of corpus vectors,
and the repository's growth is capped.  The adapter changes only how a *question* is embedded:
``q' = unit(q + (q U) V)``, a low-rank residual map (384 x 64 twice, 90 KB in float16) trained by
``python -m evals.train.adapter`` on the training questions against the model's fixed passage
vectors (a softmax over every passage of the corpus except the lay dev split's articles, which it never
sees).  Passages, their shipped vectors and the index are untouched, so switching it on or off needs no
re-ingest (``LEGALQA_QUERY_ADAPTER``).  Measured on the lay dev split, dense-only Recall@5 0.557 ->
0.678; the hybrid figures are in ``evals/train/README.md``.

An adapter is trained for one model and is keyed by that model's key (name, version, dimension), like the
shipped vectors: with any other embedder none is found and the embedder is used as it is.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.embed import Embedder
from ingest.embed_cache import model_key
from ingest.errors import LegalQAError
from ingest.legal_model import read_keyed, vectors_file, write_keyed

log = logging.getLogger("legalqa.query_adapter")


@dataclass(frozen=True)
class QueryAdapter:
    """``q -> unit(q + (q U) V)``; ``up`` is (dimension, rank), ``down`` (rank, dimension)."""

    up: np.ndarray
    down: np.ndarray

    def __post_init__(self) -> None:
        if self.up.ndim != 2 or self.down.shape != (self.up.shape[1], self.up.shape[0]):
            raise ValueError(f"adapter shapes do not fit: up {self.up.shape}, down {self.down.shape}")

    @property
    def digest(self) -> str:
        """sha256 of the weights as shipped (the training card records it)."""
        h = hashlib.sha256(self.up.astype(np.float16).tobytes())
        h.update(self.down.astype(np.float16).tobytes())
        return h.hexdigest()

    def apply(self, vector: Sequence[float]) -> list[float]:
        q = np.asarray(vector, dtype=np.float32)
        moved = q + (q @ self.up) @ self.down
        norm = float(np.linalg.norm(moved))
        return (moved / norm).tolist() if norm > 0 else q.tolist()


def adapter_file(key: str) -> Path:
    """Where the adapter trained for the model with key ``key`` is shipped (beside its corpus vectors)."""
    return vectors_file(key).with_suffix(".query-adapter.npz")


def write_adapter(key: str, adapter: QueryAdapter, path: Path | None = None) -> Path:
    """Save ``adapter`` for the model ``key`` (float16: the repository's growth is capped)."""
    return write_keyed(
        path or adapter_file(key),
        key,
        [],
        up=adapter.up.astype(np.float16),
        down=adapter.down.astype(np.float16),
    )


def load_adapter(key: str, path: Path | None = None) -> QueryAdapter | None:
    """The adapter shipped for the model ``key``; None when there is none for it.

    Raises ``LegalQAError`` naming the file when it cannot be read as an adapter."""
    path = path or adapter_file(key)
    try:
        found = read_keyed(path, key, "up", "down")
        if found is None:
            return None
        _shas, (up, down) = found
        return QueryAdapter(up.astype(np.float32), down.astype(np.float32))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise LegalQAError(
            f"{path}: not a query adapter ({exc}); run `python -m evals.train.adapter`"
        ) from None


class AdaptedEmbedder:
    """Implements ``Embedder``: the wrapped model for passages, the adapter on top of it for questions.

    ``name``, ``version``, ``dimension`` and the document side are the model's, so the index, the
    embedding cache and the shipped vectors stay valid (nothing stores a question's vector on disk).
    """

    def __init__(self, inner: Embedder, adapter: QueryAdapter) -> None:
        self.inner = inner
        self.adapter = adapter

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def version(self) -> str:
        return self.inner.version

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.adapter.apply(self.inner.embed_query(text))


def with_query_adapter(embedder: Embedder) -> Embedder:
    """``embedder`` with the adapter shipped for its model, or ``embedder`` itself when there is none
    (or it is damaged: logged in one line)."""
    if isinstance(embedder, AdaptedEmbedder):
        return embedder
    try:
        adapter = load_adapter(model_key(embedder))
    except LegalQAError as exc:  # optional, like the question memory: left out with one logged line
        log.warning("query adapter left out: %s", exc)
        return embedder
    return AdaptedEmbedder(embedder, adapter) if adapter is not None else embedder
