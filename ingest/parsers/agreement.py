"""The user agreement: one chunk per numbered clause and one per numbered item.

The file's Markdown is inconsistent (a section may be ``### • 一、``, ``- 四、``
or a bare ``• 八、``; clause 8 of 三 is a ``##`` heading), so structure comes
from the numbering, not from the Markdown level: 一、 starts a section, ``1.``
a clause, ①/(1) an item. Unnumbered lines (``- `` bullets, lines broken in
the source) continue what they follow, so a cited item is always whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.numerals import NUMERAL_CHARS, cn_to_int
from ingest.parsers.base import ChunkBuilder, Line, ParseResult, split_lines
from ingest.types import Chunk, Document

_PREFIX = re.compile(r"(?:\s+|#{1,6}(?=\s)|[-*+](?=\s)|•)*")
# A section number is any numeral ingest.numerals reads (一百零六、 needs its 零), except 两: "两、三天内"
# is prose.  A hand-kept class without 零 read 一百零六、 as no heading, so its clauses fell under 一百.
_SECTION_NUMERAL = NUMERAL_CHARS.replace("两", "")
_SECTION = re.compile(rf"([{_SECTION_NUMERAL}]+)、\s*(\S.{{0,38}})")
_CLAUSE = re.compile(r"(?:\*\*)?(\d{1,3})[.．](?!\d)")
_CIRCLED = re.compile(r"[\u2460-\u2473]")  # ①..⑳
_PAREN = re.compile(r"[(（](\d{1,2})[)）]")
_LABEL = re.compile(r"\*\*(【[^】*]{1,20}】|[^*：:]{1,20})[：:]?\*\*")
_CLOSED = ("。", "；", ";", "！", "!", "？", "?")
PREAMBLE = "序言"


@dataclass
class _Block:
    kind: str  # lead | label | clause | item | tail
    key: str
    locator: str
    section: str
    breadcrumb: tuple[str, ...]
    start: int
    end: int = 0
    closed: bool = True  # does its last line end a sentence? (else the next line continues it)

    def extend(self, line_end: int, content: str) -> None:
        self.end = line_end
        self.closed = content.rstrip("*").rstrip().endswith(_CLOSED)


def _content(line: Line) -> tuple[int, str]:
    """Offset and text of a line after Markdown heading/bullet markers (bold ``**`` is kept)."""
    skip = _PREFIX.match(line.text).end()
    return line.start + skip, line.text[skip:]


def _section_number(stripped: str) -> int | None:
    """The number of a section heading line (八、责任限制 -> 8), else None."""
    match = _SECTION.fullmatch(stripped)
    if not match or "。" in stripped:
        return None
    try:
        return cn_to_int(match.group(1)) or None  # 零、 is no section: 0 is the preamble's key
    except ValueError:
        return None  # 一一、… is not a section number


def _item_label(content: str) -> tuple[str, str] | None:
    """(id part, display label) of an item marker: ③ -> ("3", "③"), (1) -> ("1", "(1)")."""
    if _CIRCLED.match(content):
        return str(ord(content[0]) - 0x2460 + 1), content[0]
    match = _PAREN.match(content)
    return (match.group(1), f"({match.group(1)})") if match else None


class _Parser:
    def __init__(self, doc: Document) -> None:
        self.short = doc.meta.short_title
        self.builder = ChunkBuilder(doc)
        self.blocks: list[_Block] = []
        self.numbered_key, self.named = "0", 0
        self.sec_key, self.title = "0", PREAMBLE
        self.clause: str | None = None
        self.labels = 0
        self.open: _Block | None = None  # the block that unnumbered lines continue

    def _start_section(self, key: str, title: str) -> None:
        self.sec_key, self.title = key, title
        self.clause, self.labels, self.open = None, 0, None

    def _new(self, kind: str, key: str, tail: str, section: str, crumb: tuple[str, ...], start: int) -> _Block:
        block = _Block(kind, self.sec_key + key, f"{self.short}{self.title}{tail}", section, crumb, start)
        self.blocks.append(block)
        self.open = block
        return block

    def feed(self, line: Line) -> None:
        start, content = _content(line)
        title, stripped = self.title, content.strip()
        is_heading = line.text.startswith("#")
        if is_heading and not line.text.startswith("##") and self.sec_key == "0":
            self._text(start, line, content)  # the document's own title opens the preamble
            return
        number = _section_number(stripped)
        if number is not None:
            self.numbered_key, self.named = str(number), 0
            self._start_section(self.numbered_key, stripped)
            return
        clause = _CLAUSE.match(content)
        item = _item_label(content)
        label = _LABEL.match(content)
        if clause:
            self.clause = clause.group(1)
            block = self._new("clause", f"/{self.clause}", f" 第{self.clause}条", f"{title} › {self.clause}", (title,), start)
        elif item and self.clause:
            num, (key, shown) = self.clause, item
            block = self._new(
                "item", f"/{num}/{key}", f" 第{num}条第{shown}项", f"{title} › {num} › {shown}", (title, f"第{num}条"), start
            )
        elif item:
            key, shown = item
            block = self._new("item", f"/i{key}", f" 第{shown}项", f"{title} › {shown}", (title,), start)
        elif is_heading:
            self.named += 1
            self._start_section(f"{self.numbered_key}-{self.named}", stripped)
            return
        elif label and self.clause is None:
            self.labels += 1
            name = label.group(1)
            shown = name if name.startswith("【") else f"“{name}”"
            block = self._new("label", f"/p{self.labels}", shown, f"{title} › {name}", (title,), start)
        else:
            self._text(start, line, content)
            return
        block.extend(line.end, content)

    def _text(self, start: int, line: Line, content: str) -> None:
        """An unnumbered line continues the open block: a clause or lead until the next number,
        an item or labelled paragraph only while its last line is unfinished; else it opens the
        clause's tail (text after its items) or the section's lead."""
        block = self.open
        if block is not None and (block.kind in ("lead", "clause", "tail") or not block.closed):
            block.extend(line.end, content)
            return
        title = self.title
        if self.clause is not None:
            num = self.clause
            block = self._new("tail", f"/{num}/tail", f" 第{num}条", f"{title} › {num}", (title,), start)
        else:
            block = self._new("lead", "", "", title, (title,), start)
        block.extend(line.end, content)

    def result(self) -> ParseResult:
        for block in self.blocks:
            self.builder.add(
                block.key, block.start, block.end, block.locator, section=block.section, breadcrumb=block.breadcrumb
            )
        return self.builder.result()


def parse_agreement(doc: Document) -> ParseResult:
    parser = _Parser(doc)
    for line in split_lines(doc.text):
        if not line.blank:
            parser.feed(line)
    return parser.result()


def list_head_id(chunk: Chunk) -> str:
    """The clause an item of an agreement hangs under: items are filed as ``<doc>/<section>/<clause>/<item>``
    ("agreement/8/2/3" → "agreement/8/2"); "" for any other chunk (a clause, a clause's tail, a statute)."""
    parts = chunk.chunk_id.split("/")
    if chunk.kind != "agreement" or len(parts) != 4 or parts[3] == "tail":
        return ""
    return "/".join(parts[:3])
