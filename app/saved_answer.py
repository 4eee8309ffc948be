"""Read a saved Answer JSON strictly, for ``legalqa verify``.

A saved answer is untrusted input: it may be hand-edited, truncated or crafted.
``Answer.from_dict`` trusts its input (a string ``"363"`` becomes an offset, a
``null`` reaches slicing, unknown shapes raise deep inside), so this module checks
every field's type first and fails with one line that names the field
(``citations[0].start``) instead of a traceback or, worse, a wrong "verified".
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.answer import Answer, Citation, Evidence, RetrievedRow, Statement
from app.warning import WARNING
from ingest.errors import LegalQAError
from ingest.types import USER_ADDED_MARK

MAX_ANSWER_BYTES = 20 * 1024 * 1024  # a real saved answer is a few kB
SUPPORTS = ("quote", "verified", "unsupported")


class SavedAnswerError(LegalQAError):
    """The file is not a well-formed saved answer; the message names the field at fault."""


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    """A saved answer as read: its ``Answer`` and the warning text the file showed its reader.

    An ``Answer`` cannot exist without code's own warning, so the loader gives it that one; the
    file's text is kept beside it (``None`` when the file had no ``warning``) for ``app.verify`` to
    report a dropped or edited warning, instead of the replacement hiding it.
    """

    answer: Answer
    warning: str | None


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe for one terminal line: control, format (bidi, zero-width) and surrogate
    characters and line breaks are shown as escapes, so a crafted locator or path can
    neither forge output lines nor reorder what the reader sees."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def parse_saved_answer(data: bytes, source: str) -> SavedAnswer:
    """The saved answer in ``data`` (the bytes of a saved answer file), or SavedAnswerError."""
    where = printable(source, 200)
    if len(data) > MAX_ANSWER_BYTES:
        raise SavedAnswerError(f"{where}: not a saved answer (larger than {MAX_ANSWER_BYTES // 2**20} MB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SavedAnswerError(f"{where}: not a saved answer (not UTF-8 at byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedAnswerError(
            f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise SavedAnswerError(f"{where}: not a saved answer (JSON nested too deeply)") from None
    try:
        return answer_from_json(raw)
    except FieldError as exc:
        raise SavedAnswerError(f"{where}: {exc.field}: {exc}") from None


class FieldError(Exception):
    """One wrong field of a saved answer: ``field`` names it (``citations[0].start``), the message says
    what is wrong in JSON's words; each front end words the line (file name, request field) itself."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _describe(value: object) -> str:
    """The offending value as JSON shows it; a container by its JSON name, never a Python type name."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return printable(json.dumps(value, ensure_ascii=False), 40)


def _str(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, not {_describe(value)}")
    return value


def _int(value: object, field: str, minimum: int | None = None) -> int:
    # bool is an int subclass and 363.0 a float: neither is an offset
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(field, f"must be an integer, not {_describe(value)}")
    if minimum is not None and value < minimum:
        raise FieldError(field, f"must be at least {minimum}, not {value}")
    return value


def _number(value: object, field: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise FieldError(field, f"must be a finite number, not {_describe(value)}")
    return float(value)


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, f"must be true or false, not {_describe(value)}")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(field, f"must be a list, not {_describe(value)}")
    return value


def _dict(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(field, f"must be an object, not {_describe(value)}")
    return value


def _path(value: object, field: str) -> str:
    path = _str(value, field)
    if not path:
        raise FieldError(field, "must name a corpus file, not be empty")
    if "\x00" in path:
        raise FieldError(field, f"contains a NUL character ({_describe(path)})")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(field, f"is not valid text ({_describe(path)})") from None
    return path


def _fields(
    data: dict[str, Any], field: str, required: tuple[str, ...], optional: tuple[str, ...] | None = ()
) -> None:
    """Every ``required`` key present; with ``optional`` given, no key outside the two."""
    prefix = f"{field}." if field else ""
    missing = [k for k in required if k not in data]
    if missing:
        raise FieldError(prefix + missing[0], "is missing")
    unknown = [] if optional is None else [k for k in data if k not in required and k not in optional]
    if unknown:
        raise FieldError(prefix + printable(unknown[0], 40), "is not a field of a saved answer")


_CITATION_STR = ("chunk_id", "doc_id", "doc_title", "locator", "breadcrumb", "quote", "sha256")


def _citation(value: object, field: str) -> Citation:
    data = _dict(value, field)
    required = ("number", *_CITATION_STR, "start", "end", "file", "score")
    _fields(data, field, required, ("spans", "source_mark"))
    strings = {k: _str(data[k], f"{field}.{k}") for k in _CITATION_STR}
    spans = []
    for j, span in enumerate(_list(data.get("spans", []), f"{field}.spans")):
        pair = _list(span, f"{field}.spans[{j}]")
        if len(pair) != 2:
            raise FieldError(f"{field}.spans[{j}]", f"must be [start, end], not {len(pair)} value(s)")
        spans.append((_int(pair[0], f"{field}.spans[{j}][0]"), _int(pair[1], f"{field}.spans[{j}][1]")))
    return Citation(
        number=_int(data["number"], f"{field}.number", 1),
        start=_int(data["start"], f"{field}.start"),
        end=_int(data["end"], f"{field}.end"),
        file=_path(data["file"], f"{field}.file"),
        score=_number(data["score"], f"{field}.score"),
        spans=tuple(spans),
        source_mark=_source_mark(data.get("source_mark", ""), f"{field}.source_mark"),
        **strings,
    )


def _source_mark(value: object, field: str) -> str:
    """Only the label code itself writes (or none): a file cannot put its own words next to a citation."""
    mark = _str(value, field)
    if mark not in ("", USER_ADDED_MARK):
        raise FieldError(field, f"must be {USER_ADDED_MARK!r} or empty, not {_describe(mark)}")
    return mark


def _statement(value: object, field: str) -> Statement:
    data = _dict(value, field)
    _fields(data, field, ("text", "citations"), ("support",))
    numbers = tuple(
        _int(n, f"{field}.citations[{j}]", 1)
        for j, n in enumerate(_list(data["citations"], f"{field}.citations"))
    )
    support = _str(data.get("support", "quote"), f"{field}.support")
    if support not in SUPPORTS:
        raise FieldError(
            f"{field}.support", f"must be one of {', '.join(SUPPORTS)}, not {_describe(support)}"
        )
    return Statement(_str(data["text"], f"{field}.text"), numbers, support)


def _each(value: object, field: str, item: Callable[[object, str], Any]) -> tuple[Any, ...]:
    return tuple(item(v, f"{field}[{i}]") for i, v in enumerate(_list(value, field)))


def _retrieved_row(value: object, field: str) -> RetrievedRow:
    """A retrieved row needs its chunk_id as text; the rest is shown, never trusted, so a wrong type is dropped."""
    data = _dict(value, field)
    row = {k: v for k, v in data.items() if k in RetrievedRow.__dataclass_fields__}
    row["chunk_id"] = _str(data.get("chunk_id", ""), f"{field}.chunk_id")
    try:
        return RetrievedRow(**row)
    except TypeError as exc:
        raise FieldError(field, f"is not a retrieved row ({exc})") from None


def answer_from_json(raw: object) -> SavedAnswer:
    """The saved answer in parsed JSON ``raw``; FieldError names the first wrong field.  Fields the
    verifier never reads (timings, retrieved rows, evidence) only need the right container type;
    keys added by other front ends (the API's ``question_context``) are ignored."""
    data = _dict(raw, "answer")
    shown = data.get("warning")
    warning = None if shown is None else _str(shown, "warning")
    return SavedAnswer(_answer(data), warning)


def _answer(data: dict[str, Any]) -> Answer:
    _fields(data, "", ("question", "text", "citations", "abstained", "answerer"), None)
    citations = _each(data["citations"], "citations", _citation)
    abstained = _bool(data["abstained"], "abstained")
    if abstained and citations:
        raise FieldError("abstained", "is true, but an abstention carries no citations")
    timings = _dict(data.get("timings", {}), "timings")
    return Answer(
        question=_str(data["question"], "question"),
        text=_str(data["text"], "text"),
        citations=citations,
        abstained=abstained,
        answerer=_str(data["answerer"], "answerer"),
        warning=WARNING,  # the warning is code's, never the file's
        statements=_each(data.get("statements", []), "statements", _statement),
        unsupported_removed=_int(data.get("unsupported_removed", 0), "unsupported_removed", 0),
        timings={
            printable(str(k), 40): _number(v, f"timings.{printable(str(k), 40)}") for k, v in timings.items()
        },
        retrieved=_each(data.get("retrieved", []), "retrieved", _retrieved_row),
        evidence=None
        if data.get("evidence") is None
        else Evidence.from_mapping(_dict(data["evidence"], "evidence")),
        error=_str(data.get("error", ""), "error"),
        stale=_each(data.get("stale", []), "stale", _str),
        notes=_each(data.get("notes", []), "notes", _str),
        searched=_str(data.get("searched", ""), "searched"),
        issues=_each(data.get("issues", []), "issues", _str),
    )
