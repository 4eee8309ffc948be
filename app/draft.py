"""What an answerer hands back to the pipeline, before the warning and timings are attached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.types import Citation, Retrieved, Statement


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

    def answer(self, question: str, passages: Sequence[Retrieved]) -> Draft: ...
