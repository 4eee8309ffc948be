"""What legal staff's verification reads from the corpus: its files (safely) and its manifest's facts.

A saved answer is untrusted, so the files it names are read only when they are regular
files inside the corpus folder and not oversized, and the facts it states (documents,
articles, issue names, statute sizes) are looked up in the manifest and issue map.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

from app.answer import Citation
from app.citations_ref import ArticleRef, StatuteNames, agreement_parts
from ingest.articles import repealed_codes
from ingest.errors import CorpusError
from ingest.types import DocumentMeta

MAX_CORPUS_FILE_BYTES = 20 * 2**20  # the largest corpus file (民法典) is under 1 MB


class Refused(Exception):
    """A cited file that must not or cannot be read; the message says why."""


def read_corpus_file(corpus_dir: Path, file: object) -> bytes:
    """The bytes of ``file`` (relative to ``corpus_dir``), or Refused: absolute paths, ``..``,
    symlinks leading out of the folder, devices, FIFOs, folders and oversized files are never
    read (a saved answer must not turn ``legalqa verify`` into a reader of /etc or /dev/zero)."""
    if not isinstance(file, str) or not file or "\x00" in file:
        raise Refused(f"{file!r} 不是语料文件路径")
    rel = PurePosixPath(file)
    if rel.is_absolute() or ".." in rel.parts:
        raise Refused(f"{file} 不是语料目录内的相对路径，已拒绝读取")
    try:
        root = Path(corpus_dir).resolve(strict=True)
        target = (root / rel).resolve(strict=True)
        if target == root or not target.is_relative_to(root):
            raise Refused(f"{file} 指向语料目录之外，已拒绝读取")
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{file} 不是普通文件，已拒绝读取")
        if info.st_size > MAX_CORPUS_FILE_BYTES:
            raise Refused(f"{file} 超过 {MAX_CORPUS_FILE_BYTES // 2**20} MB，已拒绝读取")
        with target.open("rb") as fh:
            data = fh.read(MAX_CORPUS_FILE_BYTES + 1)
    except (OSError, RuntimeError, ValueError) as exc:  # missing, unreadable, symlink loop, unencodable name
        raise Refused(f"无法读取 {file}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_CORPUS_FILE_BYTES:
        raise Refused(f"{file} 超过 {MAX_CORPUS_FILE_BYTES // 2**20} MB，已拒绝读取")
    return data


class CorpusReader:
    """``read_corpus_file`` once per file for one verification (an answer cites a file many times)."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self._seen: dict[str, bytes | Refused] = {}

    def __call__(self, file: object) -> bytes:
        key = file if isinstance(file, str) else repr(file)
        if key not in self._seen:
            try:
                self._seen[key] = read_corpus_file(self.corpus_dir, file)
            except Refused as exc:
                self._seen[key] = exc
        got = self._seen[key]
        if isinstance(got, Refused):
            raise got
        return got


@dataclass(frozen=True)
class CorpusFacts:
    """What the manifest says: documents by id, statute names, and which articles exist."""

    metas: dict[str, DocumentMeta]
    names: StatuteNames
    read: CorpusReader
    issue_names: frozenset[str] = frozenset()

    @classmethod
    def load(cls, corpus_dir: Path, read: CorpusReader) -> CorpusFacts:
        from ingest.issue_map import issue_map_path, load_issue_map
        from ingest.manifest import load_manifest

        metas = {m.doc_id: m for m in load_manifest(corpus_dir)}
        titles = _statute_titles(metas)
        try:  # an unreadable map names no issue: every issue heading is then reported
            issues = frozenset(i.name for i in load_issue_map(issue_map_path(corpus_dir)).issues)
        except CorpusError:
            issues = frozenset()
        return cls(metas, StatuteNames(titles), read, issues)

    def agreement_parts(self, title: str) -> frozenset[tuple[int, int]] | None:
        """The (section, clause) pairs of the agreement shown as ``title`` (《用户协议》, 《云帆协议》: its short
        title, as its citations and missing-part notes show it), from its parsed file: None when no agreement
        of the corpus is shown so, empty when its file cannot be read."""
        meta = next(
            (m for m in self.metas.values() if m.kind == "agreement" and m.short_title == title), None
        )
        return None if meta is None else self._agreement_parts.get(meta.doc_id, frozenset())

    @cached_property
    def _agreement_parts(self) -> dict[str, frozenset[tuple[int, int]]]:
        """doc id → every readable agreement's (section, clause) pairs, parsed once per verification."""
        from ingest.parsers import parse_document
        from ingest.types import Document

        parts = {}
        for meta in self.metas.values():
            if meta.kind == "agreement":
                try:
                    text = self.read(meta.file).decode("utf-8")
                    ids = [c.chunk_id for c in parse_document(Document(meta, text)).chunks]
                except (Refused, UnicodeDecodeError, ValueError, CorpusError):
                    continue
                parts[meta.doc_id] = agreement_parts(ids, meta.doc_id)
        return parts

    @cached_property
    def names_with_repealed(self) -> StatuteNames:
        """The statute names, with the codes the corpus's statutes repeal by name (read from their files
        only when a note about another statute is checked; an unreadable file repeals nothing)."""
        repealed: tuple[str, ...] = ()
        for meta in self.metas.values():
            if meta.kind == "statute":
                try:
                    repealed += repealed_codes(self.read(meta.file).decode("utf-8"))
                except (Refused, UnicodeDecodeError):
                    continue
        return StatuteNames(_statute_titles(self.metas), repealed)

    def doc_problem(self, c: Citation) -> str:
        meta = self.metas.get(c.doc_id)
        if meta is None:
            return f"doc_id {c.doc_id!r} 不在语料清单（manifest.toml）中"
        if meta.file != c.file:
            return f"{c.file} 不是 {c.doc_id} 的语料文件（清单中为 {meta.file}）"
        return ""

    def statute_count(self, title: str) -> tuple[str, int] | None:
        """(doc id, number of articles) of the statute shown as ``title`` (《民法典》)."""
        bare = title.strip("《》")
        for doc_id, meta in self.metas.items():
            if (
                meta.kind == "statute"
                and meta.articles
                and bare in (meta.title.strip("《》"), meta.short_title.strip("《》"))
            ):
                return doc_id, meta.articles
        return None

    def has(self, doc_id: str, number: int, suffix: int) -> bool:
        return self._in_statute(doc_id, number, suffix)

    def statutes_having(self, number: int, suffix: int) -> list[str]:
        """The doc ids of the corpus's statutes that have article (number, suffix)."""
        return [
            d for d, m in self.metas.items() if m.kind == "statute" and self._in_statute(d, number, suffix)
        ]

    def has_article(self, ref: ArticleRef) -> bool:
        docs = [ref.doc_id] if ref.doc_id else [d for d, m in self.metas.items() if m.kind == "statute"]
        return any(self._in_statute(d, ref.number, ref.suffix) for d in docs)

    def _in_statute(self, doc_id: str, number: int, suffix: int) -> bool:
        meta = self.metas.get(doc_id)
        if meta is None or meta.kind != "statute" or not meta.articles:
            return False
        if not suffix:  # plain articles run 1..N, and ingest holds the file to the manifest's N
            return 1 <= number <= meta.articles
        return (doc_id, number, suffix) in self._suffixed(doc_id)

    def _suffixed(self, doc_id: str) -> set[tuple[str, int, int]]:
        """第X条之Y articles of a statute, from its parsed file (none if it cannot be read or parsed)."""
        from ingest.numerals import cn_to_int
        from ingest.parsers import parse_document
        from ingest.types import Document

        meta = self.metas[doc_id]
        try:
            chunks = parse_document(Document(meta, self.read(meta.file).decode("utf-8"))).chunks
            return {
                (doc_id, c.article_no, cn_to_int(c.article.split("之", 1)[1]))
                for c in chunks
                if "之" in c.article
            }
        except (Refused, UnicodeDecodeError, ValueError, CorpusError):
            return set()


def _statute_titles(metas: dict[str, DocumentMeta]) -> dict[str, list[str]]:
    """doc id → the names a statute is cited by (its title and short title), for ``StatuteNames``."""
    return {m.doc_id: [m.title, m.short_title] for m in metas.values() if m.kind == "statute"}
