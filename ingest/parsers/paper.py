"""The normalized paper: chunks of a few paragraphs inside one numbered section.

A chunk never crosses a section heading, so its locator (论文 4.2.2 警示说明缺陷)
is always true of all of its text; paragraphs are grouped to about 200-600
characters so a chunk is a citable argument, not a stray sentence or a page.
"""

from __future__ import annotations

from ingest.normalize import heading_text
from ingest.parsers.base import ChunkBuilder, Line, ParseResult, group_spans, sentence_spans, split_lines
from ingest.types import Document

MIN_CHARS, MAX_CHARS, HARD_MAX_CHARS = 200, 600, 800
LONG_PARAGRAPH = 700  # longer paragraphs are split at sentence ends first
ABSTRACT = "摘要"
ABSTRACT_KEY = "abstract"


def _section_of(heading: str, stack: list[str]) -> tuple[str, str, tuple[str, ...]]:
    """(section, locator label, breadcrumb) for a heading; updates the numbered-heading stack."""
    if heading in (ABSTRACT, "Abstract"):
        stack.clear()
        return ABSTRACT, heading, (heading,)
    number, _, title = heading.partition(" ")
    parts = number.rstrip(".").split(".")
    del stack[len(parts) - 1 :]
    stack.extend([""] * (len(parts) - 1 - len(stack)))
    stack.append(heading)
    section = ".".join(parts)
    return section, f"{section} {title}", tuple(s for s in stack if s)


def parse_paper(doc: Document) -> ParseResult:
    builder = ChunkBuilder(doc)
    text = doc.text
    stack: list[str] = []
    section, label, crumb = "", "", ()
    paragraphs: list[Line] = []
    counters: dict[str, int] = {}

    def flush() -> None:
        spans: list[tuple[int, int]] = []
        for para in paragraphs:
            if para.end - para.start > LONG_PARAGRAPH:
                spans.extend(sentence_spans(text, para.start, para.end))
            else:
                spans.append((para.start, para.end))
        key = ABSTRACT_KEY if section == ABSTRACT else section or "0"
        locator = f"{doc.meta.short_title} {label}".rstrip()
        for start, end in group_spans(spans, MAX_CHARS, MIN_CHARS, HARD_MAX_CHARS):
            counters[key] = counters.get(key, 0) + 1
            builder.add(f"{key}/{counters[key]}", start, end, locator, section=section, breadcrumb=crumb)
        paragraphs.clear()

    for line in split_lines(text):
        if line.blank:
            continue
        heading = heading_text(line.text.strip())
        if heading is not None:
            flush()
            section, label, crumb = _section_of(heading, stack)
        else:
            paragraphs.append(line)
    flush()
    return builder.result()
