"""Adding and removing corpus documents as one transaction: all of it happens, or none of it.

An add writes the document file and the manifest entry, then runs the ordinary
incremental ingest.  If anything fails — the ingest (a full disk, an embedder
error, Ctrl-C), a check, a concurrent edit — the manifest's original bytes are
put back, the new file is deleted, and the index ``CURRENT`` pointer is set back
if the ingest had already switched it, so the corpus folder, the manifest and
the index are byte-for-byte what they were.  Every file is written to a
temporary name first and renamed into place, so a crash never leaves a torn
manifest.  A removal moves the file aside (not deleted) until the ingest has
succeeded, for the same reason.

Only a SIGKILL or power loss in the middle can leave a half state.  Killed while it
ingests (the long part), an add leaves its document listed but not indexed, and
running the same add again finishes it: ``prepare_document`` hands the listed
document back ``resumed`` and only the ingest runs (``legalqa ingest`` or
``remove`` work too).  Killed between writing the file and the manifest, it is a
loud state: the next ``legalqa ingest`` names the file present but not listed.

One edit at a time: a lock file in the data folder (not in the corpus, whose
contents must not change) serializes ``legalqa add``/``remove`` and the UI.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ingest import index_layout as layout
from ingest.corpus_files import MAX_MANIFEST_BYTES, confined_path, read_corpus_file
from ingest.documents import PreparedDocument, same_content
from ingest.errors import LegalQAError
from ingest.manifest import MANIFEST_NAME, entry_toml, load_manifest
from ingest.settings import Settings
from ingest.types import DocumentMeta

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore[assignment]

Ingest = Callable[..., Any]  # ingest.cli.ingest(settings, show_progress=...) -> IngestReport
_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*documents[ \t]*\]\]", re.M)


def add_document(
    settings: Settings, prepared: PreparedDocument, *, ingest: Ingest | None = None, show_progress: bool = False
) -> Any:
    """Write ``prepared`` into the corpus and manifest and ingest; on any failure restore everything.

    A ``resumed`` document is already written (an add killed mid-ingest): it is only ingested.
    """
    corpus = Path(settings.corpus_dir)
    meta = prepared.meta
    with _edit_lock(settings):
        original = read_corpus_file(corpus, MANIFEST_NAME, MAX_MANIFEST_BYTES)
        metas = load_manifest(corpus)  # again: the manifest may have changed since the preview
        if prepared.resumed:
            if meta not in metas or read_corpus_file(corpus, meta.file) != prepared.data:
                raise LegalQAError(
                    f"{meta.doc_id}: the corpus changed since the file was read; run add again"
                )
            with _restoring(settings, original, f"{meta.doc_id} is still not indexed"):
                return _ingest(ingest)(settings, show_progress=show_progress)
        clash = next((m for m in metas if meta.doc_id == m.doc_id or meta.file == m.file), None)
        clash = clash or same_content(corpus, metas, prepared.text)
        if clash is not None:
            raise LegalQAError(f"{meta.doc_id}: the corpus now has {clash.doc_id!r} with the same id, file or content; not added")
        dest = confined_path(corpus, meta.file)
        if dest.exists():
            raise LegalQAError(f"{dest} already exists; not added")
        text = original.decode("utf-8")
        new_manifest = text + ("" if text.endswith("\n") else "\n") + "\n" + entry_toml(meta)
        with _restoring(settings, original, f"{meta.doc_id} was not added") as undo:
            if not dest.parent.is_dir():
                dest.parent.mkdir(parents=True)
                undo.created_dirs.append(dest.parent)
            undo.created_files.append(dest)
            layout.write_bytes_atomic(dest, prepared.data)
            layout.write_bytes_atomic(corpus / MANIFEST_NAME, new_manifest.encode("utf-8"))
            return _ingest(ingest)(settings, show_progress=show_progress)


def remove_document(
    settings: Settings, doc_id: str, *, force: bool = False, ingest: Ingest | None = None, show_progress: bool = False
) -> tuple[DocumentMeta, Any]:
    """Take ``doc_id`` out of the manifest and the corpus and re-ingest; bundled documents need ``force``."""
    corpus = Path(settings.corpus_dir)
    with _edit_lock(settings):
        original = read_corpus_file(corpus, MANIFEST_NAME, MAX_MANIFEST_BYTES)
        metas = load_manifest(corpus)
        meta = next((m for m in metas if m.doc_id == doc_id), None)
        if meta is None:
            raise LegalQAError(f"no document with id {doc_id!r} in the corpus (`legalqa docs` lists them)")
        if not meta.user_added and not force:
            raise LegalQAError(f"{doc_id!r} is a bundled document, not one added by a user; pass --force to remove it anyway")
        if len(metas) == 1:
            raise LegalQAError(f"{doc_id!r} is the only document; the corpus cannot be empty")
        new_manifest = without_entry(original.decode("utf-8"), doc_id)
        path = confined_path(corpus, meta.file)
        with _restoring(settings, original, f"{doc_id} was not removed") as undo:
            if path.exists():
                aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.removing")
                os.replace(path, aside)
                undo.moved.append((aside, path))
            layout.write_bytes_atomic(corpus / MANIFEST_NAME, new_manifest.encode("utf-8"))
            report = _ingest(ingest)(settings, show_progress=show_progress)
        for aside, _path in undo.moved:
            aside.unlink(missing_ok=True)
        return meta, report


def without_entry(text: str, doc_id: str) -> str:
    """The manifest text without the ``[[documents]]`` table of ``doc_id``; everything else byte-identical.

    A table runs from its header to the next header; comment lines just before the
    next header belong to that next table and stay.  The result is checked by
    parsing: exactly that one table gone, every other one unchanged.
    """
    heads = [m.start() for m in _HEADER.finditer(text)] + [len(text)]
    own = re.compile(rf'^[ \t]*doc_id[ \t]*=[ \t]*["\']{re.escape(doc_id)}["\'][ \t]*(#.*)?$', re.M)
    for start, end in zip(heads, heads[1:], strict=False):
        if own.search(text, start, end):
            break
    else:
        raise LegalQAError(f"{MANIFEST_NAME}: no [[documents]] table with doc_id {doc_id!r}")
    lines = text[start:end].splitlines(keepends=True)
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    cut = start + sum(len(line) for line in lines)
    before, after = text[:start], text[cut:]
    if not before.strip():
        result = after.lstrip("\n")
    elif after.strip():
        result = before.rstrip("\n") + "\n\n" + after.lstrip("\n")
    else:
        result = before.rstrip("\n") + "\n"
    old, new = tomllib.loads(text).get("documents", []), tomllib.loads(result).get("documents", [])
    if new != [t for t in old if t.get("doc_id") != doc_id]:
        raise LegalQAError(f"{MANIFEST_NAME}: cannot remove the entry for {doc_id!r} safely; edit the manifest by hand")
    return result


def _ingest(ingest: Ingest | None) -> Ingest:
    if ingest is not None:
        return ingest
    from ingest.cli import ingest as run_ingest

    return run_ingest


class _Undo:
    def __init__(self) -> None:
        self.created_files: list[Path] = []
        self.created_dirs: list[Path] = []
        self.moved: list[tuple[Path, Path]] = []  # (where it is now, where it was)


@contextlib.contextmanager
def _restoring(settings: Settings, manifest: bytes, what: str) -> Iterator[_Undo]:
    """Undo every recorded change, restore the manifest bytes and the CURRENT pointer if the body fails."""
    index_dir = settings.index_dir
    current = layout.read_current(index_dir)
    undo = _Undo()
    try:
        yield undo
    except BaseException as exc:
        for path in undo.created_files:
            path.unlink(missing_ok=True)
        for aside, path in undo.moved:
            os.replace(aside, path)
        for directory in reversed(undo.created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        layout.write_bytes_atomic(Path(settings.corpus_dir) / MANIFEST_NAME, manifest)
        if current and layout.read_current(index_dir) != current and (index_dir / current).is_dir():
            layout.set_current(index_dir, current)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C and the like: restored, and still an interrupt
        reason = str(exc) if isinstance(exc, LegalQAError) else f"{type(exc).__name__}: {exc}"
        raise LegalQAError(f"{reason} — {what}; the corpus, manifest and index are as they were") from exc


@contextlib.contextmanager
def _edit_lock(settings: Settings) -> Iterator[None]:
    data_dir = Path(settings.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / "corpus-edit.lock", "a+")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise LegalQAError(f"cannot write in the data folder {data_dir}: {exc.strerror or exc}") from None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LegalQAError("another add or remove is changing the corpus; wait for it to finish") from None
        yield
