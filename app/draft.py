"""What an answerer hands back to the pipeline, before the warning and timings are attached."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.answer import Citation, Retrieved, Statement
from app.question import Question

# Headings an answer may use besides a source's title.  An issue heading names an issue of the
# corpus's issue map (a label chosen by legal staff, never a conclusion); the verifier checks it.
KEY_POINTS_HEADING = "要点"
PROVISIONS_HEADING = "相关规定"
ISSUE_HEADING_PREFIX = "争点："


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    statements: tuple[Statement, ...]
    citations: tuple[Citation, ...]
    abstained: bool = False
    unsupported_removed: int = 0
    notes: tuple[str, ...] = field(default=())


class Answerer(Protocol):
    """Turns retrieved passages into a cited draft.  It never sees or sets the warning."""

    name: str

    def answer(self, question: Question | str, passages: Sequence[Retrieved]) -> Draft: ...


@runtime_checkable
class Rewriter(Protocol):
    """An answerer that can turn a follow-up into a stand-alone question itself (the LLM answerer)."""

    def rewrite(self, question: str, earlier: Sequence[str]) -> str: ...


@runtime_checkable
class Streamer(Protocol):
    """An answerer whose text can be shown while it is written (the LLM answerer).  ``on_text`` gets the
    text so far, unchecked; the draft returned at the end is checked like any other and replaces it."""

    def answer_streaming(
        self, question: Question | str, passages: Sequence[Retrieved], on_text: Callable[[str], None]
    ) -> Draft: ...
