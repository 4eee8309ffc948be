"""Opening a corpus file: inside the corpus folder, a regular file, and of bounded size.

Everything the index quotes is read through here (by ingest and by the
pipeline's staleness check), so three things cannot happen:

* a symlink in ``corpus/`` to a file elsewhere (``/etc/passwd``, a private
  document) is ingested and quoted as if it were a source: paths are resolved,
  symlinks included, and must stay inside the resolved corpus folder;
* a FIFO, socket or device blocks the reader forever: the path is checked with
  ``os.stat``/``S_ISREG`` before it is opened, and opened non-blocking so one
  swapped in between still cannot block;
* a huge file stalls ingest for minutes (parsing, BM25 tokenizing, embedding):
  a document is at most ``MAX_DOCUMENT_BYTES`` (the largest real one, the 民法典,
  is 0.3 MB).

Every refusal is a ``CorpusError`` naming the file, one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ingest.errors import CorpusError

MAX_DOCUMENT_BYTES = 10 * 2**20
MAX_MANIFEST_BYTES = 2**20
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def confined_path(corpus_dir: str | Path, file: str) -> Path:
    """The real path of ``corpus_dir/file``, symlinks resolved; CorpusError if that leaves the corpus folder."""
    shown = Path(corpus_dir) / file
    try:
        root = Path(corpus_dir).resolve()
        real = shown.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise CorpusError(f"cannot resolve the path: {exc}", file=str(shown)) from None
    if real == root or not real.is_relative_to(root):
        raise CorpusError(
            f"resolves to {real}, outside the corpus folder {root} (a symlink?); "
            "copy the file into the corpus instead of linking to it",
            file=str(shown),
        )
    return real


def corpus_file_stat(
    corpus_dir: str | Path, file: str, max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[Path, os.stat_result]:
    """The real path and ``os.stat`` of a confined corpus file that may be read: a regular file of at
    most ``max_bytes``.

    FileNotFoundError when it does not exist (callers word that themselves);
    CorpusError for everything that must not be read.  Nothing is opened.
    """
    real = confined_path(corpus_dir, file)
    info = os.stat(real)
    _check(info, Path(corpus_dir) / file, max_bytes)
    return real, info


def _check(info: os.stat_result, shown: Path, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise CorpusError(f"is {_kind(info.st_mode)}, not a regular file; it is not read", file=str(shown))
    if info.st_size > max_bytes:
        raise CorpusError(
            f"is {_mb(info.st_size)}, over the {_mb(max_bytes)} limit for one document; "
            "split it into several documents",
            file=str(shown),
        )


def read_corpus_file(corpus_dir: str | Path, file: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a corpus file after the checks of ``corpus_file_stat`` (FileNotFoundError if missing)."""
    shown = Path(corpus_dir) / file
    real = confined_path(corpus_dir, file)
    _check(os.stat(real), shown, max_bytes)  # before opening: a FIFO is never opened
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:  # e.g. ELOOP: a symlink swapped in after the check
        raise CorpusError(f"cannot be opened: {exc.strerror}", file=str(shown)) from None
    with os.fdopen(fd, "rb") as fh:
        _check(os.fstat(fh.fileno()), shown, max_bytes)  # the file opened is the file checked
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CorpusError(
            f"grew past the {_mb(max_bytes)} limit for one document while being read", file=str(shown)
        )
    return data
