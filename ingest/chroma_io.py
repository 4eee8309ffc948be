"""Everything that talks to Chroma: clients, writing a generation's collection, cleanup.

We always pass our own vectors and create collections with
``embedding_function=None``: Chroma's default embedding function would try to
download a model.  Telemetry is off.

Where a generation's vectors are (its ``Backend``) is recorded in its ``index.json``
(``"backend": "embedded"`` or ``"server"`` with ``"chroma_url"``), so that opening it with the
other mode is a clear error naming ``LEGALQA_CHROMA_URL`` rather than "collection does not exist".
Reads never write: an embedded store is opened only where its ``chroma/`` folder exists
(Chroma's PersistentClient would create one inside an immutable generation).

Switching a data folder from the server back to the embedded store: an embedded-mode ingest
(``LEGALQA_CHROMA_URL`` unset) does not contact the server, so when it drops a server
generation its collection stays on the server.  The drop is recorded in
``index/server-orphans.json`` and the next ingest with ``LEGALQA_CHROMA_URL`` set deletes
those collections (only those: a server shared by several data folders keeps theirs).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ingest import index_layout as layout
from ingest.errors import IndexMismatchError, IndexMissingError, LegalQAError
from ingest.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}
EMBEDDED, SERVER = "embedded", "server"
STORE = "chroma"  # a generation's embedded store folder
ORPHANS = "server-orphans.json"  # in the index folder: server collections whose generation folder is gone


@dataclass(frozen=True)
class Backend:
    """Where one generation's vectors are: its own ``chroma/`` folder, or a Chroma server."""

    kind: str  # EMBEDDED | SERVER
    url: str = ""  # the server's URL; "" when embedded, or a server index that predates the record


def backend_for(settings: Settings) -> Backend:
    """The backend these settings read and write."""
    return Backend(SERVER, settings.chroma_url) if settings.chroma_url else Backend(EMBEDDED)


def manifest_fields(settings: Settings) -> dict[str, str]:
    """What a new generation's ``index.json`` records about its backend."""
    backend = backend_for(settings)
    return {"backend": backend.kind, "chroma_url": backend.url}


def backend_of(gen_dir: Path, manifest: Mapping[str, Any]) -> Backend:
    """The backend a generation was written with.

    Manifests of the previous version have ``chroma_url`` but no ``backend``; older ones neither,
    and then the ``chroma/`` folder decides (a server-mode build never creates one).
    """
    kind, url = manifest.get("backend"), str(manifest.get("chroma_url") or "")
    if kind == SERVER or (kind is None and url):
        return Backend(SERVER, url)
    if kind == EMBEDDED or "chroma_url" in manifest:
        return Backend(EMBEDDED)
    return Backend(EMBEDDED) if (gen_dir / STORE).is_dir() else Backend(SERVER)


def make_generation_dir(settings: Settings, gen_dir: Path) -> None:
    """Create a new generation's folder already showing its backend.

    An embedded build gets its ``chroma/`` folder at once, so a build killed before its manifest
    exists (while embedding, say) is never taken for a server build by ``backend_of``.
    """
    gen_dir.mkdir()
    if not settings.chroma_url:
        (gen_dir / STORE).mkdir()


def wrong_backend(settings: Settings, index_dir: Path, gen_dir: Path, stored: Backend) -> LegalQAError | None:
    """The one-line error for opening ``stored``'s vectors in the other mode (``None``: same mode)."""
    if stored.kind == SERVER and not settings.chroma_url:
        where = f"the Chroma server at {stored.url}" if stored.url else "a Chroma server"
        setting = f"LEGALQA_CHROMA_URL={stored.url}" if stored.url else "LEGALQA_CHROMA_URL to its URL"
        return IndexMismatchError(
            f"the index at {index_dir} keeps its vectors on {where}; set {setting} "
            "or run `legalqa ingest --rebuild` to move them into the embedded store"
        )
    if stored.kind == EMBEDDED and settings.chroma_url:
        return IndexMismatchError(
            f"the index at {index_dir} keeps its vectors in the embedded store ({gen_dir.name}/{STORE}), "
            f"not on the Chroma server at LEGALQA_CHROMA_URL={settings.chroma_url}; unset LEGALQA_CHROMA_URL "
            "or run `legalqa ingest --rebuild` to move them to that server"
        )
    return None


def wrong_server(settings: Settings, index_dir: Path, stored: Backend) -> LegalQAError | None:
    """For a collection the configured server does not have: the error naming the server that does."""
    if stored.kind != SERVER or not stored.url or same_server(stored.url, settings.chroma_url):
        return None
    return IndexMismatchError(
        f"the index at {index_dir} keeps its vectors on the Chroma server at {stored.url}, "
        f"not at LEGALQA_CHROMA_URL={settings.chroma_url}; set LEGALQA_CHROMA_URL={stored.url} "
        "or run `legalqa ingest --rebuild` to move them to that server"
    )


def same_server(a: str, b: str) -> bool:
    """Two URLs naming the same server (scheme, host and port; default port and trailing slash ignored)."""

    def key(url: str) -> tuple[str, str, int]:
        parsed = urlparse(url)
        scheme = parsed.scheme or "http"
        port = parsed.port or (443 if scheme == "https" else 8000)
        return scheme, (parsed.hostname or "localhost").lower(), port

    return key(a) == key(b)


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


def chroma_client(settings: Settings, gen_dir: Path, *, create: bool = False) -> Any:
    """Embedded store for ``gen_dir``, or the shared server when ``LEGALQA_CHROMA_URL`` is set.

    An unreachable server is a ``LegalQAError`` that says how to start it.  The HTTP client
    reconnects by itself: once the server is back, the next call works without a restart.
    Only a writer (``create=True``) may open an embedded store that does not exist yet: Chroma
    would create ``chroma/`` inside what may be a finished, immutable generation.
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
    if not create and not (gen_dir / STORE).is_dir():
        raise IndexMissingError(
            f"the vectors of index {gen_dir} are missing (no {STORE}/ folder); run `legalqa ingest --rebuild`"
        )
    return chromadb.PersistentClient(path=str(gen_dir / STORE), settings=chroma_settings)


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
    client = chroma_client(settings, gen_dir, create=True)
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
    """chunk id → stored vector, for the ids present in ``collection`` (none from the other mode)."""
    if backend_of(gen_dir, layout.read_manifest(gen_dir) or {}).kind != backend_for(settings).kind:
        return {}
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
    nothing would ever delete.  In embedded mode the server is not contacted: a dropped server
    generation is written to ``ORPHANS`` first (the folder stays if that fails), and the next
    server-mode call deletes what is listed there.
    """
    doomed = {g.name for g in layout.generations(index_dir)} - keep
    if settings.chroma_url:
        _delete_orphans(settings, index_dir)
    if settings.chroma_url and doomed:
        dropped: set[str] = set()
        try:
            client = chroma_client(settings, index_dir)
            for name in sorted(doomed):
                try:
                    client.delete_collection(layout.collection_name(name))
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
                dropped.add(name)
        except Exception:  # noqa: BLE001 - never fail an ingest for cleanup; the next one retries
            pass
        keep = keep | (doomed - dropped)
    elif doomed:
        keep = keep | _record_orphans(index_dir, doomed)
    layout.remove_generations(index_dir, keep)


def pending_server_collections(index_dir: Path) -> dict[str, str]:
    """Server collection → server URL ("" if unknown) of generations dropped in embedded mode."""
    try:
        data = json.loads((index_dir / ORPHANS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    pending = data.get("collections") if isinstance(data, dict) else None
    if not isinstance(pending, dict):
        return {}
    prefix = layout.collection_name(layout.GEN_PREFIX)
    return {str(k): str(v) for k, v in pending.items() if str(k).startswith(prefix)}


def _write_pending(index_dir: Path, pending: Mapping[str, str]) -> None:
    if pending:
        text = json.dumps({"collections": dict(sorted(pending.items()))}, ensure_ascii=False, indent=1)
        layout.write_atomic(index_dir / ORPHANS, text)
    else:
        (index_dir / ORPHANS).unlink(missing_ok=True)


def _record_orphans(index_dir: Path, doomed: set[str]) -> set[str]:
    """List the server collections of ``doomed`` generations; returns the generations to keep
    because the list could not be written (their folders stay the record, as in server mode)."""
    servers: dict[str, str] = {}
    for name in doomed:
        gen_dir = index_dir / name
        stored = backend_of(gen_dir, layout.read_manifest(gen_dir) or {})
        if stored.kind == SERVER:  # also half-written builds without chroma/: not found later is fine
            servers[layout.collection_name(name)] = stored.url
    if not servers:
        return set()
    try:
        _write_pending(index_dir, {**pending_server_collections(index_dir), **servers})
    except OSError:
        return {name for name in doomed if layout.collection_name(name) in servers}
    return set()


def _delete_orphans(settings: Settings, index_dir: Path) -> None:
    """Delete the listed collections whose generation folder is gone from ``index_dir``.

    A collection the configured server does not have stays listed if it was written to another
    server (it may be configured again); a folder that is back is the record again.
    """
    pending = pending_server_collections(index_dir)
    if not pending:
        return
    left = dict(pending)
    try:
        client = chroma_client(settings, index_dir)
        for collection, url in pending.items():
            if (index_dir / collection.removeprefix(layout.collection_name(""))).exists():
                del left[collection]
                continue
            try:
                client.delete_collection(collection)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                if url and not same_server(url, settings.chroma_url):
                    continue
            del left[collection]
    except Exception:  # noqa: BLE001 - never fail an ingest for cleanup; the next one retries
        pass
    if left != pending:
        # a failed write only leaves the list longer than needed: deleting again finds nothing
        with contextlib.suppress(OSError):
            _write_pending(index_dir, left)


def is_not_found(exc: BaseException) -> bool:
    """Chroma's "no such collection" (embedded or HTTP client)."""
    return type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc).lower()
