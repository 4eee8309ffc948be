"""The one pipeline of an API process: built on first use, reopened after an ingest.

Built lazily so ``legalqa api`` binds its port at once and ``/healthz`` can
report a missing index instead of the process dying.  A failure is never
cached: after ``legalqa ingest`` the next request succeeds.  When an ingest
switches in a new index generation, ``Index.is_current()`` turns false and the
next request builds a fresh pipeline; requests already running finish on the
old one, whose index is released when the last of them drops it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.api.errors import ApiError
from app.pipeline import Pipeline, build_pipeline, redact
from ingest.errors import IndexMismatchError, IndexMissingError, LegalQAError
from ingest.settings import Settings


@dataclass
class PipelineHolder:
    settings: Settings
    factory: Callable[[Settings], Pipeline] = build_pipeline
    _pipeline: Pipeline | None = field(default=None, repr=False)
    _neighbours: tuple[Any, dict[str, tuple[str | None, str | None]]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self) -> Pipeline:
        """The current pipeline, or ``ApiError(503)`` naming what to run (e.g. ``legalqa ingest``)."""
        pipeline = self._pipeline
        if pipeline is not None and _is_current(pipeline):
            return pipeline
        with self._lock:
            pipeline = self._pipeline
            if pipeline is not None and _is_current(pipeline):
                return pipeline
            try:
                pipeline = self.factory(self.settings)
            except IndexMissingError as exc:
                raise ApiError(503, f"the index is not available: {self._redact(exc)}") from None
            except IndexMismatchError as exc:
                raise ApiError(503, f"the index does not match the settings: {self._redact(exc)}") from None
            except LegalQAError as exc:
                raise ApiError(503, self._redact(exc)) from None
            except Exception as exc:  # a model or store that fails to load is a 503, not a trace
                raise ApiError(503, f"the backend failed to load ({type(exc).__name__}): {self._redact(exc)}") from None
            with contextlib.suppress(Exception):  # warm up now; a real failure shows on the first question
                pipeline.retrieve("生成式人工智能服务 民事责任", 1)
            self._pipeline = pipeline
            return pipeline

    def neighbours(self, pipeline: Pipeline) -> dict[str, tuple[str | None, str | None]]:
        """chunk_id → (previous, next) chunk id in the same document, computed once per index."""
        cached = self._neighbours
        if cached is None or cached[0] is not pipeline.index:
            table: dict[str, tuple[str | None, str | None]] = {}
            for chunks in pipeline.index.chunks_by_doc().values():
                for i, c in enumerate(chunks):
                    prev = chunks[i - 1].chunk_id if i > 0 else None
                    nxt = chunks[i + 1].chunk_id if i + 1 < len(chunks) else None
                    table[c.chunk_id] = (prev, nxt)
            cached = (pipeline.index, table)
            self._neighbours = cached
        return cached[1]

    def _redact(self, exc: Exception) -> str:
        return redact(str(exc), self.settings.llm_api_key)


def _is_current(pipeline: Pipeline) -> bool:
    is_current = getattr(pipeline.index, "is_current", None)
    if not callable(is_current):
        return True
    try:
        return bool(is_current())
    except OSError:
        return False  # the CURRENT pointer cannot be read: reopen, and report what that finds
