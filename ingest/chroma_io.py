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
from ingest.errors import LegalQAError
from ingest.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}


def server_unreachable(url: str, exc: BaseException | None = None) -> LegalQAError:
    """The one-line error for a Chroma server that does not answer (names the setting and the fix)."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    reason = " ".join(str(exc).split()) if exc is not None else ""
    return LegalQAError(
        f"cannot reach the Chroma server at LEGALQA_CHROMA_URL={url}"
        + (f" ({type(exc).__name__}: {reason})" if exc is not None else "")
        + f"; start it with `chroma run --host {parsed.hostname or 'localhost'} --port {port} --path <folder>`"
        " (see docs/OPERATIONS.md), or unset LEGALQA_CHROMA_URL to use the embedded store"
    )


def is_connection_error(exc: BaseException) -> bool:
    """True for 'the server is not there' (refused, reset, timed out, DNS), not for a bad request."""
    try:
        import httpx

        transport: tuple[type[BaseException], ...] = (httpx.TransportError,)
    except ImportError:  # pragma: no cover - chromadb depends on httpx
        transport = ()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError, *transport)):
            return True
        if "could not connect to a chroma server" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def chroma_client(settings: Settings, gen_dir: Path) -> Any:
    """Embedded store for ``gen_dir``, or the shared server when ``LEGALQA_CHROMA_URL`` is set.

    An unreachable server is a ``LegalQAError`` that says how to start it.  The HTTP client
    reconnects by itself: once the server is back, the next call works without a restart.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        https = url.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if https else 8000),
                ssl=https,
                settings=chroma_settings,
            )
        except Exception as exc:
            if is_connection_error(exc):
                raise server_unreachable(settings.chroma_url, exc) from exc
            raise
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
    """Delete generations not in ``keep`` (and their server collections in server mode).

    In server mode the collection goes first and the folder only once its collection is gone: the
    folder is what tells a later ingest that the collection exists, so a kill between the two steps,
    or a server that is down, leaves a folder to retry with rather than an orphan collection that
    nothing would ever delete.
    """
    doomed = {g.name for g in layout.generations(index_dir)} - keep
    if settings.chroma_url and doomed:
        dropped: set[str] = set()
        try:
            client = chroma_client(settings, index_dir)
            for name in sorted(doomed):
                try:
                    client.delete_collection(layout.collection_name(name))
                except Exception as exc:
                    if not _not_found(exc):
                        raise
                dropped.add(name)
        except Exception:  # noqa: BLE001 - never fail an ingest for cleanup; the next one retries
            pass
        keep = keep | (doomed - dropped)
    layout.remove_generations(index_dir, keep)


def _not_found(exc: BaseException) -> bool:
    return type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc).lower()
