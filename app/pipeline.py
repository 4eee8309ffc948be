"""The only place that builds concrete classes: settings → index → retriever → answerer → Answer.

``Pipeline.ask`` never raises for a user's input or a backend failure: it
returns an ``Answer`` with ``error`` set, and that answer carries the warning
like every other.  Error messages never contain the LLM API key.

A pipeline is safe to share between threads (the UI and ``app.ask`` do): the
index, retrievers and answerers are read-only after construction, the embedder
serializes calls into its engine, and the few mutable bits here are locked.

``Pipeline.stale_documents()`` tells whether corpus files changed after the
index was built; every answer lists them in ``Answer.stale`` (a note, nothing
is removed) until ``legalqa ingest`` runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from app.abstain import ABSTAIN_TEXT, DECLINE_TEXTS, Evidence, assess
from app.conversation import HistoryItem, context_for, resolved_query, user_questions
from app.decide import Decision, decide
from app.decline import DeclineModel, load_model
from app.draft import Answerer, Draft, Rewriter
from app.extractive import ExtractiveAnswerer
from app.issues import IssueMatcher
from app.question import Question, QuestionError, clean_question, retrieval_query
from app.retrieve import HybridRetriever
from app.types import Answer, Retrieved
from ingest.embed import Embedder, make_embedder
from ingest.errors import CorpusError, LegalQAError
from ingest.issue_map import issue_map_path, load_issue_map
from ingest.settings import Settings
from ingest.store import Index
from ingest.types import DocumentMeta, source_mark

log = logging.getLogger("legalqa.pipeline")


@dataclass
class Pipeline:
    settings: Settings
    index: Index
    answerers: Mapping[str, Answerer]
    retrievers: dict[str, HybridRetriever] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _log_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _shas: dict[Path, tuple[tuple[int, int], str]] = field(default_factory=dict, repr=False)
    _metas: tuple[tuple[Path, int, int], dict[str, DocumentMeta]] | None = field(default=None, repr=False)
    _files: tuple[object, dict[str, str]] | None = field(default=None, repr=False)  # (index, doc_id → file)
    _decliner: tuple[DeclineModel | None] | None = field(default=None, repr=False)

    def retriever(self, mode: str = "hybrid") -> HybridRetriever:
        with self._lock:
            if mode not in self.retrievers:
                issues = self._issue_matcher() if mode == "hybrid" else None
                self.retrievers[mode] = HybridRetriever(self.index, mode=mode, issues=issues)
            return self.retrievers[mode]

    def _decline_model(self) -> DeclineModel | None:
        """The trained decline model, if it was trained with this index's embedder (loaded once)."""
        with self._lock:
            if self._decliner is None:
                self._decliner = (load_model(embedder=self.index.embedder.name),)
            return self._decliner[0]

    def _issue_matcher(self) -> IssueMatcher | None:
        """The corpus's issue map against this index; a broken map is reported and left out, never fatal
        (``legalqa ingest`` refuses it with the file and field)."""
        try:
            issue_map = load_issue_map(issue_map_path(self.settings.corpus_dir))
        except CorpusError as exc:
            log.warning("issue map left out: %s", exc)
            return None
        if not issue_map.issues:
            return None
        embedder = self.index.embedder
        return IssueMatcher(
            issue_map,
            self.index.chunks,
            embedder.embed_documents,
            fingerprint=f"{embedder.name}|{embedder.version}",
            cache_dir=self.settings.data_dir / "cache",
        )

    def retrieve(
        self, question: str, k: int | None = None, mode: str = "hybrid", *, focus: str = ""
    ) -> list[Retrieved]:
        """``focus``: for a follow-up read against the conversation, the follow-up alone."""
        return self.retriever(mode).retrieve(question, k or self.settings.top_k, focus=focus)

    def prepare(self, question: object, history: Sequence[HistoryItem] = ()) -> Question:
        """The question as every stage uses it (raises QuestionError for input that cannot be asked):
        cleaned, fake system turns dropped for retrieval, an elliptical follow-up read against ``history``."""
        text = clean_question(question, self.settings.max_question_chars)
        query = retrieval_query(text)
        context = context_for(query, self._earlier(history))
        return Question(text=text, query=resolved_query(query, context), context=context)

    def _earlier(self, history: Sequence[HistoryItem]) -> list[str]:
        """The conversation's earlier questions, cleaned like the question (ones that could not be asked are left out)."""
        earlier = []
        for q in user_questions(history):
            try:
                earlier.append(retrieval_query(clean_question(valid_text(q), self.settings.max_question_chars)))
            except QuestionError:
                continue
        return earlier

    def ask(
        self,
        question: str,
        *,
        history: Sequence[HistoryItem] = (),
        k: int | None = None,
        answerer: str | None = None,
        mode: str = "hybrid",
    ) -> Answer:
        """Answer ``question``; ``history`` holds the conversation's earlier turns (``Turn``s, or the
        earlier questions as strings), used only to read an elliptical follow-up."""
        started = time.perf_counter()
        name = answerer or self.settings.answerer
        if isinstance(name, str):
            name = valid_text(name)
        if isinstance(question, str):  # lone surrogates would fail the question log, every save and print
            question = valid_text(question)
        try:
            asked = self.prepare(question, history)
        except QuestionError as exc:
            return error_answer(question, name, self._redact(str(exc)))
        if name not in self.answerers:
            return error_answer(asked.text, name, f"未配置回答器 {name!r}；可用：{', '.join(self.answerers)}")
        self._log(asked.text)
        try:
            t0 = time.perf_counter()
            asked = self._rewritten(asked, self.answerers[name], self._earlier(history))
            retriever = self.retriever(mode)
            results = self.retrieve(
                asked.query, k, mode, focus=retrieval_query(asked.text) if asked.resolved else ""
            )
            t1 = time.perf_counter()
            evidence = assess(
                asked.query,
                results,
                self.settings.abstain_threshold,
                self.index.idf,
                model=self._decline_model(),
                issue_score=retriever.best_issue_score(asked.query),
                vector=self.index.query_vector(asked.query),
            )
            decision = decide(asked, results, evidence, retriever)
            if decision.decline:
                draft = Draft(decision.decline, (), (), abstained=True)
            else:
                draft = self.answerers[name].answer(asked, results)
            t2 = time.perf_counter()
        except LegalQAError as exc:
            return error_answer(asked.text, name, self._redact(str(exc)))
        except Exception as exc:  # a backend failure must still produce a warned answer, not a trace
            return error_answer(asked.text, name, self._redact(f"后端出错（{type(exc).__name__}）：{exc}"))
        timings = {
            "retrieve_ms": (t1 - t0) * 1e3,
            "answer_ms": (t2 - t1) * 1e3,
            "total_ms": (time.perf_counter() - started) * 1e3,
        }
        answer = self._mark_sources(_finish(asked, name, draft, results, evidence, timings, decision))
        stale = self._stale_or_nothing()
        return replace(answer, stale=tuple(stale)) if stale else answer

    @staticmethod
    def _rewritten(asked: Question, answerer: Answerer, earlier: Sequence[str]) -> Question:
        """A follow-up read by the model itself when the answerer can (LLM); the heuristic reading stays
        when the model fails or returns nothing usable."""
        if not asked.resolved or not isinstance(answerer, Rewriter):
            return asked
        try:
            standalone = answerer.rewrite(retrieval_query(asked.text), earlier)
        except Exception:  # noqa: BLE001 - the rewrite is an improvement, never a reason to fail the ask
            return asked
        return replace(asked, query=standalone) if standalone else asked

    def stale_documents(self) -> list[str]:
        """Doc ids whose corpus no longer matches the index (sorted): the file's sha256 differs from
        the indexed one or the file is gone, or the manifest lists a sha256 (or a document) that the
        index does not have, or the index has a document the manifest dropped.  Empty when the corpus
        folder is absent (nothing to compare).  File hashes are cached by size and mtime; a file that
        ingest would refuse (symlink out of the corpus, FIFO, over the size limit) counts as stale."""
        info = getattr(self.index, "info", None)
        corpus = Path(self.settings.corpus_dir)
        if info is None or not corpus.is_dir():
            return []
        indexed: dict[str, str] = dict(info.documents)
        files = dict(self._index_files())
        stale: set[str] = set()
        metas = self._manifest(corpus)
        if metas is not None:
            for doc_id, meta in metas.items():
                files.setdefault(doc_id, meta.file)
                if indexed.get(doc_id) != meta.sha256:
                    stale.add(doc_id)
            stale |= set(indexed) - set(metas)
        for doc_id, sha in indexed.items():
            file = files.get(doc_id)
            if file is not None and self._file_sha(corpus, file) != sha:
                stale.add(doc_id)
        return sorted(stale)

    def _index_files(self) -> dict[str, str]:
        """doc_id → corpus file of the indexed chunks, computed once per index (it was O(chunks) per ask)."""
        cached = self._files
        if cached is None or cached[0] is not self.index:
            cached = (self.index, {c.doc_id: c.file for c in self.index.chunks.values()})
            self._files = cached
        return cached[1]

    def _manifest(self, corpus: Path) -> dict[str, DocumentMeta] | None:
        """The manifest's entries by doc id (cached by size and mtime); None if it cannot be read."""
        from ingest.manifest import MANIFEST_NAME, load_manifest

        try:
            st = (corpus / MANIFEST_NAME).stat()
            key = (corpus, st.st_size, st.st_mtime_ns)
            if self._metas is None or self._metas[0] != key:
                self._metas = (key, {m.doc_id: m for m in load_manifest(corpus)})
            return self._metas[1]
        except (CorpusError, OSError):
            return None  # a broken manifest is ingest's error to report; compare the files alone

    def _mark_sources(self, answer: Answer) -> Answer:
        """Citations of user-added documents carry their mark (``Citation.source_mark``) from here on,
        so no output has to look the manifest up again; an unreadable manifest marks nothing."""
        if not answer.citations:
            return answer
        metas = self._manifest(Path(self.settings.corpus_dir)) or {}
        marked = tuple(replace(c, source_mark=source_mark(metas.get(c.doc_id))) for c in answer.citations)
        return replace(answer, citations=marked)

    def _stale_or_nothing(self) -> list[str]:
        try:
            return self.stale_documents()
        except Exception:  # noqa: BLE001 - a staleness note must never cost the user the answer
            return []

    def _file_sha(self, corpus: Path, file: str) -> str | None:
        """sha256 of a corpus file (cached by size and mtime), or None, i.e. stale, when it is gone or
        ingest would refuse it: outside the corpus folder after symlinks, not a regular file, too big.
        Only a checked regular file is opened: a FIFO in the corpus used to block every ``ask`` here."""
        from ingest.corpus_files import confined_path, corpus_file_stat, read_corpus_file

        try:
            real = confined_path(corpus, file)
            st = corpus_file_stat(corpus, file)
            key = (st.st_size, st.st_mtime_ns)
            cached = self._shas.get(real)
            if cached is not None and cached[0] == key:
                return cached[1]
            sha = hashlib.sha256(read_corpus_file(corpus, file)).hexdigest()
        except (CorpusError, OSError):
            return None
        self._shas[real] = (key, sha)
        return sha

    def _redact(self, message: str) -> str:
        return redact(message, self.settings.llm_api_key)

    def _log(self, question: str) -> None:
        """Question text reaches the disk only with LEGALQA_LOG_QUESTIONS on; a failing log never fails the ask."""
        if not self.settings.log_questions:
            return
        path = self.settings.data_dir / "questions.log"
        line = json.dumps({"t": time.time(), "q": question}, ensure_ascii=False) + "\n"
        with self._log_lock, contextlib.suppress(OSError), path.open("a", encoding="utf-8") as fh:
            fh.write(line)


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


def _finish(
    question: Question,
    name: str,
    draft: Draft,
    results: list[Retrieved],
    evidence: Evidence,
    timings: dict[str, float],
    decision: Decision,
) -> Answer:
    abstained = draft.abstained or not draft.citations
    declined = draft.text if draft.abstained and draft.text in DECLINE_TEXTS else ABSTAIN_TEXT
    notes = decision.notes if not abstained or decision.decline else ()
    return Answer(
        question=question.text,
        text=declined if abstained else draft.text,
        citations=() if abstained else draft.citations,
        statements=() if abstained else draft.statements,
        abstained=abstained,
        answerer=name,
        unsupported_removed=draft.unsupported_removed,
        timings=timings,
        retrieved=tuple(_retrieved_row(r) for r in results),
        evidence=evidence.as_dict(),
        notes=notes,
        searched=question.query if question.resolved else "",
        issues=() if abstained else decision.issues,
    )


def _retrieved_row(r: Retrieved) -> dict[str, object]:
    return {
        "chunk_id": r.chunk.chunk_id,
        "doc_id": r.chunk.doc_id,
        "locator": r.chunk.locator,
        "via": r.via,
        "issue": r.issue.issue_id if r.issue else "",
        "fused_score": r.fused_score,
        "dense_score": r.dense_score,
        "bm25_score": r.bm25_score,
        "dense_rank": r.dense_rank,
        "bm25_rank": r.bm25_rank,
    }


def error_answer(question: object, name: str, message: str) -> Answer:
    return Answer(
        question=valid_text(question) if isinstance(question, str) else repr(question),
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
    return Pipeline(
        settings=settings, index=index, answerers=dict(answerers) if answerers else make_answerers(settings)
    )


@lru_cache(maxsize=4)
def _cached(settings: Settings) -> Pipeline:
    return build_pipeline(settings)


_DEFAULT_LOCK = threading.Lock()


def default_pipeline(settings: Settings | None = None) -> Pipeline:
    """One pipeline per settings per process (the model and index load once, even when threads race)."""
    settings = settings or Settings.from_env()
    with _DEFAULT_LOCK:
        return _cached(settings)
