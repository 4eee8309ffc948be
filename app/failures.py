"""The one error boundary's parts: the warned error answer, and masking secrets in messages.

``Pipeline.ask`` is the only place that turns a failure into an answer; the CLI uses the same
builder for the failures that happen before a pipeline exists (bad settings, no index).  Every
error answer carries the warning like every other answer.
"""

from __future__ import annotations

from app.abstain import ABSTAIN_TEXT
from app.answer import Answer

_REDACT_RUN = 8  # an echoed piece of the key this long (or the whole key, if shorter) is masked


def redact(message: str, secret: str) -> str:
    """``message`` without ``secret`` (an API key a backend error may echo).

    Services echo keys in other forms than the one sent: upper-cased, or shortened to a prefix
    or suffix ("sk-proj-abcd…wxyz").  So matching ignores case, and every run of the message
    that equals any 8+ consecutive characters of the key (the whole key when it is shorter) is
    masked.  Keys under 4 characters are not real keys; masking them would garble messages.
    """
    if not secret or len(secret) < 4:
        return message
    text, key = _fold(message), _fold(secret)
    run = min(_REDACT_RUN, len(key))
    hidden = bytearray(len(text))
    for i in range(len(key) - run + 1):
        piece = key[i : i + run]
        at = text.find(piece)
        while at >= 0:
            hidden[at : at + run] = b"\x01" * run
            at = text.find(piece, at + 1)
    if not any(hidden):
        return message
    out: list[str] = []
    for i, ch in enumerate(message):
        if not hidden[i]:
            out.append(ch)
        elif i == 0 or not hidden[i - 1]:
            out.append("***")
    return "".join(out)


def _fold(text: str) -> str:
    """Case-folded per character, keeping the length (so positions map back to ``text``)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a command line, broken JSON escapes)
    replaced by U+FFFD: such a string cannot be written as UTF-8, so logging, saving or
    printing it would raise far from where it came in."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def error_answer(question: object, name: str, message: str) -> Answer:
    return Answer(
        question=valid_text(question) if isinstance(question, str) else repr(question),
        text=ABSTAIN_TEXT,
        citations=(),
        abstained=True,
        answerer=name,
        error=message,
    )
