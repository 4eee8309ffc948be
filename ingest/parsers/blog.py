"""The blog post: one chunk per headed section, and its trailing link list skipped.

The post is plain text whose headings are short lines without sentence
punctuation (备案≠免责金牌, 用户损失,谁来兜底?). After the article body the
file carries a list of titles of unrelated articles (permits, licences); that
list must never support an answer, so it is reported as skipped, not chunked.
"""

from __future__ import annotations

import re

from ingest.parsers.base import ChunkBuilder, Line, ParseResult, group_spans, split_lines
from ingest.types import Document

MAX_HEADING = 30
MIN_CHARS, MAX_CHARS, HARD_MAX_CHARS = 200, 600, 800
MIN_TRAILING_LIST = 5  # a bullet-only tail at least this long is the unrelated link list
TRAILING_LIST_REASON = "与正文无关的文章标题列表（许可证/资质类），不作为回答依据"
_BULLET = re.compile(r"\s*[-*•]\s")
_NOT_HEADING_END = tuple("，,：:；;、")


def is_heading(text: str, limit: int = MAX_HEADING) -> bool:
    """A short line that is not a sentence or a bullet: 备案≠免责金牌, 用户损失,谁来兜底?"""
    text = text.strip()
    return (
        0 < len(text) <= limit
        and not _BULLET.match(text + " ")
        and "。" not in text
        and not text.endswith(_NOT_HEADING_END)
    )


def _trailing_list(lines: list[Line]) -> int:
    """Index of the first line of a bullet-only block ending the file (len(lines) if none)."""
    index = len(lines)
    bullets = 0
    while index > 0 and (lines[index - 1].blank or _BULLET.match(lines[index - 1].text)):
        index -= 1
        bullets += not lines[index].blank
    while index < len(lines) and lines[index].blank:
        index += 1
    starts_after_gap = index > 0 and lines[index - 1].blank
    return index if bullets >= MIN_TRAILING_LIST and starts_after_gap else len(lines)


def parse_blog(doc: Document) -> ParseResult:
    builder = ChunkBuilder(doc)
    lines = split_lines(doc.text)
    body_end = _trailing_list(lines)
    if body_end < len(lines):
        builder.skip(lines[body_end].start, lines[-1].end, TRAILING_LIST_REASON)
    body = [line for line in lines[:body_end] if not line.blank]
    heading = ""
    if body and is_heading(body[0].text, limit=2 * MAX_HEADING):
        heading = body.pop(0).text.strip()  # the post's title: shown in doc_title, not a chunk
    sections: list[tuple[str, list[Line]]] = []
    for line in body:
        if is_heading(line.text):
            heading = line.text.strip()
            sections.append((heading, []))
        elif sections:
            sections[-1][1].append(line)
        else:
            sections.append((heading, [line]))
    number = 0
    for title, content in sections:
        spans = [(line.start, line.end) for line in content]
        for start, end in group_spans(spans, MAX_CHARS, MIN_CHARS, HARD_MAX_CHARS):
            number += 1
            locator = f"{doc.meta.short_title} · {title}" if title else doc.meta.short_title
            builder.add(str(number), start, end, locator, section=title, breadcrumb=(title,) if title else ())
    return builder.result()
