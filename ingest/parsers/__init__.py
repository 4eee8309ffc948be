"""Structure-aware parsers: one per document kind, each returning exact-offset chunks.

``parse_document(doc)`` dispatches on ``doc.meta.kind``. Chunk ids are
``<doc_id>/<structural key>`` (see each parser), stable as long as the
document's structure is, so citations and eval labels survive re-indexing.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.errors import CorpusError
from ingest.parsers.agreement import parse_agreement
from ingest.parsers.base import ParseResult, SkippedBlock
from ingest.parsers.blog import parse_blog
from ingest.parsers.paper import parse_paper
from ingest.parsers.statute import parse_statute
from ingest.types import Document

CHUNKER_VERSION = "1"  # bump whenever any chunk boundary, id or locator changes

PARSERS: dict[str, Callable[[Document], ParseResult]] = {
    "statute": parse_statute,
    "agreement": parse_agreement,
    "paper": parse_paper,
    "blog": parse_blog,
}


def parse_document(doc: Document) -> ParseResult:
    """Chunk one document with the parser for its kind (CorpusError for an unknown kind)."""
    parser = PARSERS.get(doc.meta.kind)
    if parser is None:
        raise CorpusError(f"no parser for kind {doc.meta.kind!r}", file=doc.meta.file)
    return parser(doc)


__all__ = ["CHUNKER_VERSION", "PARSERS", "ParseResult", "SkippedBlock", "parse_document"]
