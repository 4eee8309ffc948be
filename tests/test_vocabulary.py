"""Closed vocabularies stay closed: every ``via``, ``support`` and UI problem kind the code writes or
compares against is one the type declares (a typo would otherwise be a silent, always-false branch)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from app.answer import Support, Via
from app.ui.backend import ProblemKind

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for top in ("app", "evals") for p in (ROOT / top).rglob("*.py"))


def _literals(pattern: str, paths: list[Path]) -> set[tuple[str, str]]:
    found = set()
    for path in paths:
        for value in re.findall(pattern, path.read_text(encoding="utf-8")):
            found.add((path.relative_to(ROOT).as_posix(), value))
    return found


@pytest.mark.parametrize(
    ("pattern", "allowed", "paths"),
    [
        (r"\bvia\s*(?:==|!=|=)\s*\"(\w+)\"", Via, SOURCES),
        (r"\bsupport\s*(?:==|!=|=)\s*\"(\w+)\"", Support, SOURCES),
        (r"\bProblem\(\"(\w+)\"", ProblemKind, sorted((ROOT / "app" / "ui").rglob("*.py"))),
    ],
)
def test_every_literal_used_is_declared(pattern: str, allowed: object, paths: list[Path]) -> None:
    used = _literals(pattern, paths)
    assert used, "the pattern finds the uses (else this test checks nothing)"
    unknown = {(file, value) for file, value in used if value not in get_args(allowed)}
    assert not unknown, unknown
