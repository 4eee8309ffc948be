"""Evaluation cases and the one rule for "this chunk is a gold passage".

Our own cases live in JSON Lines (``evals/datasets/*.jsonl``), written by hand; external
sets (``../shared/evals/lawbench-3-8.jsonl``, a spreadsheet someone exported) come as JSON
Lines or CSV.  ``load_dataset`` checks every line, so a gold item that can never match or a
missing question fails loudly with file, line and field instead of silently scoring zero;
what it can safely tolerate (extra columns, missing labels in someone else's file) it keeps
and reports in one warning line per field name.

JSON Lines (any file not ending in ``.csv``): one object per line, blank lines allowed.

* ``id``, ``question``: required non-empty strings; ids are unique.
* ``category`` (one of ``CATEGORIES``) and ``persona`` (one of ``PERSONAS``): required in
  our own datasets (files under ``evals/datasets/``).  In any other file a missing one
  defaults to ``in_scope`` / ``business`` with a single warning, so external sets load.
* ``gold``: required list of gold items (``[]`` when nothing in the corpus answers).
* ``expected_points``, ``must_not``: optional lists of non-empty strings.
* any other field (``notes``, ``source``, ``reference_answer`` …): kept in
  ``EvalCase.extra`` and written to the run's ``cases.jsonl``; never scored.

A gold item is an object with ``doc`` (a corpus document id) and at least one of

* ``article``: a statute article exactly as its heading writes it (``第一千二百零二条``);
* ``quote``: a verbatim passage of the document (whitespace and Markdown emphasis ignored);
* ``locator``: the chunk's citation label as the index shows it
  (``《民法典》第一千二百零二条``, compared without whitespace).  It is a matching key only
  when the item has neither article nor quote; next to them it is a label for humans, so
  datasets that annotate their quotes with a locator score exactly as before.

Other keys of a gold item are ignored with a warning.

CSV (``.csv``, UTF-8 with or without BOM, first row a header): columns ``id``, ``question``,
``category``, ``persona``, ``gold`` and optionally ``expected_points``, ``must_not``; any
other column is kept like an unknown JSON field.  An empty ``category`` or ``persona`` cell
counts as missing.  ``gold`` is either a JSON list as above or ``doc:article`` pairs
separated by ``;``::

    id,question,category,persona,gold
    q1,产品缺陷致人损害谁负责？,in_scope,business,civil-code:第一千二百零二条; consumer-protection-law:第五十五条
    q2,平台能否一概免责？,in_scope,legal,"[{""doc"": ""agreement"", ""quote"": ""在法律允许的范围内""}]"
    q3,今天天气如何？,out_of_scope,business,

``expected_points`` and ``must_not`` cells are a JSON list or ``;``-separated phrases.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.articles import is_article_label
from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT

CATEGORIES = ("in_scope", "multi_hop", "out_of_scope", "false_premise", "injection")
PERSONAS = ("business", "legal")
# Categories whose questions the corpus can answer: they must name the passage(s) that do.
NEEDS_GOLD = ("in_scope", "multi_hop", "false_premise")
# Categories whose cases are scored for retrieval; an injection case only when it has gold.
ANSWERABLE = (*NEEDS_GOLD, "injection")
# What a missing label means in an external dataset (ours must state both).
DEFAULT_LABELS = {"category": "in_scope", "persona": "business"}
OWN_DATASETS = PROJECT_ROOT / "evals" / "datasets"


_CASE_FIELDS = {"id", "question", "category", "persona", "gold", "expected_points", "must_not"}
_GOLD_FIELDS = {"doc", "article", "quote", "locator"}
_LIST_FIELDS = ("expected_points", "must_not")


class DatasetError(LegalQAError):
    """A dataset line is malformed; names the file, line and field at fault."""

    def __init__(self, message: str, *, file: str, line: int, field: str = "") -> None:
        where = f"{file}:{line}" + (f": field '{field}'" if field else "")
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.field = field


_Fail = Callable[[str, str], DatasetError]  # (field, message) -> error to raise
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class GoldItem:
    """A passage that answers (part of) a case: a statute article, an exact quote and/or a locator.

    ``locator`` matches a chunk's locator only when ``article`` and ``quote`` are both empty;
    otherwise it is a label for humans reading reports.
    """

    doc: str
    article: str = ""
    quote: str = ""
    locator: str = ""


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    question: str
    category: str
    persona: str
    gold: tuple[GoldItem, ...] = ()
    expected_points: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    # fields the format does not define (notes, source, …): carried to the report, never scored
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


# --- matching -----------------------------------------------------------------------

_SPACE_RE = re.compile(r"[\s\u200b\ufeff]+")
# A lone "_" is emphasis unless it joins two ASCII word characters (snake_case, URLs).
_UNDERSCORE_RE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def normalize_for_match(text: str) -> str:
    """Drop whitespace and Markdown emphasis so quotes survive line breaks and ``**bold**``."""
    text = _SPACE_RE.sub("", text)
    text = text.replace("**", "").replace("__", "").replace("*", "")
    return _UNDERSCORE_RE.sub("", text)


def normalize_locator(text: str) -> str:
    """A locator without any whitespace: ``《用户协议》八、责任限制 第3条`` == ``《用户协议》八、责任限制第3条``."""
    return _SPACE_RE.sub("", text)


def chunk_matches(
    chunk_doc_id: str, chunk_article: str, chunk_text: str, gold_item: GoldItem, chunk_locator: str = ""
) -> bool:
    """Same document, and the same article, or the chunk contains the (normalized) quote, or —
    for a gold item given by locator alone — the same locator up to whitespace."""
    if chunk_doc_id != gold_item.doc:
        return False
    if gold_item.article or gold_item.quote:
        if gold_item.article and chunk_article == gold_item.article:
            return True
        quote = normalize_for_match(gold_item.quote)
        return bool(quote) and quote in normalize_for_match(chunk_text)
    locator = normalize_locator(gold_item.locator)
    return bool(locator) and locator == normalize_locator(chunk_locator)


# --- loading ------------------------------------------------------------------------


def is_own_dataset(path: str | Path) -> bool:
    """Files under ``evals/datasets/`` are ours: their category and persona are required."""
    return Path(path).resolve().is_relative_to(OWN_DATASETS.resolve())


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _Notes:
    """Things tolerated while loading, reported once per kind and name with a count and the first line."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[int]] = {}

    def add(self, kind: str, name: str, line: int) -> None:
        self.seen.setdefault((kind, name), []).append(line)

    def messages(self, file: str) -> list[str]:
        out = []
        for (kind, name), lines in self.seen.items():
            where = f"on {len(lines)} line(s), first line {lines[0]}"
            if kind == "unknown":
                out.append(f"{file}: unknown field '{name}' {where}: kept with the case (cases.jsonl), not scored")
            elif kind == "unknown-gold":
                out.append(f"{file}: unknown gold field '{name}' {where}: ignored")
            else:
                out.append(f"{file}: no '{name}' {where}: treated as {DEFAULT_LABELS[name]}")
        return out


def load_dataset(
    path: str | Path, *, warn: Warn | None = None, require_labels: bool | None = None
) -> list[EvalCase]:
    """Read and validate a JSON Lines or CSV dataset (format in the module docstring).

    ``warn`` gets one line per tolerated field name (default: stderr), also when a later line
    fails.  ``require_labels`` makes a missing category or persona an error; by default it
    is required exactly in our own datasets (``is_own_dataset``).
    """
    path = Path(path)
    file = str(path)
    warn = warn or warn_stderr
    if require_labels is None:
        require_labels = is_own_dataset(path)
    notes = _Notes()
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"not UTF-8 (byte {exc.start}); save the file as UTF-8", file=file, line=line) from None
    from evals.dataset_csv import csv_records

    records = csv_records(text, file) if path.suffix.lower() == ".csv" else _jsonl_records(text, file)
    try:
        for lineno, data, from_csv in records:
            case = _parse_case(data, file, lineno, notes, require_labels, from_csv)
            if case.id in seen:
                raise DatasetError(
                    f"duplicate id {case.id!r} (first on line {seen[case.id]})",
                    file=file,
                    line=lineno,
                    field="id",
                )
            seen[case.id] = lineno
            cases.append(case)
    finally:
        for message in notes.messages(file):
            warn(message)
    return cases


_Record = tuple[int, Any, bool]  # (line, parsed object, came from CSV)


def _jsonl_records(text: str, file: str) -> Iterator[_Record]:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"bad JSON: {exc.msg} (column {exc.colno})", file=file, line=lineno) from None
        yield lineno, data, False


def _parse_case(data: Any, file: str, line: int, notes: _Notes, require_labels: bool, from_csv: bool) -> EvalCase:
    def fail(field: str, message: str) -> DatasetError:
        return DatasetError(message, file=file, line=line, field=field)

    if not isinstance(data, dict):
        raise DatasetError("each line must be a JSON object", file=file, line=line)
    if from_csv:
        from evals.dataset_csv import from_csv_cells

        data = from_csv_cells(data, fail)
        data.setdefault("gold", [])  # an empty gold cell is an empty list
    extra = {key: value for key, value in data.items() if key not in _CASE_FIELDS}
    for key in extra:
        notes.add("unknown", key, line)
    data = {key: value for key, value in data.items() if key in _CASE_FIELDS}
    for key in ("category", "persona"):
        if key not in data and not require_labels:
            notes.add("default", key, line)
            data[key] = DEFAULT_LABELS[key]
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

    gold = tuple(_parse_gold(item, f"gold[{i}]", fail, notes, line) for i, item in enumerate(data["gold"]))
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
        extra=extra,
    )


def _parse_gold(item: Any, where: str, fail: _Fail, notes: _Notes, line: int) -> GoldItem:
    if not isinstance(item, Mapping):
        raise fail(where, "gold items must be objects")
    for key in item:
        if key not in _GOLD_FIELDS:
            notes.add("unknown-gold", str(key), line)
    for key in _GOLD_FIELDS:
        if key in item and not isinstance(item[key], str):
            raise fail(f"{where}.{key}", "must be a string")
    if not item.get("doc", "").strip():
        raise fail(f"{where}.doc", "missing document id")
    article, quote, locator = item.get("article", ""), item.get("quote", ""), item.get("locator", "")
    if not article and not quote and not normalize_locator(locator):
        raise fail(where, "a gold item needs an article or a quote (or a locator)")
    if article and not is_article_label(article):
        raise fail(f"{where}.article", f"{article!r} is not an article as written (e.g. 第一千二百零二条)")
    if quote and not normalize_for_match(quote):
        raise fail(f"{where}.quote", "quote is empty after normalization")
    return GoldItem(doc=item["doc"], article=article, quote=quote, locator=locator)


def _string_list(data: Mapping[str, Any], key: str, fail: _Fail) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(key, "must be a list of non-empty strings")
    return tuple(value)
