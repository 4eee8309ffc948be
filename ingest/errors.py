"""Errors a user can act on: each names the file (and line) at fault."""

from __future__ import annotations


class LegalQAError(Exception):
    """Base for errors shown to users as one clear line, never a stack trace."""


class CorpusError(LegalQAError):
    """A corpus file or the manifest is wrong; nothing indexed is touched."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None) -> None:
        where = file + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line


class IndexMismatchError(LegalQAError):
    """The index on disk was built by another embedder or chunker."""


class IndexMissingError(LegalQAError):
    """No index has been built yet."""
