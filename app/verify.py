"""Re-check a saved answer's citations against the corpus files, for legal staff."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from app.types import Answer, Citation


@dataclass(frozen=True, slots=True)
class CitationCheck:
    number: int
    locator: str
    ok: bool
    problem: str = ""


def check_citation(citation: Citation, corpus_dir: Path) -> CitationCheck:
    path = corpus_dir / citation.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        return CitationCheck(citation.number, citation.locator, False, f"无法读取 {path}: {exc.strerror}")
    if hashlib.sha256(data).hexdigest() != citation.sha256:
        return CitationCheck(citation.number, citation.locator, False, f"{citation.file} 已被修改（sha256 不同），引文可能已过时")
    text = data.decode("utf-8", errors="replace")
    if text[citation.start : citation.end] != citation.quote:
        return CitationCheck(citation.number, citation.locator, False, f"{citation.file}[{citation.start}:{citation.end}] 与引文不一致")
    return CitationCheck(citation.number, citation.locator, True)


def verify_answer(answer: Answer, corpus_dir: Path) -> list[CitationCheck]:
    return [check_citation(c, corpus_dir) for c in answer.citations]
