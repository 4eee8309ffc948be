"""Statutes: one chunk per article (条), with the 编/分编/章/节 headings in force.

Articles are the unit lawyers cite, so a chunk is exactly one article (from
``第X条`` to the end of its last 款); only an unusually long article is split,
at 款 boundaries. Article numbers are validated (consecutive, none missing,
count as in the manifest) because a silent gap would make a cited article
"not exist" in the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.articles import ARTICLE_LABEL, ArticleRef
from ingest.errors import CorpusError
from ingest.numerals import cn_to_int
from ingest.parsers.base import ChunkBuilder, Line, ParseResult, split_lines, trim
from ingest.types import Document

MAX_ARTICLE_CHARS = 1200  # above this an article is split by 款 into parts
ARTICLE_START = re.compile(ARTICLE_LABEL + r"(?=[\u3000 ])")  # a heading, then a full-width or plain space
HEADING = re.compile(r"(#{1,6})\s+(\S.*?)\s*$")
SUB_PART = re.compile(r"第.+分编")
# Rank of a heading in the breadcrumb: 编 < 分编 < 章 < 节 (分编 shares ### with 章).
_RANK_BY_LEVEL = {2: 1, 3: 3, 4: 4, 5: 5, 6: 6}
_SUB_PART_RANK = 2
ORPHAN_REASON = "不属于任何条文的内容（条文之外），不作为回答依据"


@dataclass
class _Article:
    label: str  # as written: 第一千二百零二条 / 第十条之一
    number: int
    sub: int
    line: Line
    breadcrumb: tuple[str, ...]
    lines: list[Line] = field(default_factory=list)


def _body_start(lines: list[Line], file: str) -> int:
    """Index of the first line after the YAML front matter (0 if there is none)."""
    if not lines or lines[0].text.lstrip("\ufeff").strip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index].text.strip() in ("---", "..."):
            return index + 1
    raise CorpusError("front matter opened with '---' is never closed", file=file, line=1)


def _collect(doc: Document, builder: ChunkBuilder) -> list[_Article]:
    file = doc.meta.file
    lines = split_lines(doc.text)
    slots: dict[int, str] = {}
    articles: list[_Article] = []
    current: _Article | None = None
    orphan: list[Line] = []

    def flush_orphan() -> None:
        if orphan:
            builder.skip(orphan[0].start, orphan[-1].end, ORPHAN_REASON)
            orphan.clear()

    for line in lines[_body_start(lines, file) :]:
        if line.blank:
            continue
        heading = HEADING.match(line.text)
        if heading:
            current = None
            flush_orphan()
            level, title = len(heading.group(1)), heading.group(2)
            if level == 1:
                continue  # the statute's own title, not a breadcrumb level
            rank = _SUB_PART_RANK if SUB_PART.match(title) else _RANK_BY_LEVEL[level]
            slots = {r: t for r, t in slots.items() if r < rank}
            slots[rank] = title
            continue
        start = ARTICLE_START.match(line.text)
        if start:
            flush_orphan()
            try:
                number = cn_to_int(start.group(1))
                sub = cn_to_int(start.group(2)) if start.group(2) else 0
            except ValueError as exc:
                raise CorpusError(f"bad article number {start.group(0)!r}: {exc}", file=file, line=line.no) from exc
            crumb = tuple(slots[r] for r in sorted(slots))
            current = _Article(start.group(0), number, sub, line, crumb, [line])
            articles.append(current)
        elif current is not None:
            current.lines.append(line)
        else:
            orphan.append(line)
    flush_orphan()
    return articles


def _validate(doc: Document, articles: list[_Article]) -> None:
    """Plain articles must run 1..N; 之一/之二 must follow their base article in order."""
    file = doc.meta.file
    last_no, last_sub = 0, 0
    for art in articles:
        if art.sub:
            if art.number != last_no or art.sub != last_sub + 1:
                expected = ArticleRef(last_no, last_sub + 1).label() if last_no else "第一条"
                raise CorpusError(f"{art.label} is out of sequence (expected {expected})", file=file, line=art.line.no)
            last_sub = art.sub
            continue
        if art.number != last_no + 1:
            problem = "missing article(s) before it" if art.number > last_no + 1 else "duplicate or out of order"
            expected = ArticleRef(last_no + 1).label()
            raise CorpusError(f"{art.label} where {expected} was expected: {problem}", file=file, line=art.line.no)
        last_no, last_sub = art.number, 0
    expected = doc.meta.articles
    if expected is not None and last_no != expected:
        raise CorpusError(
            f"found {last_no} articles but the manifest says articles = {expected}; fix the file or the manifest",
            file=file,
        )


def _parts(doc: Document, art: _Article) -> list[tuple[int, int]]:
    """The article as one span, or split at 款 (line) boundaries if it is very long."""
    start, end = trim(doc.text, art.lines[0].start, art.lines[-1].end)
    if end - start <= MAX_ARTICLE_CHARS:
        return [(start, end)]
    parts: list[list[int]] = []
    for line in art.lines:
        if parts and line.end - parts[-1][0] <= MAX_ARTICLE_CHARS:
            parts[-1][1] = line.end
        else:
            parts.append([line.start, line.end])
    return [(s, e) for s, e in parts]


def parse_statute(doc: Document) -> ParseResult:
    builder = ChunkBuilder(doc)
    articles = _collect(doc, builder)
    _validate(doc, articles)
    short = doc.meta.short_title
    for art in articles:
        key = str(art.number) + (f"-{art.sub}" if art.sub else "")
        fields = {"article": art.label, "article_no": art.number, "breadcrumb": art.breadcrumb}
        parts = _parts(doc, art)
        if len(parts) == 1:
            builder.add(key, *parts[0], f"{short}{art.label}", **fields)
            continue
        for index, (start, end) in enumerate(parts, start=1):
            builder.add(f"{key}/{index}", start, end, f"{short}{art.label}（第{index}部分）", **fields)
    return builder.result()
