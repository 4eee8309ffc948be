"""On-disk layout of the index: generations, the CURRENT pointer, chunk records.

::

    index_dir/
      CURRENT                 name of the live generation (replaced atomically)
      .lock                   flock held by a running ingest
      gen-<utc time>-<rand>/  one complete, immutable index
        chroma/               Chroma PersistentClient (collection "legalqa-<generation>")
        bm25/                 bm25s arrays + ids.json
        chunks.jsonl          every Chunk, document order (Index.open reads only this)
        index.json            manifest + fingerprint, written last

A generation is never modified after CURRENT points to it; readers of an old
generation keep working until they reopen.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.errors import LegalQAError
from ingest.types import Chunk

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: run without the cross-process lock
    fcntl = None  # type: ignore[assignment]

CURRENT = "CURRENT"
MANIFEST = "index.json"
CHUNKS = "chunks.jsonl"
GEN_PREFIX = "gen-"
FORMAT = 1
CHUNK_FIELDS = tuple(f.name for f in fields(Chunk))


def new_generation_name() -> str:
    return f"{GEN_PREFIX}{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


def collection_name(generation: str) -> str:
    return f"legalqa-{generation}"


def read_current(index_dir: Path) -> str | None:
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere; best effort
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so readers see the old or the new file, never a torn one."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a torn one (temporary name, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def set_current(index_dir: Path, generation: str) -> None:
    write_atomic(index_dir / CURRENT, generation + "\n")


def read_manifest(gen_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((gen_dir / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def generations(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.glob(GEN_PREFIX + "*") if p.is_dir())


def remove_generations(index_dir: Path, keep: set[str]) -> list[str]:
    """Delete every generation not in ``keep`` (interrupted builds, superseded ones)."""
    removed = []
    for gen in generations(index_dir):
        if gen.name not in keep:
            shutil.rmtree(gen, ignore_errors=True)
            removed.append(gen.name)
    for tmp in index_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """One ingest at a time per index folder; the OS releases it even on SIGKILL."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        handle = open(index_dir / ".lock", "a+")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise write_error(index_dir, exc) from exc
    with handle as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LegalQAError(
                f"another `legalqa ingest` is writing {index_dir}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def write_error(directory: Path, exc: BaseException) -> LegalQAError:
    reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return LegalQAError(
        f"cannot write the index in {directory}: {reason} (disk full or read-only?); the previous index is unchanged"
    )


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def chunk_record(chunk: Chunk, embed_sha: str) -> dict[str, Any]:
    rec = {name: getattr(chunk, name) for name in CHUNK_FIELDS}
    rec["breadcrumb"] = list(chunk.breadcrumb)
    rec["extra"] = dict(chunk.extra)
    rec["embed_sha"] = embed_sha
    return rec


def chunk_from_record(rec: dict[str, Any]) -> Chunk:
    values = {name: rec[name] for name in CHUNK_FIELDS if name in rec}
    values["breadcrumb"] = tuple(values.get("breadcrumb", ()))
    return Chunk(**values)


def chroma_metadata(chunk: Chunk, embed_sha: str) -> dict[str, str | int]:
    """Flat metadata: enough to rebuild the Chunk (with the document text) from Chroma alone."""
    meta: dict[str, str | int] = {
        name: getattr(chunk, name) for name in CHUNK_FIELDS if name not in ("text", "breadcrumb", "extra")
    }
    meta["breadcrumb"] = chunk.breadcrumb_text
    meta["extra"] = json.dumps(chunk.extra, ensure_ascii=False, sort_keys=True)
    meta["embed_sha"] = embed_sha
    return meta


def write_chunks(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_chunk_records(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
