"""Everything that talks to Chroma: clients, writing a generation's collection, cleanup.

We always pass our own vectors and create collections with
``embedding_function=None``: Chroma's default embedding function would try to
download a model.  Telemetry is off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ingest import index_layout as layout
from ingest.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}


def chroma_client(settings: Settings, gen_dir: Path) -> Any:
    """Embedded store for ``gen_dir``, or the shared server when ``LEGALQA_CHROMA_URL`` is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        https = url.scheme == "https"
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if https else 8000),
            ssl=https,
            settings=chroma_settings,
        )
    return chromadb.PersistentClient(path=str(gen_dir / "chroma"), settings=chroma_settings)


def close_client(settings: Settings, client: Any) -> None:
    if not settings.chroma_url:
        client.close()  # releases SQLite handles; the shared system is refcounted per path


def write_collection(
    settings: Settings,
    gen_dir: Path,
    generation: str,
    metadata: Mapping[str, Any],
    records: Sequence[dict[str, Any]],
    vectors: Any,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Create this generation's collection and add every chunk with its vector."""
    client = chroma_client(settings, gen_dir)
    try:
        collection = client.create_collection(
            layout.collection_name(generation),
            configuration={"hnsw": HNSW},
            metadata={**metadata, "generation": generation},
            embedding_function=None,
        )
        step = min(1000, client.get_max_batch_size())
        for i in range(0, len(records), step):
            part = records[i : i + step]
            collection.add(
                ids=[r["chunk_id"] for r in part],
                embeddings=vectors[i : i + step],
                documents=[r["text"] for r in part],
                metadatas=[layout.chroma_metadata(layout.chunk_from_record(r), r["embed_sha"]) for r in part],
            )
            if progress:
                progress("write", i + len(part), len(records))
    finally:
        close_client(settings, client)


def read_vectors(settings: Settings, gen_dir: Path, collection: str, ids: list[str]) -> dict[str, Any]:
    """chunk id → stored vector, for the ids present in ``collection``."""
    client = chroma_client(settings, gen_dir)
    try:
        got = client.get_collection(collection, embedding_function=None).get(ids=ids, include=["embeddings"])
    finally:
        close_client(settings, client)
    return dict(zip(got["ids"], got["embeddings"], strict=True))


def drop_generations(settings: Settings, index_dir: Path, keep: set[str]) -> None:
    """Delete generations not in ``keep`` (and their server collections in server mode)."""
    removed = layout.remove_generations(index_dir, keep)
    if settings.chroma_url and removed:
        try:
            client = chroma_client(settings, index_dir)
            existing = {getattr(c, "name", c) for c in client.list_collections()}
            for name in removed:
                if layout.collection_name(name) in existing:
                    client.delete_collection(layout.collection_name(name))
        except Exception:  # noqa: BLE001 - a stale server collection is harmless; never fail the ingest for it
            pass
