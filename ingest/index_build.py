"""Writing the index (``build_index``); the design is described in ``ingest.store``."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import chroma_io
from ingest import index_layout as layout
from ingest.bm25 import BM25Index
from ingest.embed import Embedder
from ingest.embed_cache import CachedEmbedder, EmbeddingCache, model_key, text_sha
from ingest.errors import IndexMismatchError, LegalQAError
from ingest.ingest_report import IngestReport, Progress, progress_callback
from ingest.settings import Settings
from ingest.types import Chunk, DocumentMeta

EMBED_BATCH = 32  # texts per embedder call; each batch is committed to the cache at once
DISK_WORDS = ("disk", "full", "read-only", "readonly", "permission", "no space", "compaction", "i/o")


def chunker_version() -> str:
    from ingest.parsers import CHUNKER_VERSION

    return str(CHUNKER_VERSION)


def fingerprint(embedder: Embedder) -> dict[str, Any]:
    """What the vectors depend on; two indexes with different fingerprints never mix."""
    return {
        "embedder": embedder.name,
        "dimension": int(embedder.dimension),
        "embedder_version": str(embedder.version),
        "chunker_version": chunker_version(),
    }


def describe(fp: Mapping[str, Any]) -> str:
    return (
        f"{fp.get('embedder')} ({fp.get('dimension')}-d, version {fp.get('embedder_version')}, "
        f"chunker {fp.get('chunker_version')})"
    )


def embedding_text(chunk: Chunk, *, with_structure: bool = True, short_title: str = "") -> str:
    """What gets embedded: ``《short title》 breadcrumb locator`` + newline + chunk text, or the text alone."""
    if not with_structure:
        return chunk.text
    title = short_title or chunk.doc_title
    tag = title if title.startswith("《") or not title else f"《{title}》"
    locator = chunk.locator[len(tag) :].strip() if tag and chunk.locator.startswith(tag) else chunk.locator
    header = " ".join(part for part in (tag, chunk.breadcrumb_text, locator) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text


def bm25_text(chunk: Chunk, *, with_structure: bool = True, short_title: str = "") -> str:
    """What BM25 indexes: the same shape as ``embedding_text``, switchable on its own."""
    return embedding_text(chunk, with_structure=with_structure, short_title=short_title)


def build_index(
    settings: Settings,
    embedder: Embedder,
    documents_chunks: Mapping[str, tuple[DocumentMeta, Sequence[Chunk]]],
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    skipped: Sequence[tuple[str, str, int]] = (),
    with_structure: bool = True,
    bm25_with_structure: bool = True,
) -> IngestReport:
    """Bring the index in line with ``documents_chunks`` (doc_id → (meta, chunks)), atomically."""
    started = time.perf_counter()
    progress = progress_callback(progress)
    index_dir = settings.index_dir
    records, texts, bm25_texts, metas = _prepare(documents_chunks, with_structure, bm25_with_structure)
    fp = fingerprint(embedder)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise layout.write_error(index_dir, exc) from exc
    with layout.ingest_lock(index_dir):
        prev_gen = layout.read_current(index_dir)
        prev = layout.read_manifest(index_dir / prev_gen) if prev_gen else None
        prev_gen = prev_gen if prev else None
        if prev and not rebuild and prev["fingerprint"] != fp:
            raise IndexMismatchError(
                f"index at {index_dir} was built with {describe(prev['fingerprint'])}, "
                f"settings say {describe(fp)}; run `legalqa ingest --rebuild`"
            )
        keep = {g for g in (prev_gen, prev and prev.get("previous")) if g}
        chroma_io.drop_generations(settings, index_dir, keep)  # leftovers of interrupted builds
        old = prev["documents"] if prev else {}
        per_doc = {d: sum(1 for r in records if r["doc_id"] == d) for d in metas}
        report = IngestReport(
            index_dir=index_dir,
            generation=prev_gen or "",
            documents=len(metas),
            chunks=len(records),
            chunks_per_document=per_doc,
            fingerprint=fp,
            skipped=list(skipped),
            added=[d for d in metas if d not in old],
            changed=[d for d in metas if d in old and old[d]["sha256"] != metas[d].sha256],
            removed=[d for d in old if d not in metas],
            unchanged=[d for d in metas if d in old and old[d]["sha256"] == metas[d].sha256],
        )
        text_opts = {"with_structure": with_structure, "bm25_with_structure": bm25_with_structure}
        if (
            prev
            and prev_gen
            and not rebuild
            and prev.get("text") == text_opts
            and prev.get("chroma_url", "") == settings.chroma_url
            and layout.read_chunk_records(index_dir / prev_gen / layout.CHUNKS) == records
        ):
            report.up_to_date, report.chunks_reused = True, len(records)
            report.index_bytes = layout.dir_size(index_dir / prev_gen)
            report.seconds = time.perf_counter() - started
            return report

        generation = layout.new_generation_name()
        gen_dir = index_dir / generation
        cache: EmbeddingCache | None = None
        try:
            chroma_io.make_generation_dir(settings, gen_dir)  # shows its backend even if killed early
            cache = EmbeddingCache(settings.data_dir / "cache" / "embeddings.sqlite3")
            if prev and prev_gen and prev["fingerprint"] == fp and not rebuild:
                _seed_cache(cache, embedder, settings, index_dir / prev_gen, prev, records)
            _seed_shipped(cache, embedder, records)
            cached = CachedEmbedder(embedder, cache, batch_size=EMBED_BATCH, progress=progress)
            vectors = cached.embed_documents(texts)
            chroma_io.write_collection(settings, gen_dir, generation, fp, records, vectors, progress)
            BM25Index.build([r["chunk_id"] for r in records], bm25_texts).save(gen_dir / "bm25")
            layout.write_chunks(gen_dir / layout.CHUNKS, records)
            manifest = {
                "format": layout.FORMAT,
                "generation": generation,
                "previous": prev_gen,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "fingerprint": fp,
                "text": text_opts,
                **chroma_io.manifest_fields(settings),  # "backend" and "chroma_url": where the vectors are
                "collection": layout.collection_name(generation),
                "chunks": len(records),
                "documents": {
                    d: {
                        "sha256": m.sha256,
                        "title": m.title,
                        "short_title": m.short_title,
                        "kind": m.kind,
                        "file": m.file,
                        "chunks": per_doc[d],
                    }
                    for d, m in metas.items()
                },
            }
            layout.write_atomic(gen_dir / layout.MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
            layout.set_current(index_dir, generation)  # the commit point
        except BaseException as exc:
            chroma_io.drop_generations(settings, index_dir, keep)
            if settings.chroma_url and chroma_io.is_connection_error(exc):
                raise chroma_io.server_unreachable(settings.chroma_url, exc) from exc
            if _is_disk_error(exc):
                raise layout.write_error(index_dir, exc) from exc
            raise
        finally:
            if cache is not None:
                cache.close()
        chroma_io.drop_generations(
            settings, index_dir, keep={generation} | ({prev_gen} if prev_gen else set())
        )
        report.generation = generation
        report.chunks_embedded, report.chunks_reused = cached.embedded, cached.reused
        report.embed_seconds = cached.embed_seconds
        report.chunks_per_second = cached.embedded / cached.embed_seconds if cached.embed_seconds else 0.0
        report.index_bytes = layout.dir_size(gen_dir)
        report.seconds = time.perf_counter() - started
        return report


def _is_disk_error(exc: BaseException) -> bool:
    """OSError/SQLite errors, and Chroma's errors while writing our own well-formed data: a full disk
    (or file-size limit) surfaces from Chroma as "disk I/O error" or as "Error in compaction: Failed
    to apply logs to the metadata segment", depending on where the write fails."""
    if isinstance(exc, OSError | sqlite3.Error):
        return True
    if not exc.__class__.__module__.startswith("chromadb"):
        return False
    return any(w in str(exc).lower() for w in DISK_WORDS) or exc.__class__.__name__ == "InternalError"


def _prepare(
    documents_chunks: Mapping[str, tuple[DocumentMeta, Sequence[Chunk]]],
    with_structure: bool,
    bm25_structure: bool,
) -> tuple[list[dict[str, Any]], list[str], list[str], dict[str, DocumentMeta]]:
    """Validate the input; compute each chunk's record, embedded text and BM25 text."""
    records, texts, bm25_texts, metas, seen = [], [], [], {}, set()
    for doc_id, (meta, chunks) in documents_chunks.items():
        if meta.doc_id != doc_id:
            raise LegalQAError(f"document key {doc_id!r} does not match its manifest entry {meta.doc_id!r}")
        metas[doc_id] = meta
        for chunk in chunks:
            if chunk.doc_id != doc_id:
                raise LegalQAError(f"chunk {chunk.chunk_id} belongs to {chunk.doc_id!r}, not {doc_id!r}")
            if chunk.chunk_id in seen:
                raise LegalQAError(f"duplicate chunk id {chunk.chunk_id!r} in document {doc_id!r}")
            seen.add(chunk.chunk_id)
            text = embedding_text(chunk, with_structure=with_structure, short_title=meta.short_title)
            texts.append(text)
            bm25_texts.append(bm25_text(chunk, with_structure=bm25_structure, short_title=meta.short_title))
            records.append(layout.chunk_record(chunk, text_sha(text)))
    return records, texts, bm25_texts, metas


def _seed_shipped(cache: EmbeddingCache, embedder: Embedder, records: list[dict[str, Any]]) -> None:
    """Vectors shipped with the repository for this model (``ingest.legal_model``) fill cache misses."""
    from ingest.legal_model import shipped_vectors

    key = model_key(embedder)
    wanted = {r["embed_sha"] for r in records}
    known = cache.get_many(key, wanted, embedder.dimension)
    if len(known) == len(wanted):
        return
    shipped = shipped_vectors(key)
    fill = [(sha, shipped[sha]) for sha in wanted - set(known) if sha in shipped]
    if fill:
        cache.put_many(key, fill)


def _seed_cache(
    cache: EmbeddingCache,
    embedder: Embedder,
    settings: Settings,
    prev_dir: Path,
    prev: Mapping[str, Any],
    records: list[dict[str, Any]],
) -> None:
    """Copy vectors of unchanged chunks from the previous generation into a cache that lost them."""
    key, dim = model_key(embedder), int(embedder.dimension)
    known = cache.get_many(key, (r["embed_sha"] for r in records), dim)
    wanted = {r["chunk_id"]: r["embed_sha"] for r in records if r["embed_sha"] not in known}
    if not wanted:
        return
    try:
        old = {r["chunk_id"]: r["embed_sha"] for r in layout.read_chunk_records(prev_dir / layout.CHUNKS)}
        ids = [cid for cid, sha in wanted.items() if old.get(cid) == sha]
        if ids:
            found = chroma_io.read_vectors(settings, prev_dir, prev["collection"], ids)
            cache.put_many(key, [(wanted[cid], vec) for cid, vec in found.items()])
    except Exception:  # noqa: BLE001 - only an optimization: whatever is missing gets embedded
        return
