"""Whether the corpus files still match the index: every answer lists the documents that changed.

An edited or removed corpus file after ``legalqa ingest`` makes citations of it
possibly out of date; ``Answer.stale`` says so (a note, nothing is removed) until
the next ingest.  File hashes are cached by size and mtime, so this costs a few
``stat`` calls per answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import CorpusError
from ingest.types import DocumentMeta

if TYPE_CHECKING:
    from app.retrieve import SearchIndex


class StalenessWatch:
    """Compares one index with the corpus folder it was built from."""

    def __init__(self, corpus_dir: Path, index: SearchIndex) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.index = index
        self._shas: dict[Path, tuple[tuple[int, int], str]] = {}
        self._metas: tuple[tuple[Path, int, int], dict[str, DocumentMeta]] | None = None
        self._files: dict[str, str] | None = None

    def stale_documents(self) -> list[str]:
        """Doc ids whose corpus no longer matches the index (sorted): the file's sha256 differs from
        the indexed one or the file is gone, or the manifest lists a sha256 (or a document) that the
        index does not have, or the index has a document the manifest dropped.  Empty when the corpus
        folder is absent (nothing to compare).  File hashes are cached by size and mtime; a file that
        ingest would refuse (symlink out of the corpus, FIFO, over the size limit) counts as stale."""
        info = self.index.info
        corpus = self.corpus_dir
        if not corpus.is_dir():
            return []
        indexed: dict[str, str] = dict(info.documents)
        files = dict(self._index_files())
        stale: set[str] = set()
        metas = self.manifest()
        if metas is not None:
            for doc_id, meta in metas.items():
                files.setdefault(doc_id, meta.file)
                if indexed.get(doc_id) != meta.sha256:
                    stale.add(doc_id)
            stale |= set(indexed) - set(metas)
        for doc_id, sha in indexed.items():
            file = files.get(doc_id)
            if file is not None and self._file_sha(corpus, file) != sha:
                stale.add(doc_id)
        return sorted(stale)

    def _index_files(self) -> dict[str, str]:
        """doc_id → corpus file of the indexed chunks, computed once per index (it was O(chunks) per ask)."""
        if self._files is None:
            self._files = {c.doc_id: c.file for c in self.index.chunks.values()}
        return self._files

    def manifest(self) -> dict[str, DocumentMeta] | None:
        """The manifest's entries by doc id (cached by size and mtime); None if it cannot be read."""
        from ingest.manifest import MANIFEST_NAME, load_manifest

        corpus = self.corpus_dir
        try:
            st = (corpus / MANIFEST_NAME).stat()
            key = (corpus, st.st_size, st.st_mtime_ns)
            if self._metas is None or self._metas[0] != key:
                self._metas = (key, {m.doc_id: m for m in load_manifest(corpus)})
            return self._metas[1]
        except (CorpusError, OSError):
            return None  # a broken manifest is ingest's error to report; compare the files alone

    def stale_or_nothing(self) -> list[str]:
        try:
            return self.stale_documents()
        except Exception:  # noqa: BLE001 - a staleness note must never cost the user the answer
            return []

    def _file_sha(self, corpus: Path, file: str) -> str | None:
        """sha256 of a corpus file (cached by size and mtime), or None, i.e. stale, when it is gone or
        ingest would refuse it: outside the corpus folder after symlinks, not a regular file, too big.
        Only a checked regular file is opened: a FIFO in the corpus used to block every ``ask`` here."""
        from ingest.corpus_files import corpus_file_stat, read_corpus_file

        try:
            real, st = corpus_file_stat(corpus, file)  # the path is resolved once: this runs per answer
            key = (st.st_size, st.st_mtime_ns)
            cached = self._shas.get(real)
            if cached is not None and cached[0] == key:
                return cached[1]
            sha = hashlib.sha256(read_corpus_file(corpus, file)).hexdigest()
        except (CorpusError, OSError):
            return None
        self._shas[real] = (key, sha)
        return sha
