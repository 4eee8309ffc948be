"""What every parser shares: results, line splitting with exact offsets, chunk assembly.

Parsers work on lines of the exact file text (``\\n`` or ``\\r\\n``) and only
ever cut chunks as slices of it, so ``doc.text[chunk.start:chunk.end] ==
chunk.text`` holds by construction.

A chunk longer than ``MAX_CHUNK_CHARS`` is an error naming the file and line,
not split: such a passage means the parser found none of the structure it cuts
at (articles, numbered clauses, headings, sentence ends), e.g. a file without
line breaks.  Splitting it blindly would index and cite arbitrary windows as if
they were provisions; refusing says what to fix.  Real passages are far below
the bound (the longest in the corpus is under 1,000 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.errors import CorpusError
from ingest.types import Chunk, Document

MAX_CHUNK_CHARS = 20_000


@dataclass(frozen=True)
class SkippedBlock:
    """A stretch of a corpus file deliberately not chunked (never cited), and why."""

    doc_id: str
    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class ParseResult:
    chunks: tuple[Chunk, ...]
    skipped: tuple[SkippedBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a file: ``text == file_text[start:end]``, line ending excluded; ``no`` is 1-based."""

    no: int
    start: int
    end: int
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


_EOL = re.compile(r"\r\n|\n|\r")


def split_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    pos = 0
    for no, match in enumerate(_EOL.finditer(text), start=1):
        lines.append(Line(no, pos, match.start(), text[pos : match.start()]))
        pos = match.end()
    if pos < len(text):
        lines.append(Line(len(lines) + 1, pos, len(text), text[pos:]))
    return lines


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) to begin at the first and end after the last non-whitespace character."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


SENTENCE_END = re.compile(r"[。！？!?]+[”’」』）)]*|\.(?=\s)[”’)]*")


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split [start, end) after sentence-final punctuation (。！？, or '.' before a space)."""
    spans = []
    pos = start
    for match in SENTENCE_END.finditer(text, start, end):
        if match.end() > pos:
            spans.append(trim(text, pos, match.end()))
            pos = match.end()
    if pos < end:
        spans.append(trim(text, pos, end))
    return [(s, e) for s, e in spans if s < e]


def group_spans(
    spans: list[tuple[int, int]], max_len: int, min_len: int, hard_max: int
) -> list[tuple[int, int]]:
    """Greedily merge consecutive spans into groups of about ``min_len``..``max_len`` characters.

    A span joins the open group if the result stays within ``max_len``, or
    within ``hard_max`` while the group is still shorter than ``min_len``; a
    last group under half of ``min_len`` is folded into the one before when
    that fits ``hard_max``.
    Groups never reorder or overlap, and a single long span stays whole.
    """
    groups: list[list[int]] = []
    for start, end in spans:
        if groups:
            g_start, g_end = groups[-1]
            new_len = end - g_start
            if new_len <= max_len or (g_end - g_start < min_len and new_len <= hard_max):
                groups[-1][1] = end
                continue
        groups.append([start, end])
    if len(groups) > 1 and groups[-1][1] - groups[-1][0] < min_len // 2 and groups[-1][1] - groups[-2][0] <= hard_max:
        last = groups.pop()
        groups[-1][1] = last[1]
    return [(s, e) for s, e in groups]


class ChunkBuilder:
    """Collects chunks for one document: trims, numbers ordinals, keeps ids unique."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.chunks: list[Chunk] = []
        self.skipped: list[SkippedBlock] = []
        self._ids: set[str] = set()

    def add(self, key: str, start: int, end: int, locator: str, **fields: object) -> Chunk | None:
        """Add the chunk ``<doc_id>/<key>`` over [start, end) (trimmed); empty spans are ignored."""
        start, end = trim(self.doc.text, start, end)
        if start >= end:
            return None
        if end - start > MAX_CHUNK_CHARS:
            raise CorpusError(
                f"{locator or key}: one passage of {end - start:,} characters (limit {MAX_CHUNK_CHARS:,}); "
                f"the {self.doc.meta.kind} parser found nothing to split it at: add line breaks, "
                "headings or numbered articles/clauses",
                file=self.doc.meta.file,
                line=self.doc.text.count("\n", 0, start) + 1,
            )
        chunk_id = f"{self.doc.doc_id}/{key}"
        if chunk_id in self._ids:
            n = 2
            while f"{chunk_id}-{n}" in self._ids:
                n += 1
            chunk_id = f"{chunk_id}-{n}"
        self._ids.add(chunk_id)
        meta = self.doc.meta
        chunk = Chunk(
            chunk_id=chunk_id,
            doc_id=meta.doc_id,
            doc_title=meta.title,
            kind=meta.kind,
            locator=locator,
            start=start,
            end=end,
            text=self.doc.text[start:end],
            file=meta.file,
            sha256=meta.sha256,
            ordinal=len(self.chunks),
            **fields,  # type: ignore[arg-type]
        )
        self.chunks.append(chunk)
        return chunk

    def skip(self, start: int, end: int, reason: str) -> None:
        start, end = trim(self.doc.text, start, end)
        if start < end:
            self.skipped.append(SkippedBlock(self.doc.doc_id, start, end, reason))

    def result(self) -> ParseResult:
        return ParseResult(tuple(self.chunks), tuple(self.skipped))
