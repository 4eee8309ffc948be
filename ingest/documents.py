"""Documents legal staff add themselves: a user's file → a checked, parsed corpus entry.

``prepare_document`` does everything that can fail on the user's input before a
single byte is written: the file must be UTF-8 text within the size limit, the title,
id and date must be sane and new, the content must not be in the corpus already,
and the text (stored with LF line endings) is parsed with the parser of its kind, so a problem is reported with the user's own file name and line (not the
corpus copy's, whose lines shift when front matter is generated).  The result
says exactly what will be written and how it was chunked, which the corpus page
shows for confirmation; ``ingest.corpus_edit`` then writes it transactionally.

Statutes carry YAML front matter in this corpus (title, effective date, article
count).  A user's statute file without it gets one generated from the title and
effective date; one with it must agree with what was typed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path, PurePath

from ingest.corpus_files import confined_path, read_corpus_file
from ingest.errors import CorpusError, LegalQAError
from ingest.manifest import decode_utf8, load_manifest, sha256_bytes
from ingest.parsers import SkippedBlock, parse_document
from ingest.settings import Settings
from ingest.types import DOC_KINDS, PROVISION_KINDS, USER, Chunk, Document, DocumentMeta

SUFFIXES = (".md", ".txt")
KIND_DIRS = {"statute": "statutes", "agreement": "sources", "paper": "sources", "blog": "sources"}
_DOC_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FRONT_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$")
MAX_TITLE = 200
MANY_PASSAGES = 500  # above this, adding warns that embedding takes minutes (indexing_note)
MAX_PROVENANCE = 2000


@dataclass(frozen=True)
class AddRequest:
    """What the user typed (CLI flags or the corpus page's fields)."""

    kind: str
    title: str
    doc_id: str = ""
    short_title: str = ""
    effective: str = ""
    provenance: str = ""


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to be written: the exact corpus bytes, their manifest entry and their chunks."""

    meta: DocumentMeta
    data: bytes  # what the corpus file will hold; meta.sha256 is its hash
    chunks: tuple[Chunk, ...]
    skipped: tuple[SkippedBlock, ...]
    source: str  # the user's file name, for messages
    front_matter_added: bool = False
    # already listed, with this content, but not in the live index: an add killed mid-ingest
    # (SIGKILL, power loss: Ctrl-C rolls back).  Adding it again only runs the ingest.
    resumed: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def read_user_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a file to add: a regular file (a FIFO would block) of at most ``max_bytes``
    (``Settings.max_document_bytes``), checked before it is read."""
    shown = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise CorpusError("is a folder; give the path of one text file", file=shown)
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError("is not a regular file; it is not read", file=shown)
        check_size(info.st_size, max_bytes, shown)
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise CorpusError("file not found", file=shown) from None
    except OSError as exc:
        raise CorpusError(f"cannot read the file: {exc.strerror or exc}", file=shown) from None
    if len(data) > max_bytes:
        raise CorpusError("grew past the size limit while being read", file=shown)
    return data


def check_size(size: int, max_bytes: int, source: str) -> None:
    """Refuse a file over the limit before it is parsed: a huge one would embed for many minutes."""
    if size > max_bytes:
        raise CorpusError(
            f"is {_mb(size)} ({size:,} bytes), over the {_mb(max_bytes)} limit for one document "
            f"(LEGALQA_MAX_DOCUMENT_BYTES={max_bytes}); split it into several documents",
            file=source,
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 // 10 else f"{size / 2**10:.0f} KB"


def indexing_note(prepared: PreparedDocument) -> str:
    """A warning, shown before a long ingest starts, when the document has many passages to embed.

    Embedding runs at a few passages a second on a laptop CPU (3 a second on two shared cores), so
    3,000 passages took 9 to 15 minutes, which looked like a hang without it (``--quiet`` hides the bar).
    """
    count = len(prepared.chunks)
    if count <= MANY_PASSAGES:
        return ""
    fast, slow = max(1, count // 600), max(2, count // 180)  # 10 and 3 passages a second
    return f"注意：共 {count} 个段落要嵌入并建立索引，可能需要 {fast}–{slow} 分钟。"


def prepare_document(
    settings: Settings, data: bytes, source: str, request: AddRequest, *, today: date | None = None
) -> PreparedDocument:
    """Check and parse ``data`` (the user's file ``source``) as a new document; nothing is written.

    Raises ``LegalQAError``/``CorpusError`` with one line naming the field, or the file and line.
    The one exception to "new": a user-added document with this content that is listed but not
    indexed comes back ``resumed``, so running the interrupted ``add`` again finishes it.
    """
    corpus_dir = settings.corpus_dir
    kind = request.kind
    if kind not in DOC_KINDS:
        raise LegalQAError(f"kind: {kind!r} is not a document kind (one of {', '.join(DOC_KINDS)})")
    suffix = PurePath(source).suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(
            "only UTF-8 text files (.md or .txt) can be added; save the document as text first", file=source
        )
    title = _label(request.title, "title", MAX_TITLE)
    short_title = _label(request.short_title, "short-title", MAX_TITLE) if request.short_title.strip() else ""
    short_title = default_short_title(kind, short_title or title)
    effective = _date(request.effective, "effective")
    provenance = _label(request.provenance, "provenance", MAX_PROVENANCE, multiline=True) if request.provenance.strip() else ""
    check_size(len(data), settings.max_document_bytes, source)  # an upload does not pass through read_user_file
    text = stored_text(data, source)
    if not text.strip():
        raise CorpusError("the file is empty", file=source)

    metas = load_manifest(corpus_dir)
    same = same_content(corpus_dir, metas, text)
    if same is not None and interrupted(settings, same):
        return _resumed(settings, same, source)
    if same is not None:
        raise CorpusError(
            f"has the same content as {same.doc_id!r} ({same.file}), already in the corpus", file=source
        )
    doc_id = _doc_id(request.doc_id, source, kind, data)
    taken = {m.doc_id for m in metas}
    if doc_id in taken:
        hint = "choose another --id" if request.doc_id else f"its id {doc_id!r} (from the file name) is taken; pass --id"
        raise LegalQAError(f"id: a document with id {doc_id!r} is already in the corpus; {hint}")

    added_on = (today or date.today()).isoformat()
    meta = DocumentMeta(
        doc_id=doc_id,
        title=title,
        short_title=short_title,
        kind=kind,
        file=source,  # for the first parse, so problems name the user's file and its lines
        sha256="0" * 64,
        effective=effective,
        provenance=provenance or f"用户添加：法务人员于 {added_on} 从文件 {PurePath(source).name} 添加（未经项目核对）。",
        added_by=USER,
        added_on=added_on,
    )
    first = parse_document(Document(meta=meta, text=text))
    added_front = False
    if kind == "statute":
        meta, text, added_front = _statute(meta, text, first.chunks, source)
    if not first.chunks:
        raise CorpusError(f"the {kind} parser found no passages in it", file=source)

    final = text.encode("utf-8")
    sha = sha256_bytes(final)
    dest = f"{KIND_DIRS[kind]}/{doc_id}{'.md' if kind == 'statute' else suffix}"
    if any(m.file == dest for m in metas) or confined_path(corpus_dir, dest).exists():
        raise LegalQAError(f"id: the corpus already has a file {dest}; choose another --id")
    meta = replace(meta, file=dest, sha256=sha)
    result = parse_document(Document(meta=meta, text=text))
    return PreparedDocument(meta, final, result.chunks, result.skipped, source, added_front)


def content_key(text: str) -> str:
    """What a document says, as a hash: its text without a BOM, YAML front matter or a leading
    ``# title`` line, lines joined by LF, surrounding whitespace dropped.

    Why not the file's sha256: a statute added without front matter is stored with one generated
    from the title, date and file name, so a byte-identical copy under another name would get a
    different file hash and be cited twice.  What is dropped here is exactly what ``add`` may
    generate (``_with_heading`` adds the title line only when the body has none), so the user's
    file and its stored copy have the same key.
    """
    lines = text.removeprefix("\ufeff").splitlines()
    body = _front_matter_end(lines)
    while body < len(lines) and not lines[body].strip():
        body += 1
    if body < len(lines) and lines[body].startswith("# "):
        body += 1
    return sha256_bytes("\n".join(lines[body:]).strip().encode("utf-8"))


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after a leading ``---`` block (0 when there is none or it is never closed)."""
    if not lines or lines[0].strip() != "---":
        return 0
    return next((no + 1 for no in range(1, len(lines)) if lines[no].strip() in ("---", "...")), 0)


def same_content(corpus_dir: str | Path, metas: list[DocumentMeta], text: str) -> DocumentMeta | None:
    """The listed document whose ``content_key`` is that of ``text``, of any kind; None if there is none.

    A listed file that cannot be read is passed over: ``legalqa ingest`` names it, and a copy of
    it cannot be cited twice while it is unreadable.
    """
    key = content_key(text)
    for meta in metas:
        try:
            stored = read_corpus_file(corpus_dir, meta.file).decode("utf-8", errors="replace")
        except (OSError, LegalQAError):
            continue
        if content_key(stored) == key:
            return meta
    return None


def interrupted(settings: Settings, meta: DocumentMeta) -> bool:
    """Whether ``meta`` is a user-added document that the live index lacks (or has with other content).

    ``add`` lists the document before it ingests; only a kill in between (SIGKILL, power loss) leaves
    it so, since any failure the process survives, Ctrl-C included, restores the manifest.  Bundled
    documents are never resumed: ``legalqa ingest`` is their way in.
    """
    return meta.user_added and indexed_documents(settings).get(meta.doc_id) != meta.sha256


def _resumed(settings: Settings, meta: DocumentMeta, source: str) -> PreparedDocument:
    """The listed document as stored, parsed as ingest will parse it, to be ingested and nothing else."""
    data = read_corpus_file(settings.corpus_dir, meta.file)
    result = parse_document(Document(meta=meta, text=decode_utf8(data, meta.file)))
    return PreparedDocument(meta, data, result.chunks, result.skipped, source, resumed=True)


def stored_text(data: bytes, source: str) -> str:
    """The user's file as the corpus will keep it: strict UTF-8, without a BOM, every CRLF and lone CR
    made LF.

    The stored copy is what citation offsets and the manifest's sha256 refer to, and the corpus is
    read without newline translation; kept, a ``\\r`` would count in every offset, so reading the file
    with plain ``open()`` (which translates newlines) would give another slice than the quote.
    """
    text = decode_utf8(data, source).removeprefix("\ufeff")  # a BOM is not content
    return text.replace("\r\n", "\n").replace("\r", "\n")


def default_short_title(kind: str, title: str) -> str:
    """A document of provisions is cited as 《短标题》第三条, like the bundled statutes and agreement."""
    if kind not in PROVISION_KINDS or title.startswith("《"):
        return title
    return f"《{title.strip('《》')}》"


def _label(value: str, field: str, limit: int, *, multiline: bool = False) -> str:
    """A title-like field: printable text, one line (provenance may have several), not too long."""
    value = value.strip()
    if not value:
        raise LegalQAError(f"{field}: is empty; give the document's {field.replace('-', ' ')}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LegalQAError(f"{field}: is not valid text (undecodable bytes)") from None
    bad = _CONTROL.search(value.replace("\n", " ") if multiline else value)
    if bad:
        raise LegalQAError(f"{field}: contains the control character U+{ord(bad.group(0)):04X}; use one line of plain text")
    if len(value) > limit:
        raise LegalQAError(f"{field}: is {len(value)} characters long; at most {limit}")
    return value


def _date(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise LegalQAError(f"{field}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-06-03") from None
    return value


def _doc_id(given: str, source: str, kind: str, data: bytes) -> str:
    """The id typed, or one made from the file name (``our-terms.md`` → ``our-terms``)."""
    if given.strip():
        doc_id = given.strip()
        if not _DOC_ID.fullmatch(doc_id):
            raise LegalQAError(f"id: {doc_id!r} must be 1-64 lowercase letters, digits and '-', starting with a letter or digit")
        return doc_id
    slug = re.sub(r"[^a-z0-9]+", "-", PurePath(source).stem.lower()).strip("-")[:64].strip("-")
    return slug or f"user-{kind}-{sha256_bytes(data)[:8]}"


def _statute(meta: DocumentMeta, text: str, chunks: tuple[Chunk, ...], source: str) -> tuple[DocumentMeta, str, bool]:
    """The article count, and front matter: checked against the typed fields, or generated."""
    count = max((c.article_no for c in chunks if c.article_no), default=0)
    if not count:
        raise CorpusError(
            "no articles found: a statute needs lines that start with 第一条, 第二条, … followed by a space",
            file=source,
        )
    front = read_front_matter(text)
    if front is None:
        if not meta.effective:
            raise LegalQAError(
                "effective: a statute needs its effective date; pass --effective YYYY-MM-DD "
                "(or put current_version_effective in the file's front matter)"
            )
        meta = replace(meta, articles=count)
        return meta, statute_front_matter(meta, PurePath(source).name) + _with_heading(text, meta.title), True
    fields, lines = front
    for key, typed in (("title", meta.title), ("current_version_effective", meta.effective)):
        written = fields.get(key) or (fields.get("effective", "") if key == "current_version_effective" else "")
        if written and typed and written != typed:
            raise CorpusError(
                f"front matter says {key}: {written!r} but {'--effective' if 'effective' in key else '--title'} "
                f"is {typed!r}; make them the same",
                file=source,
                line=lines.get(key) or lines.get("effective"),
            )
    effective = meta.effective or _date(fields.get("current_version_effective") or fields.get("effective", ""), "effective")
    if not effective:
        raise LegalQAError("effective: a statute needs its effective date; pass --effective YYYY-MM-DD")
    declared = fields.get("articles", "")
    if declared and declared != str(count):
        raise CorpusError(
            f"front matter says articles: {declared} but the text has {count} articles; fix one of them",
            file=source,
            line=lines.get("articles"),
        )
    return replace(meta, effective=effective, articles=count), text, False


def read_front_matter(text: str) -> tuple[dict[str, str], dict[str, int]] | None:
    """Top-level ``key: value`` pairs of a leading ``---`` block and their lines; None if there is none.

    Only the scalar keys this corpus uses are needed (title, effective, articles),
    so this reads simple lines rather than pulling in a YAML library.
    """
    lines = text.splitlines()
    end = _front_matter_end(lines)
    if not end:
        return None  # none, or never closed: the statute parser reports that, with the line
    fields: dict[str, str] = {}
    where: dict[str, int] = {}
    for no, line in enumerate(lines[1 : end - 1], start=2):
        match = _FRONT_KEY.fullmatch(line)
        if match:
            key, raw = match.groups()
            fields[key], where[key] = _scalar(raw), no
    return fields, where


def _scalar(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            return str(json.loads(raw))
        except ValueError:
            return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def statute_front_matter(meta: DocumentMeta, source_name: str) -> str:
    """Front matter in the shape of the bundled statutes' (tests/test_corpus.py reads the same keys)."""

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    return (
        "---\n"
        f"title: {q(meta.title)}\n"
        f"short_title: {q(meta.short_title)}\n"
        'kind: "user-added"\n'
        f"effective: {q(meta.effective)}\n"
        f"current_version_effective: {q(meta.effective)}\n"
        f"articles: {meta.articles}\n"
        f'added_by: "{USER}"\n'
        f"added_on: {q(meta.added_on)}\n"
        f"source_file: {q(source_name)}\n"
        "editorial_notes:\n"
        f'  - "front matter generated by legalqa add from the title and effective date typed; '
        'the text below it is the added file as it was"\n'
        "---\n\n"
    )


def _with_heading(text: str, title: str) -> str:
    """The body with a ``# title`` line first, as the bundled statutes have (the parser skips it)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return text if first.startswith("# ") else f"# {title}\n\n{text}"


# -- reading what is there ----------------------------------------------------------


def user_added_ids(corpus_dir: str | Path) -> frozenset[str]:
    """Ids of the user-added documents; empty when the manifest cannot be read (a mark, never an error)."""
    try:
        return frozenset(m.doc_id for m in load_manifest(corpus_dir) if m.user_added)
    except (LegalQAError, OSError):
        return frozenset()


@dataclass(frozen=True)
class DocumentRow:
    meta: DocumentMeta
    chunks: int | None  # in the live index; None when the index does not have the document


def document_rows(settings: Settings) -> list[DocumentRow]:
    """The manifest's documents with their chunk counts in the live index (no model is loaded)."""
    counts = {d: int(v.get("chunks", 0)) for d, v in _live_index_documents(settings).items()}
    return [DocumentRow(m, counts.get(m.doc_id)) for m in load_manifest(settings.corpus_dir)]


def indexed_documents(settings: Settings) -> dict[str, str]:
    """doc_id → sha256 of every document in the live index; empty when there is none."""
    return {d: str(v.get("sha256", "")) for d, v in _live_index_documents(settings).items()}


def _live_index_documents(settings: Settings) -> dict[str, dict]:
    """The ``documents`` table of the live index generation's manifest (no model is loaded)."""
    from ingest import index_layout as layout

    generation = layout.read_current(settings.index_dir)
    manifest = layout.read_manifest(settings.index_dir / generation) if generation else None
    documents = manifest.get("documents") if manifest else None
    return documents if isinstance(documents, dict) else {}
