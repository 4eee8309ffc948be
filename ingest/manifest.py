"""Read and validate ``corpus/manifest.toml`` and load the corpus files it lists.

Every citation is checked against exact character offsets, so files are decoded
strictly as UTF-8 from bytes with no newline translation, their sha256 must
match the manifest, and no corpus file may exist that the manifest forgets.
Files are read through ``ingest.corpus_files``: inside the corpus folder
(symlinks resolved), regular files only, at most 10 MB each.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path, PurePosixPath

from ingest.corpus_files import MAX_MANIFEST_BYTES, read_corpus_file
from ingest.errors import CorpusError
from ingest.types import DOC_KINDS, USER, Document, DocumentMeta

MANIFEST_NAME = "manifest.toml"
CONTENT_DIRS = ("sources", "statutes")  # every .md/.txt below these must be listed
CONTENT_SUFFIXES = (".md", ".txt")
REQUIRED_KEYS = ("doc_id", "title", "short_title", "kind", "file", "sha256")
OPTIONAL_KEYS = ("effective", "provenance", "source", "articles", "raw_file", "raw_sha256", "added_by", "added_on")
_DOC_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a whole file, as manifests, model cards and eval provenance record it."""
    return sha256_bytes(path.read_bytes())


def decode_utf8(data: bytes, file: str) -> str:
    """Strict UTF-8, newlines kept as they are; a bad byte is reported with its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CorpusError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); save the file as UTF-8",
            file=file,
            line=line,
        ) from exc


def _line_of(text: str, doc_id: str, occurrence: int = 1) -> int | None:
    """Line of the n-th ``doc_id = "<doc_id>"`` in the manifest text (for error messages)."""
    pattern = re.compile(rf'^\s*doc_id\s*=\s*["\']{re.escape(doc_id)}["\']', re.M)
    matches = list(pattern.finditer(text))
    if len(matches) < occurrence:
        return None
    return text.count("\n", 0, matches[occurrence - 1].start()) + 1


def _table_line(text: str, index: int) -> int | None:
    """Line of the index-th ``[[documents]]`` header."""
    matches = list(re.finditer(r"^\s*\[\[\s*documents\s*\]\]", text, re.M))
    return text.count("\n", 0, matches[index].start()) + 1 if index < len(matches) else None


def _meta_from_table(table: dict, index: int, text: str, where: str) -> DocumentMeta:
    line = _table_line(text, index)
    if not isinstance(table, dict):
        raise CorpusError("each [[documents]] entry must be a table", file=where, line=line)
    missing = [key for key in REQUIRED_KEYS if not table.get(key)]
    if missing:
        raise CorpusError(f"document #{index + 1} lacks required key(s): {', '.join(missing)}", file=where, line=line)
    unknown = sorted(set(table) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        allowed = ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)
        raise CorpusError(f"unknown key(s) {', '.join(unknown)} (allowed: {allowed})", file=where, line=line)
    doc_id = str(table["doc_id"])
    line = _line_of(text, doc_id) or line
    if not _DOC_ID_RE.fullmatch(doc_id):
        raise CorpusError(f"doc_id {doc_id!r} must be lowercase letters, digits and '-'", file=where, line=line)
    kind = table["kind"]
    if kind not in DOC_KINDS:
        raise CorpusError(f"{doc_id}: unknown kind {kind!r} (one of {', '.join(DOC_KINDS)})", file=where, line=line)
    file = str(table["file"])
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or "\\" in file:
        raise CorpusError(f"{doc_id}: file {file!r} must be a relative path inside the corpus", file=where, line=line)
    sha = str(table["sha256"]).lower()
    if not _SHA_RE.fullmatch(sha):
        raise CorpusError(f"{doc_id}: sha256 must be 64 hex digits", file=where, line=line)
    articles = table.get("articles")
    if kind == "statute" and (not isinstance(articles, int) or isinstance(articles, bool) or articles < 1):
        raise CorpusError(f"{doc_id}: a statute needs articles = <positive integer>", file=where, line=line)
    added_by = str(table.get("added_by", ""))
    if added_by not in ("", USER):
        raise CorpusError(f'{doc_id}: added_by must be "{USER}" or absent (bundled)', file=where, line=line)
    return DocumentMeta(
        doc_id=doc_id,
        title=str(table["title"]),
        short_title=str(table["short_title"]),
        kind=kind,
        file=file,
        sha256=sha,
        effective=str(table.get("effective", "")),
        provenance=str(table.get("provenance", "")),
        source=str(table.get("source", "")),
        articles=articles if kind == "statute" else None,
        added_by=added_by,
        added_on=str(table.get("added_on", "")),
    )


def _read_manifest(corpus_dir: Path) -> tuple[str, dict, str]:
    path = corpus_dir / MANIFEST_NAME
    where = str(path)
    try:
        data = read_corpus_file(corpus_dir, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise CorpusError("manifest not found (the corpus directory needs a manifest.toml)", file=where) from None
    except OSError as exc:
        raise CorpusError(f"cannot read the manifest: {exc.strerror or exc}", file=where) from None
    text = decode_utf8(data, where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise CorpusError(f"invalid TOML: {exc}", file=where, line=int(match.group(1)) if match else None) from exc
    return text, data, where


def load_manifest(corpus_dir: str | Path) -> list[DocumentMeta]:
    """The manifest entries in file order, validated (keys, kinds, unique ids and files)."""
    return _load_manifest(Path(corpus_dir))[0]


def _load_manifest(corpus_dir: Path) -> tuple[list[DocumentMeta], str, str]:
    text, data, where = _read_manifest(corpus_dir)
    tables = data.get("documents")
    if not isinstance(tables, list) or not tables:
        raise CorpusError("no [[documents]] entries", file=where)
    metas: list[DocumentMeta] = []
    seen_ids: set[str] = set()
    seen_files: dict[str, str] = {}
    for index, table in enumerate(tables):
        meta = _meta_from_table(table, index, text, where)
        if meta.doc_id in seen_ids:
            line = _line_of(text, meta.doc_id, 2)
            raise CorpusError(f"duplicate doc_id {meta.doc_id!r}", file=where, line=line)
        if meta.file in seen_files:
            line = _line_of(text, meta.doc_id)
            raise CorpusError(
                f"{meta.doc_id}: file {meta.file} is already listed for {seen_files[meta.file]!r}", file=where, line=line
            )
        seen_ids.add(meta.doc_id)
        seen_files[meta.file] = meta.doc_id
        metas.append(meta)
    return metas, text, where


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML also forbids raw."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def entry_toml(meta: DocumentMeta) -> str:
    """``meta`` as one ``[[documents]]`` table, in the key order of the hand-written entries.

    Written by ``legalqa add``; ``load_manifest`` reads it back to the same ``DocumentMeta``.
    """
    lines = ["[[documents]]"]
    for key in ("doc_id", "title", "short_title", "kind", "file", "sha256", "effective", "provenance"):
        lines.append(f"{key} = {_toml_string(str(getattr(meta, key)))}")
    if meta.source:
        lines.append(f"source = {_toml_string(meta.source)}")
    if meta.articles is not None:
        lines.append(f"articles = {int(meta.articles)}")
    for key in ("added_by", "added_on"):
        if getattr(meta, key):
            lines.append(f"{key} = {_toml_string(getattr(meta, key))}")
    return "\n".join(lines) + "\n"


def unlisted_files(corpus_dir: str | Path, metas: list[DocumentMeta]) -> list[str]:
    """Content files (.md/.txt under sources/ and statutes/) that no manifest entry names."""
    root = Path(corpus_dir)
    listed = {meta.file for meta in metas}
    found = []
    for sub in CONTENT_DIRS:
        base = root / sub
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file() and path.suffix.lower() in CONTENT_SUFFIXES:
                    rel = path.relative_to(root).as_posix()
                    if rel not in listed:
                        found.append(rel)
    return found


def load_documents(corpus_dir: str | Path) -> list[Document]:
    """Every manifest document with its exact text; raises CorpusError on any mismatch."""
    root = Path(corpus_dir)
    metas, manifest_text, manifest_path = _load_manifest(root)
    extra = unlisted_files(root, metas)
    if extra:
        raise CorpusError(
            f"not listed in {MANIFEST_NAME}: add a [[documents]] entry for it or remove it", file=str(root / extra[0])
        )
    documents = []
    for meta in metas:
        path = root / meta.file
        try:
            data = read_corpus_file(root, meta.file)
        except FileNotFoundError:
            line = _line_of(manifest_text, meta.doc_id)
            raise CorpusError(
                f"{meta.doc_id}: listed file {meta.file} does not exist", file=manifest_path, line=line
            ) from None
        except OSError as exc:
            raise CorpusError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
        text = decode_utf8(data, str(path))
        actual = sha256_bytes(data)
        if actual != meta.sha256:
            raise CorpusError(
                f"sha256 mismatch: manifest says {meta.sha256}, file has {actual}; if the change is intended, "
                f'set sha256 = "{actual}" for doc_id "{meta.doc_id}" in {manifest_path}',
                file=str(path),
            )
        documents.append(Document(meta=meta, text=text))
    return documents
