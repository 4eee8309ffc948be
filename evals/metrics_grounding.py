"""Grounding metrics: is every statement of an answer a verbatim quote of, or verified against,
the passages it cites?  Part of ``evals.metrics`` (re-exported there); split out for size.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evals.dataset import normalize_for_match

MARKER_RE = re.compile(r"\[(\d+)\]")
_ENDS = "。！？；"
_CLOSERS = "”’」』）)】》\"'"
_LEAD_RE = re.compile(r"^[-•·>“‘「『]+")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One answer sentence as written, with the citation numbers it carries."""

    text: str
    markers: tuple[int, ...] = ()

    @property
    def bare(self) -> str:
        """The claim itself: no [n] markers, whitespace, emphasis, list bullet, surrounding
        quotation marks or final stop."""
        bare = normalize_for_match(MARKER_RE.sub("", self.text))
        return _LEAD_RE.sub("", bare).rstrip(_ENDS + _CLOSERS)

    @property
    def has_content(self) -> bool:
        return any(ch.isalnum() for ch in self.bare)


def split_sentences(text: str) -> list[Sentence]:
    """Split at 。！？； and newlines; markers (and closing quotes) after a stop stay with it.

    A piece with markers but no words (``[1][2]`` on its own line) is attached to the
    sentence before it; pieces with neither are dropped.
    """
    pieces: list[str] = []
    start = i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == "\n":
            pieces.append(text[start:i])
            start = i
        elif ch in _ENDS:
            while i < len(text):
                marker = MARKER_RE.match(text, i)
                if marker:
                    i = marker.end()
                elif text[i] in _CLOSERS or text[i] in " \t\u3000":
                    i += 1
                else:
                    break
            pieces.append(text[start:i])
            start = i
    pieces.append(text[start:])

    sentences: list[Sentence] = []
    for piece in pieces:
        s = Sentence(piece, tuple(int(n) for n in MARKER_RE.findall(piece)))
        if s.has_content:
            sentences.append(s)
        elif s.markers and sentences:
            prev = sentences[-1]
            sentences[-1] = Sentence(prev.text + piece, prev.markers + s.markers)
    return sentences


def sentence_supported(
    sentence: Sentence, passages: Mapping[int, str], verified: Collection[str] = ()
) -> bool:
    """Supported = its bare text is a verbatim (normalized) substring of a passage it cites,
    or an upstream check verified it (``verified`` holds sentence texts, any formatting)."""
    bare = sentence.bare
    if not bare:
        return False
    if bare in {Sentence(v).bare for v in verified}:
        return True
    return any(m in passages and bare in normalize_for_match(passages[m]) for m in sentence.markers)


def grounding(
    sentences: str | Sequence[Sentence], passages: Mapping[int, str], verified: Collection[str] = ()
) -> float | None:
    """grounding = |{s in S : s supported by a passage it cites}| / |S|.

    ``sentences`` is the answer text (split with ``split_sentences``) or its sentences;
    ``passages`` maps citation number -> cited text.  S counts only sentences with words,
    so marker-only fragments are ignored.  None when S is empty.
    """
    if isinstance(sentences, str):
        sentences = split_sentences(sentences)
    content = [s for s in sentences if s.has_content]
    if not content:
        return None
    return sum(1 for s in content if sentence_supported(s, passages, verified)) / len(content)


def unsupported_rate(
    sentences: str | Sequence[Sentence], passages: Mapping[int, str], verified: Collection[str] = ()
) -> float | None:
    """unsupported = 1 - grounding (None when grounding is None)."""
    g = grounding(sentences, passages, verified)
    return None if g is None else 1.0 - g


def answer_passages(answer: Any) -> dict[int, str]:
    """Citation number -> quoted text, the passages an answer's [n] markers point to."""
    return {c.number: c.quote for c in answer.citations}


def answer_grounding(answer: Any) -> float | None:
    """``grounding`` of an Answer against its own citations; None for an abstention.

    Uses ``answer.statements`` when present (a statement the app's check marked
    ``verified`` counts as supported), else splits ``answer.text``.
    """
    if answer.abstained:
        return None
    statements = getattr(answer, "statements", ())
    if not statements:
        return grounding(answer.text, answer_passages(answer))
    sentences = [Sentence(st.text, tuple(st.citations)) for st in statements]
    verified = [st.text for st in statements if st.support == "verified"]
    return grounding(sentences, answer_passages(answer), verified)
