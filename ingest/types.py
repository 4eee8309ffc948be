"""Core data types shared by every layer.

Offsets are Python string indices (code points) into the corpus file decoded
as UTF-8 without newline translation, so ``file_text[start:end] == text``
holds for every chunk and every citation can be checked mechanically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOC_KINDS = ("blog", "paper", "agreement", "statute")
USER = "user"  # DocumentMeta.added_by of a user-added document
USER_ADDED_MARK = "（用户添加）"  # shown after the title/locator of a user-added document

# the kinds of document made of provisions that bind their parties (the law, the platform's terms); the
# paper and the blog are prose that comments on them
PROVISION_KINDS: tuple[str, ...] = ("statute", "agreement")


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """One manifest entry: what a corpus file is and where it came from."""

    doc_id: str
    title: str
    short_title: str
    kind: str
    file: str  # path relative to the corpus directory
    sha256: str
    effective: str = ""
    provenance: str = ""  # developers' note on where the file came from (English, technical)
    articles: int | None = None  # expected article count, statutes only
    # "user" for a document legal staff added with `legalqa add` (or the corpus page); "" for a
    # bundled one.  Answers mark citations of user-added documents, which nobody here vetted.
    added_by: str = ""
    added_on: str = ""  # ISO date of that addition
    # the origin as users read it, one line in Chinese: the corpus page shows it, never provenance
    source: str = ""

    @property
    def user_added(self) -> bool:
        return self.added_by == USER


def source_mark(meta: DocumentMeta | None) -> str:
    """The label after a document's title or a citation's locator: （用户添加） for a user-added document.

    The one rule for it, so the browser, ``legalqa ask``, the Markdown export, the
    Answer JSON and the HTTP API cannot disagree about which sources nobody here vetted.
    """
    return USER_ADDED_MARK if meta is not None and meta.user_added else ""


@dataclass(frozen=True, slots=True)
class Document:
    """A corpus file's text with its manifest entry."""

    meta: DocumentMeta
    text: str

    @property
    def doc_id(self) -> str:
        return self.meta.doc_id

    @property
    def sha256(self) -> str:
        return self.meta.sha256


@dataclass(frozen=True, slots=True)
class Chunk:
    """A citable passage: an exact slice of one corpus file.

    ``locator`` is the human citation label (《民法典》第一千二百零二条,
    《用户协议》八、责任限制 第3条第③项, 论文 4.2.2); ``breadcrumb`` is the
    structural path above it (编/章/节, agreement section, paper section).
    """

    chunk_id: str
    doc_id: str
    doc_title: str
    kind: str
    locator: str
    breadcrumb: tuple[str, ...]
    start: int
    end: int
    text: str
    file: str
    sha256: str
    ordinal: int
    article: str = ""  # statute article as written: 第一千二百零二条 / 第十条之一
    article_no: int = 0  # its integer (1202); 0 when not a statute article
    section: str = ""  # agreement/paper section path, e.g. "八、责任限制 › 3 › ③" or "4.2.2"
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"chunk {self.chunk_id}: bad offsets {self.start}:{self.end}")
        if len(self.text) != self.end - self.start:
            raise ValueError(f"chunk {self.chunk_id}: text length does not match offsets")

    @property
    def breadcrumb_text(self) -> str:
        return " › ".join(self.breadcrumb)
