"""Retrieval, grounded answering and the user interfaces.

``from app import ask`` is the public Python API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.answer import Answer


def ask(question: str, **options: object) -> Answer:
    """Answer ``question`` with the default pipeline built from ``LEGALQA_*`` settings.

    Options are ``Pipeline.ask``'s: ``history`` (earlier questions, or ``app.conversation.Turn``s,
    against which a follow-up is read), ``k``, ``answerer``, ``mode``."""
    from app.pipeline import default_pipeline

    return default_pipeline().ask(question, **options)  # type: ignore[arg-type]


__all__ = ["ask"]
