"""Split passages into quotable units with exact file offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.types import PROVISION_KINDS, Chunk

_SENTENCE_END = re.compile(r"[^。！？；!?;\n]*[。！？；!?;]+[”’」』）)]*|[^。！？；!?;\n]+")


@dataclass(frozen=True, slots=True)
class Unit:
    chunk: Chunk
    start: int  # file offsets
    end: int
    text: str


def split_units(chunk: Chunk, *, paragraph_max: int = 220) -> list[Unit]:
    """Short paragraphs of provisions (a 款 with its items reads as one), else sentences.

    Prose (paper, blog) is always quoted sentence by sentence: its paragraphs
    mix claims with rhetorical questions.
    """
    if chunk.kind not in PROVISION_KINDS:
        paragraph_max = 0
    units: list[Unit] = []
    for para in re.finditer(r"[^\n]+", chunk.text):
        text = para.group(0)
        if len(text.strip()) == 0:
            continue
        if len(text) <= paragraph_max:
            units.append(unit_at(chunk, para.start(), para.end()))
            continue
        for sent in _SENTENCE_END.finditer(text):
            units.append(unit_at(chunk, para.start() + sent.start(), para.start() + sent.end()))
    return [u for u in units if u.text]


def unit_at(chunk: Chunk, rel_start: int, rel_end: int) -> Unit:
    """The unit of ``chunk.text[rel_start:rel_end]`` without surrounding blanks, in file offsets."""
    raw = chunk.text[rel_start:rel_end]
    lead = len(raw) - len(raw.lstrip())
    if raw[lead : lead + 2] in ("- ", "* "):  # a Markdown bullet is layout, not text: the answer adds its own
        lead += 2
    trail = len(raw) - len(raw.rstrip())
    s, e = rel_start + lead, rel_end - trail
    return Unit(chunk, chunk.start + s, chunk.start + e, chunk.text[s:e])
