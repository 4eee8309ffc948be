"""CSV datasets (the format is in ``evals.dataset``'s docstring): rows with their starting line,
cells turned into the JSON shape (gold as ``doc:article`` pairs or a JSON list)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from evals.dataset import _CASE_FIELDS, _LIST_FIELDS, DatasetError, _Fail, _Record


def csv_records(text: str, file: str) -> Iterator[_Record]:
    """Rows as dicts of non-empty cells, each with the line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise DatasetError(f"bad CSV: {exc}", file=file, line=1) from None
    for column in ("id", "question", "gold"):
        if column not in header:
            raise DatasetError(
                f"CSV header has no '{column}' column (columns: {', '.join(header)})",
                file=file,
                line=1,
                field=column,
            )
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DatasetError(f"bad CSV: {exc}", file=file, line=start) from None
        end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            raise DatasetError(
                f"row has {len(cells)} cells, the header has {len(header)}", file=file, line=start
            )
        yield (
            start,
            {name: cell for name, cell in zip(header, cells, strict=False) if name and cell.strip()},
            True,
        )


def from_csv_cells(row: dict[str, str], fail: _Fail) -> dict[str, Any]:
    """CSV cells → the JSON shape: gold and the list columns parsed, everything else as text."""
    data: dict[str, Any] = {k: v.strip() if k in _CASE_FIELDS else v for k, v in row.items()}
    if "gold" in data:
        data["gold"] = _csv_gold(data["gold"], fail)
    for key in _LIST_FIELDS:
        if key in data:
            data[key] = _csv_list(data[key], key, fail)
    return data


def _csv_gold(cell: str, fail: _Fail) -> list[Any]:
    if cell.startswith("["):
        return _csv_json_list(cell, "gold", fail)
    items = []
    for pair in (p.strip() for p in cell.split(";")):
        if not pair:
            continue
        doc, sep, article = pair.replace("：", ":").partition(":")
        if not sep or not doc.strip() or not article.strip():
            raise fail("gold", f"{pair!r}: expected doc:article pairs separated by ';' or a JSON list")
        items.append({"doc": doc.strip(), "article": article.strip()})
    return items


def _csv_list(cell: str, key: str, fail: _Fail) -> list[Any]:
    if cell.startswith("["):
        return _csv_json_list(cell, key, fail)
    return [p.strip() for p in cell.split(";") if p.strip()]


def _csv_json_list(cell: str, key: str, fail: _Fail) -> list[Any]:
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise fail(key, f"bad JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, list):
        raise fail(key, "must be a list")
    return value
