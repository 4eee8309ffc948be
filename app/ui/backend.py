"""Settings, the cached pipeline and corpus data for the UI pages.

The pipeline (index + embedding model) is loaded once per process with
``st.cache_resource``; a failure is never cached, so after ``legalqa ingest``
the next page load succeeds.  Failures come back as a ``Problem`` the pages
show as a clear message (with the command to run), never as a trace.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import streamlit as st

from app.failures import redact as redact_secret
from ingest.errors import IndexMismatchError, IndexMissingError, LegalQAError
from ingest.settings import Settings
from ingest.types import Chunk, DocumentMeta

if TYPE_CHECKING:
    from app.pipeline import Pipeline

log = logging.getLogger("legalqa.ui")


ProblemKind = Literal["settings", "missing", "mismatch", "backend"]


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str


def load_settings() -> Settings | Problem:
    try:
        return Settings.from_env()
    except LegalQAError as exc:
        return Problem("settings", str(exc))


def redact(text: str, settings: Settings | None) -> str:
    """The API key masked out of a problem shown on a page (the one rule of ``app.failures.redact``)."""
    return redact_secret(text, settings.llm_api_key if settings else "")


def settings_and_pipeline() -> tuple[Settings, Pipeline] | Problem:
    """Both, or the first problem met (pages that can do nothing without the index)."""
    settings = load_settings()
    if isinstance(settings, Problem):
        return settings
    pipeline = get_pipeline(settings)
    return pipeline if isinstance(pipeline, Problem) else (settings, pipeline)


def get_pipeline(settings: Settings) -> Pipeline | Problem:
    """The process's one pipeline for these settings (``app.pipeline.default_pipeline``: loaded once,
    reopened after a new ingest), or the problem that keeps it from opening; never cached."""
    from app.pipeline import default_pipeline

    try:
        with st.spinner("正在加载资料索引和模型（仅首次需要几秒钟）…"):
            pipeline = default_pipeline(settings)
        _warm(pipeline)
        return pipeline
    except IndexMissingError as exc:
        problem = Problem("missing", redact(str(exc), settings))
    except IndexMismatchError as exc:
        problem = Problem("mismatch", redact(str(exc), settings))
    except LegalQAError as exc:
        problem = Problem("backend", redact(str(exc), settings))
    except Exception as exc:  # a model or store that fails to load must not crash the page
        problem = Problem("backend", redact(f"{type(exc).__name__}: {exc}", settings))
    log.warning("pipeline unavailable (%s): %s", problem.kind, problem.message)
    return problem


_WARMED: set[int] = set()


def _warm(pipeline: Pipeline) -> None:
    """Once per opened index: log which generation serves the page, and warm up the query embedder,
    tokenizer and BM25 so the first question is not the slow one (a failing warm-up shows up,
    clearly, on the first question instead)."""
    if id(pipeline.index) in _WARMED:
        return
    _WARMED.add(id(pipeline.index))
    log.info("pipeline opened index generation %s (%s)", pipeline.index.info.generation, pipeline.index.info.path)
    with contextlib.suppress(Exception):
        pipeline.retrieve("生成式人工智能服务 民事责任", 1)


def doc_chunks(pipeline: Pipeline) -> dict[str, tuple[Chunk, ...]]:
    """Every indexed chunk grouped by document, in document order."""
    return pipeline.index.chunks_by_doc()


@st.cache_data(show_spinner=False, ttl=300)
def _manifest(corpus_dir: str) -> list[DocumentMeta]:
    from ingest.manifest import load_manifest

    return load_manifest(corpus_dir)


def forget_manifest() -> None:
    """Drop the cached manifest (after a document was added): the next page shows the new list."""
    _manifest.clear()


def documents(settings: Settings, pipeline: Pipeline | None = None) -> list[DocumentMeta]:
    """Manifest entries; if the manifest cannot be read, what the index knows about each document."""
    try:
        return list(_manifest(str(settings.corpus_dir)))
    except Exception:  # noqa: BLE001 - fall back to the index below
        pass
    if pipeline is None:
        return []
    metas = []
    for doc_id, chunks in doc_chunks(pipeline).items():
        c = chunks[0]
        metas.append(
            DocumentMeta(
                doc_id=doc_id,
                title=c.doc_title,
                short_title=c.doc_title,
                kind=c.kind,
                file=c.file,
                sha256=c.sha256,
            )
        )
    return metas


def document_meta(settings: Settings, doc_id: str, pipeline: Pipeline | None = None) -> DocumentMeta | None:
    return next((m for m in documents(settings, pipeline) if m.doc_id == doc_id), None)


def context_window(
    chunks: Sequence[Chunk], start: int, end: int, around: int
) -> tuple[list[Chunk], bool, bool]:
    """The chunks overlapping [start, end) plus ``around`` on each side; flags say if more exist before/after."""
    hits = [i for i, c in enumerate(chunks) if c.start < end and start < c.end]
    if not hits:
        return [], False, False
    lo, hi = max(0, hits[0] - around), min(len(chunks), hits[-1] + around + 1)
    return list(chunks[lo:hi]), lo > 0, hi < len(chunks)


@st.cache_data(show_spinner=False, max_entries=512)
def citation_check(
    file: str, sha256: str, start: int, end: int, quote: str, corpus_dir: str
) -> tuple[bool, str]:
    """Re-check one citation against the corpus file (sha256 and exact slice), for the 原文核对 badge."""
    from pathlib import Path

    from app.answer import Citation
    from app.verify import check_citation

    cit = Citation(0, "", "", "", "", "", quote, start, end, file, sha256, 0.0)
    result = check_citation(cit, Path(corpus_dir))
    return result.ok, result.problem
