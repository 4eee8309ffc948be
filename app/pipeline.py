"""The only place that builds concrete classes: settings → index → retriever → answerer → Answer.

``Pipeline.ask`` never raises for a user's input or a backend failure: it
returns an ``Answer`` with ``error`` set, and that answer carries the warning
like every other.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from app.abstain import ABSTAIN_TEXT, Evidence, assess
from app.draft import Answerer, Draft
from app.extractive import ExtractiveAnswerer
from app.question import QuestionError, clean_question
from app.retrieve import HybridRetriever
from app.types import Answer, Retrieved
from ingest.embed import Embedder, make_embedder
from ingest.errors import LegalQAError
from ingest.settings import Settings
from ingest.store import Index


@dataclass
class Pipeline:
    settings: Settings
    index: Index
    answerers: Mapping[str, Answerer]
    retrievers: dict[str, HybridRetriever] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retriever(self, mode: str = "hybrid") -> HybridRetriever:
        with self._lock:
            if mode not in self.retrievers:
                self.retrievers[mode] = HybridRetriever(self.index, mode=mode)
            return self.retrievers[mode]

    def retrieve(self, question: str, k: int | None = None, mode: str = "hybrid") -> list[Retrieved]:
        return self.retriever(mode).retrieve(question, k or self.settings.top_k)

    def ask(self, question: str, *, k: int | None = None, answerer: str | None = None, mode: str = "hybrid") -> Answer:
        started = time.perf_counter()
        name = answerer or self.settings.answerer
        try:
            text = clean_question(question, self.settings.max_question_chars)
        except QuestionError as exc:
            return _error_answer(question, name, str(exc))
        if name not in self.answerers:
            return _error_answer(text, name, f"未配置回答器 {name!r}；可用：{', '.join(self.answerers)}")
        self._log(text)
        try:
            t0 = time.perf_counter()
            results = self.retrieve(text, k, mode)
            t1 = time.perf_counter()
            evidence = assess(text, results, self.settings.abstain_threshold, self.index.idf)
            draft = Draft("", (), (), abstained=True) if evidence.abstain else self.answerers[name].answer(text, results)
            t2 = time.perf_counter()
        except LegalQAError as exc:
            return _error_answer(text, name, str(exc))
        except Exception as exc:  # a backend failure must still produce a warned answer, not a trace
            return _error_answer(text, name, f"后端出错（{type(exc).__name__}）：{exc}")
        timings = {"retrieve_ms": (t1 - t0) * 1e3, "answer_ms": (t2 - t1) * 1e3, "total_ms": (time.perf_counter() - started) * 1e3}
        return _finish(text, name, draft, results, evidence, timings)

    def _log(self, question: str) -> None:
        if not self.settings.log_questions:
            return
        path = self.settings.data_dir / "questions.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": time.time(), "q": question}, ensure_ascii=False) + "\n")


def _finish(question: str, name: str, draft: Draft, results: list[Retrieved], evidence: Evidence, timings: dict[str, float]) -> Answer:
    abstained = draft.abstained or not draft.citations
    return Answer(
        question=question,
        text=ABSTAIN_TEXT if abstained else draft.text,
        citations=() if abstained else draft.citations,
        statements=() if abstained else draft.statements,
        abstained=abstained,
        answerer=name,
        unsupported_removed=draft.unsupported_removed,
        timings=timings,
        retrieved=tuple(_retrieved_row(r) for r in results),
        evidence=evidence.as_dict(),
    )


def _retrieved_row(r: Retrieved) -> dict[str, object]:
    return {
        "chunk_id": r.chunk.chunk_id,
        "doc_id": r.chunk.doc_id,
        "locator": r.chunk.locator,
        "via": r.via,
        "fused_score": r.fused_score,
        "dense_score": r.dense_score,
        "bm25_score": r.bm25_score,
        "dense_rank": r.dense_rank,
        "bm25_rank": r.bm25_rank,
    }


def _error_answer(question: object, name: str, message: str) -> Answer:
    return Answer(
        question=question if isinstance(question, str) else repr(question),
        text=ABSTAIN_TEXT,
        citations=(),
        abstained=True,
        answerer=name,
        error=message,
    )


def make_answerers(settings: Settings) -> dict[str, Answerer]:
    answerers: dict[str, Answerer] = {"extractive": ExtractiveAnswerer()}
    if settings.llm:
        from app.llm import LLMAnswerer, chat_model_from_settings

        answerers["llm"] = LLMAnswerer(chat_model_from_settings(settings))
    return answerers


def build_pipeline(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    answerers: Mapping[str, Answerer] | None = None,
) -> Pipeline:
    settings = settings or Settings.from_env()
    embedder = embedder or make_embedder(settings.embedder)
    index = Index.open(settings, embedder)
    return Pipeline(settings=settings, index=index, answerers=dict(answerers) if answerers else make_answerers(settings))


@lru_cache(maxsize=4)
def _cached(settings: Settings) -> Pipeline:
    return build_pipeline(settings)


def default_pipeline(settings: Settings | None = None) -> Pipeline:
    """One pipeline per settings per process (the model and index load once)."""
    return _cached(settings or Settings.from_env())
