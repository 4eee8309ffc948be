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
    out: list[Unit] = []
    for unit in (u for u in units if u.text):
        if out and _breaks_off(out[-1], unit):
            # quoted with the words it breaks off from, the blank line kept: a quote is an exact slice
            # (the answer shows it without the break, ``app.extractive``)
            out[-1] = unit_at(chunk, out[-1].start - chunk.start, unit.end - chunk.start)
        else:
            out.append(unit)
    return out


# a paragraph that stops mid-sentence ("……的输出不构成对您的任何建议或决策，不"), the next carrying on
# ("保证其生成内容的真实性……"): the agreement's text as published has such breaks, and the second half
# quoted alone says the opposite of the clause (智谱 does NOT 保证 its output is accurate)
_CARRIES_ON = re.compile(r"[\u4e00-\u9fff，、]$")
# …or stops at a colon that introduces words rather than a list: "您可通过邮箱：" with the address and
# "与我们联系。协商不成时，……提起诉讼。" a paragraph below, whose opening "[service@…](…)" led an answer
_INTRODUCES = re.compile(r"：$")
_BULLET = re.compile(r"^[-•·]\s")
# how an enumerated item opens: a statute's "（一）", the agreement's "①"; a paragraph opening with either, or
# with "(1)", "1." or "一、", starts something new rather than carrying on the sentence before it
LIST_ITEM = re.compile(r"^[（(][一二三四五六七八九十]+[）)]")
AGREEMENT_ITEM = re.compile(r"^[①-⑳]")
_OPENS_ITEM = re.compile(
    f"{LIST_ITEM.pattern}|{AGREEMENT_ITEM.pattern}|^(?:[（(][0-9]+[）)]|[0-9]+[.、．]|[一二三四五六七八九十]+、)"
)


def _breaks_off(before: Unit, after: Unit) -> bool:
    gap = before.chunk.text[before.end - before.chunk.start : after.start - before.chunk.start]
    return (
        "\n" in gap
        and not gap.strip()
        and len(before.text) >= 30  # a heading is short and ends without punctuation too
        and bool(_CARRIES_ON.search(before.text) or _INTRODUCES.search(before.text) and not _BULLET.match(after.text))
        and not _OPENS_ITEM.match(after.text)
    )


def whole_unit(unit: Unit) -> Unit:
    """``unit`` with the words it breaks off from when it starts a paragraph that carries on a sentence
    (the sentence the issue map names for a clause may begin mid-sentence); else ``unit``."""
    for whole in split_units(unit.chunk):
        if whole.start < unit.start and whole.end >= unit.end:
            return whole
    return unit


def unit_at(chunk: Chunk, rel_start: int, rel_end: int) -> Unit:
    """The unit of ``chunk.text[rel_start:rel_end]`` without surrounding blanks, in file offsets."""
    raw = chunk.text[rel_start:rel_end]
    lead = len(raw) - len(raw.lstrip())
    if raw[lead : lead + 2] in ("- ", "* "):  # a Markdown bullet is layout, not text: the answer adds its own
        lead += 2
    trail = len(raw) - len(raw.rstrip())
    s, e = rel_start + lead, rel_end - trail
    return Unit(chunk, chunk.start + s, chunk.start + e, chunk.text[s:e])
