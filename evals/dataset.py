"""Evaluation cases and the one rule for "this chunk is a gold passage".

Cases live in JSON Lines (``evals/datasets/*.jsonl``), one object per line, written by
hand.  ``load_dataset`` checks every line strictly, so a typo in a field name or a gold
item that can never match fails loudly with file, line and field instead of silently
scoring zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import LegalQAError

CATEGORIES = ("in_scope", "multi_hop", "out_of_scope", "false_premise", "injection")
PERSONAS = ("business", "legal")
# Categories whose questions the corpus can answer: they must name the passage(s) that do.
NEEDS_GOLD = ("in_scope", "multi_hop", "false_premise")

ARTICLE_RE = re.compile(r"第[零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?")

_CASE_FIELDS = {"id", "question", "category", "persona", "gold", "expected_points", "must_not"}
_GOLD_FIELDS = {"doc", "article", "quote", "locator"}


class DatasetError(LegalQAError):
    """A dataset line is malformed; names the file, line and field at fault."""

    def __init__(self, message: str, *, file: str, line: int, field: str = "") -> None:
        where = f"{file}:{line}" + (f": field '{field}'" if field else "")
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.field = field


_Fail = Callable[[str, str], DatasetError]  # (field, message) -> error to raise


@dataclass(frozen=True, slots=True)
class GoldItem:
    """A passage that answers (part of) a case: a statute article and/or an exact quote."""

    doc: str
    article: str = ""
    quote: str = ""
    locator: str = ""  # for humans reading reports; never used for matching


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    question: str
    category: str
    persona: str
    gold: tuple[GoldItem, ...] = ()
    expected_points: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()


# --- matching -----------------------------------------------------------------------

_SPACE_RE = re.compile(r"[\s\u200b\ufeff]+")
# A lone "_" is emphasis unless it joins two ASCII word characters (snake_case, URLs).
_UNDERSCORE_RE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def normalize_for_match(text: str) -> str:
    """Drop whitespace and Markdown emphasis so quotes survive line breaks and ``**bold**``."""
    text = _SPACE_RE.sub("", text)
    text = text.replace("**", "").replace("__", "").replace("*", "")
    return _UNDERSCORE_RE.sub("", text)


def chunk_matches(chunk_doc_id: str, chunk_article: str, chunk_text: str, gold_item: GoldItem) -> bool:
    """Same document, and the same article or the chunk contains the (normalized) quote."""
    if chunk_doc_id != gold_item.doc:
        return False
    if gold_item.article and chunk_article == gold_item.article:
        return True
    quote = normalize_for_match(gold_item.quote)
    return bool(quote) and quote in normalize_for_match(chunk_text)


# --- loading ------------------------------------------------------------------------


def load_dataset(path: str | Path) -> list[EvalCase]:
    """Read and validate a JSONL dataset; blank lines are allowed, everything else is checked."""
    path = Path(path)
    file = str(path)
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"bad JSON: {exc.msg} (column {exc.colno})", file=file, line=lineno) from None
        case = _parse_case(data, file, lineno)
        if case.id in seen:
            raise DatasetError(
                f"duplicate id {case.id!r} (first on line {seen[case.id]})",
                file=file,
                line=lineno,
                field="id",
            )
        seen[case.id] = lineno
        cases.append(case)
    return cases


def _parse_case(data: Any, file: str, line: int) -> EvalCase:
    def fail(field: str, message: str) -> DatasetError:
        return DatasetError(message, file=file, line=line, field=field)

    if not isinstance(data, dict):
        raise DatasetError("each line must be a JSON object", file=file, line=line)
    for key in data:
        if key not in _CASE_FIELDS:
            raise fail(key, "unknown field")
    for key in ("id", "question", "category", "persona"):
        if key not in data:
            raise fail(key, "missing required field")
        if not isinstance(data[key], str) or not data[key].strip():
            raise fail(key, "must be a non-empty string")
    if data["category"] not in CATEGORIES:
        raise fail(
            "category", f"unknown category {data['category']!r}; expected one of {', '.join(CATEGORIES)}"
        )
    if data["persona"] not in PERSONAS:
        raise fail("persona", f"unknown persona {data['persona']!r}; expected one of {', '.join(PERSONAS)}")
    if "gold" not in data:
        raise fail("gold", "missing required field (use [] when nothing in the corpus answers)")
    if not isinstance(data["gold"], list):
        raise fail("gold", "must be a list")

    gold = tuple(_parse_gold(item, f"gold[{i}]", fail) for i, item in enumerate(data["gold"]))
    category = data["category"]
    if category == "out_of_scope" and gold:
        raise fail("gold", "out_of_scope cases must have an empty gold list")
    if category in NEEDS_GOLD and not gold:
        raise fail("gold", f"{category} cases need at least one gold item")
    if category == "multi_hop" and len({g.doc for g in gold}) < 2:
        raise fail("gold", "multi_hop cases need gold items from at least two documents")

    return EvalCase(
        id=data["id"],
        question=data["question"],
        category=category,
        persona=data["persona"],
        gold=gold,
        expected_points=_string_list(data, "expected_points", fail),
        must_not=_string_list(data, "must_not", fail),
    )


def _parse_gold(item: Any, where: str, fail: _Fail) -> GoldItem:
    if not isinstance(item, Mapping):
        raise fail(where, "gold items must be objects")
    for key in item:
        if key not in _GOLD_FIELDS:
            raise fail(f"{where}.{key}", "unknown field")
    for key in _GOLD_FIELDS:
        if key in item and not isinstance(item[key], str):
            raise fail(f"{where}.{key}", "must be a string")
    if not item.get("doc", "").strip():
        raise fail(f"{where}.doc", "missing document id")
    article, quote = item.get("article", ""), item.get("quote", "")
    if not article and not quote:
        raise fail(where, "a gold item needs an article or a quote (or both)")
    if article and not ARTICLE_RE.fullmatch(article):
        raise fail(f"{where}.article", f"{article!r} is not an article as written (e.g. 第一千二百零二条)")
    if quote and not normalize_for_match(quote):
        raise fail(f"{where}.quote", "quote is empty after normalization")
    return GoldItem(doc=item["doc"], article=article, quote=quote, locator=item.get("locator", ""))


def _string_list(data: Mapping[str, Any], key: str, fail: _Fail) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(key, "must be a list of non-empty strings")
    return tuple(value)
