"""The index: Chroma vectors + BM25, fingerprinted, incremental and atomic.

Design (files: ``index_layout``; writer: ``index_build``):

* Every ingest that changes anything writes a complete NEW generation
  directory and then switches the ``CURRENT`` pointer with one ``os.replace``.
  A failed, interrupted or SIGKILLed ingest never touches the live index; its
  half-written generation is deleted by the next ingest.  Disk full or a
  read-only data folder gives a ``LegalQAError`` naming the folder.
* Incremental through the embedding cache (``embed_cache``), keyed by the
  exact embedded text: unchanged documents cost zero embedding calls and a
  changed document re-embeds only its changed chunks (if the cache file is
  lost, vectors of unchanged chunks are copied from the previous generation).
  Copying all vectors into the new collection takes about a second per few
  thousand chunks: the price of never mixing vectors or half-updating one.
* Nothing changed (same fingerprint, same chunks): no new generation at all.
* The previous generation is kept until the next ingest, so a running UI that
  opened it keeps answering; ``Index.is_current()`` tells it to reopen.
* The fingerprint (embedder name, dimension, version, chunker version) is in
  ``index.json`` and in the collection metadata.  ``Index.open`` refuses any
  other embedder; ``build_index`` refuses to replace an index built with
  another embedder or chunker unless ``rebuild=True``.
* With ``LEGALQA_CHROMA_URL`` the vectors go to a Chroma server, one
  collection per generation (``legalqa-<generation>``); BM25, chunks and the
  manifest stay in the local index folder.
* Dense search is exact, with either store: ``Index.open`` reads the
  generation's vectors out of Chroma once (a few MB) and lets go of the store,
  and queries are one matrix product.  Chroma's HNSW graph is approximate, and
  it is built differently each time (threads insert in varying order; a
  process rebuilds it from the log on load), so the same query could rank its
  tail differently after a restart, when the first queries of a fresh process
  ran concurrently (tests/test_load.py), or on a Chroma server against the
  embedded store (tests/test_reliability_chroma.py: 25 of 574 searches over the
  hash-embedded corpus ranked differently there).  A legal answer must cite the
  same passages every time, and at a few thousand passages exact search costs
  ~1 ms.  With a Chroma server, processes that are already serving therefore
  keep answering while it is down; a process that opens the index then gets a
  clear error naming ``LEGALQA_CHROMA_URL``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest import chroma_io
from ingest import index_layout as layout
from ingest.bm25 import BM25Index
from ingest.chroma_io import chroma_client, close_client, is_connection_error, server_unreachable
from ingest.embed import Embedder
from ingest.errors import IndexMismatchError, IndexMissingError, LegalQAError
from ingest.index_build import (
    bm25_text,
    build_index,
    describe,
    embedding_text,
    fingerprint,
)
from ingest.ingest_report import IngestReport, Progress
from ingest.query_adapter import AdaptedEmbedder, QueryAdapter
from ingest.settings import Settings
from ingest.types import Chunk

__all__ = [
    "Index",
    "IndexInfo",
    "IngestReport",
    "Progress",
    "bm25_text",
    "build_index",
    "embedding_text",
    "fingerprint",
]


@dataclass(frozen=True)
class IndexInfo:
    path: Path  # the generation directory
    generation: str
    built_at: str  # ISO 8601, UTC
    fingerprint: dict[str, Any]
    documents: dict[str, str]  # doc_id → sha256 of the indexed file
    chunks: int
    text: dict[str, bool]  # with_structure / bm25_with_structure used at build time


class Index:
    """Read side of one index generation; safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        info: IndexInfo,
        chunks: dict[str, Chunk],
        bm25: BM25Index,
        vectors: np.ndarray,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        adapted = isinstance(embedder, AdaptedEmbedder)
        self._model: Embedder = embedder.inner if adapted else embedder
        self._adapter: QueryAdapter | None = embedder.adapter if adapted else None
        self.info = info
        self.chunks = chunks
        self._bm25 = bm25
        self._vectors = vectors  # L2-normalized, one row per chunk in ``chunks`` (corpus) order
        self._ids = list(chunks)
        self._row_of = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
        rows_by_doc: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks.values()):
            rows_by_doc.setdefault(chunk.doc_id, []).append(row)
        self._doc_rows = {doc: np.asarray(rows) for doc, rows in rows_by_doc.items()}
        self._query_lock = threading.Lock()
        self._query_cache: dict[str, list[float]] = {}
        self._by_doc: dict[str, tuple[Chunk, ...]] | None = None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> Index:
        index_dir = settings.index_dir
        generation = layout.read_current(index_dir)
        if generation is None:
            raise IndexMissingError(f"no index at {index_dir}; run `legalqa ingest`")
        gen_dir = index_dir / generation
        manifest = layout.read_manifest(gen_dir)
        if manifest is None:
            raise IndexMissingError(
                f"the index at {index_dir} is damaged ({generation} is missing); "
                "run `legalqa ingest --rebuild`"
            )
        wanted = fingerprint(embedder)
        if manifest["fingerprint"] != wanted:
            raise IndexMismatchError(
                f"index at {index_dir} was built with {describe(manifest['fingerprint'])}, "
                f"settings say {describe(wanted)}; run `legalqa ingest --rebuild`"
            )
        # the other mode's vectors: say which setting reaches them rather than look for them here
        # (and a missing chroma/ folder is reported by chroma_client, never created by a read)
        stored_backend = chroma_io.backend_of(gen_dir, manifest)
        wrong = chroma_io.wrong_backend(settings, index_dir, gen_dir, stored_backend)
        if wrong is not None:
            if (
                settings.chroma_url
            ):  # a server that is down comes first: its error says start it or unset the URL
                _release(settings, *_open_client(settings, gen_dir))
            raise wrong
        records = layout.read_chunk_records(gen_dir / layout.CHUNKS)
        chunks = {r["chunk_id"]: layout.chunk_from_record(r) for r in records}
        bm25 = BM25Index.load(gen_dir / "bm25")
        client, scratch = _open_client(settings, gen_dir)
        try:
            collection = client.get_collection(manifest["collection"], embedding_function=None)
            count = collection.count()
        except Exception as exc:
            _release(settings, client, scratch)
            other = chroma_io.wrong_server(settings, index_dir, stored_backend)
            if other is not None and chroma_io.is_not_found(exc):  # the collection is on the recorded server
                raise other from exc
            raise IndexMissingError(
                f"the vectors of index {gen_dir} cannot be read ({exc}); run `legalqa ingest --rebuild`"
            ) from exc
        stored = {k: (collection.metadata or {}).get(k) for k in wanted}
        if stored != manifest["fingerprint"] or count != len(chunks) or bm25.ids != list(chunks):
            _release(settings, client, scratch)
            raise IndexMismatchError(
                f"index {gen_dir} is inconsistent (vectors {describe(stored)}, {count} of "
                f"{len(chunks)} chunks); run `legalqa ingest --rebuild`"
            )
        try:
            vectors = _read_all_vectors(collection, list(chunks))
        except Exception as exc:
            if settings.chroma_url and is_connection_error(exc):
                raise server_unreachable(settings.chroma_url, exc) from exc
            raise IndexMissingError(
                f"the vectors of index {gen_dir} cannot be read ({exc}); run `legalqa ingest --rebuild`"
            ) from exc
        finally:
            _release(settings, client, scratch)  # nothing of Chroma stays open in a serving process
        info = IndexInfo(
            path=gen_dir,
            generation=generation,
            built_at=manifest["built_at"],
            fingerprint=manifest["fingerprint"],
            documents={d: v["sha256"] for d, v in manifest["documents"].items()},
            chunks=len(chunks),
            text=manifest.get("text", {}),
        )
        return cls(settings, embedder, info, chunks, bm25, vectors)

    def dense_search(
        self, query: str, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, cosine similarity in [-1, 1]), best first; ``doc_ids`` restricts documents."""
        if k <= 0 or not self.chunks or (doc_ids is not None and not doc_ids):
            return []
        return self.vector_search(self.query_vector(query), k, doc_ids)

    def chunks_by_doc(self) -> dict[str, tuple[Chunk, ...]]:
        """Every chunk grouped by document, in document order (computed once; the index is read-only)."""
        if self._by_doc is None:
            grouped: dict[str, list[Chunk]] = {}
            for chunk in self.chunks.values():
                grouped.setdefault(chunk.doc_id, []).append(chunk)
            self._by_doc = {
                d: tuple(sorted(cs, key=lambda c: (c.ordinal, c.start))) for d, cs in grouped.items()
            }
        return self._by_doc

    def plain_query_vector(self, query: str) -> list[float]:
        """The query's embedding by the model alone, without the query adapter (remembered for a few
        queries): what the decision to answer is judged on.  The adapter moves a question towards the
        passages it was trained for, so closeness through it says "covered by training", not "in scope"."""
        with self._query_lock:
            cached = self._query_cache.get(query)
        if cached is not None:
            return cached
        vector = self._model.embed_query(query)
        with self._query_lock:
            self._query_cache[query] = vector
            while len(self._query_cache) > 64:
                self._query_cache.pop(next(iter(self._query_cache)))
        return vector

    def set_query_adapter(self, adapter: QueryAdapter | None) -> None:
        """Rank by ``adapter`` from now on (None: the model alone).  For training only: the learned
        fusion's features must come from an adapter that never saw the question they are computed for."""
        self._adapter = adapter

    def query_vector(self, query: str) -> list[float]:
        """The query's embedding as passages are ranked by it (through the query adapter, if the embedder
        has one); issue matching and the decision to answer use ``plain_query_vector``."""
        plain = self.plain_query_vector(query)
        return self._adapter.apply(plain) if self._adapter is not None else plain

    def vector_search(
        self, vector: Sequence[float], k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """``dense_search`` for an already embedded query: cosine similarity against every stored
        vector (exact), ties to corpus order, so the same question ranks the same passages every time."""
        if k <= 0 or not self.chunks or (doc_ids is not None and not doc_ids):
            return []
        query = _unit(vector)
        if doc_ids is None:
            rows = np.arange(len(self._ids))
            scores = self._vectors @ query  # no row selection: indexing would copy the whole matrix
        else:
            parts = [self._doc_rows[d] for d in sorted(set(doc_ids)) if d in self._doc_rows]
            if not parts:
                return []
            rows = np.sort(np.concatenate(parts))
            scores = self._vectors[rows] @ query
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        order = top[np.lexsort((rows[top], -scores[top]))]
        return [(self._ids[rows[i]], float(scores[i])) for i in order]

    def vectors_of(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The stored (unit) vectors of ``chunk_ids``, one row each (what trains the query adapter)."""
        return self._vectors[[self._row_of[c] for c in chunk_ids]]

    def similarities(self, vector: Sequence[float], chunk_ids: Sequence[str]) -> list[float]:
        """Cosine similarity of ``vector`` to each of ``chunk_ids`` (an id this index lacks scores 0): what
        the dense ranker would have said of a passage another ranker brought in."""
        query = _unit(vector)
        return [
            float(self._vectors[self._row_of[c]] @ query) if c in self._row_of else 0.0 for c in chunk_ids
        ]

    def bm25_search(
        self, query: str, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, BM25 score > 0), best first; query tokenized like the index."""
        only = None
        if doc_ids is not None:
            wanted = set(doc_ids)
            only = [cid for cid, c in self.chunks.items() if c.doc_id in wanted]
        return self._bm25.search(query, k, only)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """How rare each token is in the indexed chunks (BM25 idf)."""
        return self._bm25.idf(tokens)

    def warm_up(self) -> None:
        """Load the embedding model and BM25 structures now (the first query otherwise pays ~1 s)."""
        self.dense_search("预热", 1)
        self.bm25_search("预热", 1)

    def is_current(self) -> bool:
        """False once a newer ingest has switched CURRENT: the caller should reopen."""
        return layout.read_current(self.settings.index_dir) == self.info.generation

    def close(self) -> None:
        """Nothing to release (the store was closed at open); kept so an index works as a context manager."""

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unit(vector: Sequence[float]) -> np.ndarray:
    """The query vector at unit length, as float32; a copy: the caller's vector is never normalized in place."""
    query = np.array(vector, dtype=np.float32)
    query /= np.linalg.norm(query) or 1.0
    return query


def _read_all_vectors(collection: Any, ids: list[str]) -> np.ndarray:
    """Every stored vector, L2-normalized float32, one row per id in ``ids`` order."""
    matrix = np.zeros((len(ids), 0), dtype=np.float32)
    step = 2000
    parts = []
    for i in range(0, len(ids), step):
        part = ids[i : i + step]
        got = collection.get(ids=part, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        missing = [cid for cid in part if cid not in by_id]
        if missing:
            raise LegalQAError(f"{len(missing)} vectors missing, e.g. {missing[0]}")
        parts.append(np.asarray([by_id[cid] for cid in part], dtype=np.float32))
    if parts:
        matrix = np.vstack(parts)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1.0, norms)
    return matrix


def _open_client(settings: Settings, gen_dir: Path) -> tuple[Any, Path | None]:
    """A client for ``gen_dir``; on a read-only or full disk, a client on a private copy.

    Chroma opens its SQLite file read-write even to read, so a read-only data
    folder (or a full disk) would otherwise make a perfectly good index unreadable.
    """
    try:
        return chroma_client(settings, gen_dir), None
    except LegalQAError:
        raise
    except Exception as exc:
        if settings.chroma_url:
            raise server_unreachable(settings.chroma_url, exc) from exc
        first = exc
    scratch = Path(tempfile.mkdtemp(prefix="legalqa-chroma-"))
    try:
        shutil.copytree(gen_dir / "chroma", scratch / "chroma")
        return chroma_client(settings, scratch), scratch
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise LegalQAError(f"cannot open the vectors in {gen_dir}: {first}") from exc


def _release(settings: Settings, client: Any, scratch: Path | None) -> None:
    close_client(settings, client)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
