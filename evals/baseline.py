"""The naive LangChain RAG baseline the eval compares against.

What a first attempt at "RAG over these files" looks like: every corpus file
listed in ``corpus/manifest.toml`` is cut by LangChain's
``RecursiveCharacterTextSplitter`` (500 characters, 50 overlap) with no regard
for articles, sections or headings, the pieces are embedded with the SAME
embedder as the real index and stored in their own Chroma collection (cosine,
our own vectors, telemetry off), and a question gets the top-k pieces by
similarity.  Everything after retrieval (abstention rule, extractive answerer,
warning) is the app's own, so the comparison isolates chunking + retrieval.

The pieces are real ``ingest.types.Chunk`` objects (``file_text[start:end] ==
text``), so citation validity, gold matching and every other metric apply
unchanged.  They carry no ``article``: gold items that name only an article
can then match only through their quote, which is exactly the baseline's
handicap of not knowing the structure.

Embeddings are cached in ``<data_dir>/baseline/embeddings.sqlite3`` (keyed by
embedder and exact text), so only the first run pays for embedding.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.answer import Retrieved
from ingest.embed import Embedder, l2_normalize
from ingest.errors import LegalQAError
from ingest.manifest import load_documents
from ingest.types import Chunk, Document

CHUNK_SIZE = 500
CHUNK_OVERLAP = 50
HNSW = {"space": "cosine"}
COLLECTION = "naive-baseline"


def split_document(doc: Document, *, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    """LangChain's recursive splitter over one raw file; offsets from ``add_start_index``."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True
    )
    meta = doc.meta
    chunks: list[Chunk] = []
    for piece in splitter.create_documents([doc.text]):
        text = piece.page_content
        if not text.strip():
            continue
        start = int(piece.metadata.get("start_index", -1))
        if start < 0 or doc.text[start : start + len(text)] != text:
            # LangChain locates a piece with str.find from an estimated offset; never trust it blindly.
            prev_end = chunks[-1].start if chunks else 0
            start = doc.text.find(text, prev_end)
            if start < 0:
                start = doc.text.find(text)
            if start < 0:
                raise LegalQAError(f"naive baseline: a splitter piece of {meta.file} is not in the file")
        end = start + len(text)
        n = len(chunks)
        chunks.append(
            Chunk(
                chunk_id=f"naive:{meta.doc_id}:{n:04d}",
                doc_id=meta.doc_id,
                doc_title=meta.title,
                kind=meta.kind,
                locator=f"{meta.short_title} 字符 {start}–{end}",
                breadcrumb=(),
                start=start,
                end=end,
                text=text,
                file=meta.file,
                sha256=meta.sha256,
                ordinal=n,
            )
        )
    return chunks


def naive_chunks(
    corpus_dir: str | Path, *, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP
) -> list[Chunk]:
    """Every manifest file split naively, in manifest order."""
    out: list[Chunk] = []
    for doc in load_documents(corpus_dir):
        out.extend(split_document(doc, chunk_size=chunk_size, chunk_overlap=chunk_overlap))
    return out


@dataclass
class NaiveBaseline:
    """Implements ``app.retrieve.Retriever``: top-k naive chunks by cosine similarity."""

    chunks: dict[str, Chunk]
    embedder: Embedder
    collection: Any
    client: Any
    workdir: Path
    build_seconds: float = 0.0
    embedded: int = 0
    reused: int = 0
    _owns_workdir: bool = field(default=True, repr=False)

    def retrieve(self, question: str, k: int, *, focus: str = "") -> list[Retrieved]:  # noqa: ARG002 - no issue map here
        if k <= 0 or not self.chunks:
            return []
        result = self.collection.query(
            query_embeddings=[self.embedder.embed_query(question)],
            n_results=min(k, len(self.chunks)),
            include=["distances"],
        )
        out: list[Retrieved] = []
        for rank, (cid, dist) in enumerate(zip(result["ids"][0], result["distances"][0], strict=True), start=1):
            sim = 1.0 - float(dist)  # Chroma cosine distance = 1 - cosine similarity
            out.append(Retrieved(self.chunks[cid], sim, dense_score=sim, dense_rank=rank, via="dense"))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "splitter": f"RecursiveCharacterTextSplitter(chunk_size={CHUNK_SIZE}, chunk_overlap={CHUNK_OVERLAP}, add_start_index=True)",
            "chunks": len(self.chunks),
            "store": "Chroma (cosine, own embeddings)",
            "embedder": self.embedder.name,
            "build_seconds": round(self.build_seconds, 2),
            "embedded": self.embedded,
            "reused_from_cache": self.reused,
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort; the directory goes anyway
            self.client.close()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def build_baseline(
    corpus_dir: str | Path,
    embedder: Embedder,
    *,
    cache_path: Path | None = None,
    workdir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> NaiveBaseline:
    """Split, embed (through the cache when given) and load a fresh Chroma collection.

    The collection lives in ``workdir`` (a new temporary directory when None, removed by ``close``).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    started = time.perf_counter()
    chunks = naive_chunks(corpus_dir)
    texts = [c.text for c in chunks]
    embedded = reused = 0
    if cache_path is not None:
        from ingest.embed_cache import CachedEmbedder, EmbeddingCache

        cache = EmbeddingCache(cache_path)
        try:
            cached = CachedEmbedder(embedder, cache, batch_size=32, progress=progress)
            vectors = cached.embed_documents(texts)
            embedded, reused = cached.embedded, cached.reused
        finally:
            cache.close()
    else:
        vectors = _embed_plain(embedder, texts, progress)
        embedded = len(texts)

    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="naive-baseline-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    client = chromadb.PersistentClient(path=str(workdir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    try:
        with contextlib.suppress(Exception):  # not there yet
            client.delete_collection(COLLECTION)
        collection = client.create_collection(
            COLLECTION,
            configuration={"hnsw": HNSW},
            metadata={"embedder": embedder.name, "fingerprint": corpus_fingerprint(chunks)},
            embedding_function=None,
        )
        step = min(1000, client.get_max_batch_size())
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            collection.add(
                ids=[c.chunk_id for c in part],
                embeddings=[list(map(float, v)) for v in vectors[i : i + step]],
                metadatas=[{"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in part],
            )
    except Exception:
        client.close()
        if owns:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return NaiveBaseline(
        chunks={c.chunk_id: c for c in chunks},
        embedder=embedder,
        collection=collection,
        client=client,
        workdir=workdir,
        build_seconds=time.perf_counter() - started,
        embedded=embedded,
        reused=reused,
        _owns_workdir=owns,
    )


def _embed_plain(embedder: Embedder, texts: Sequence[str], progress: Callable[[str, int, int], None] | None) -> Any:
    rows: list[list[float]] = []
    for i in range(0, len(texts), 32):
        rows.extend(embedder.embed_documents(texts[i : i + 32]))
        if progress:
            progress("embed", min(i + 32, len(texts)), len(texts))
    return l2_normalize(rows)


def corpus_fingerprint(chunks: Sequence[Chunk]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(f"{c.chunk_id}|{c.sha256}|{c.start}|{c.end}\n".encode())
    return h.hexdigest()[:16]
