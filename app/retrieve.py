"""Hybrid retrieval: direct article lookup, dense + BM25 (+ the issue map) fused by RRF, cross-references.

Order of the result list: articles the question names (``via="lookup"``), then
the fused ranking, then the governing rules of matched issues that ranked lower
(``via="issue"``), then articles that the top passages themselves cite
(``via="xref"``) as supporting evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from app.answer import IssueTag, Retrieved
from app.citations_ref import BUNDLED_AGREEMENT, AgreementNames, ArticleRef, StatuteNames, agreement_parts
from app.fusion import Candidate, FusionModel
from app.glosses import GlossRanker
from app.issues import IssueMatch, IssueMatcher
from app.question_memory import QuestionMemory
from app.terms import question_terms
from ingest.articles import find_article_refs, repealed_codes
from ingest.numerals import int_to_cn
from ingest.parsers.agreement import list_head_id
from ingest.types import Chunk

if TYPE_CHECKING:
    from ingest.store import IndexInfo

MODES = ("hybrid", "dense", "bm25")


class SearchIndex(Protocol):
    """What retrieval (and the staleness watch) need from the index (ingest.store.Index has it)."""

    chunks: dict[str, Chunk]
    info: IndexInfo

    def idf(self, tokens: Sequence[str]) -> dict[str, float]: ...

    def dense_search(self, query: str, k: int) -> list[tuple[str, float]]: ...

    def query_vector(self, query: str) -> list[float]: ...

    def plain_query_vector(self, query: str) -> list[float]: ...

    def vector_search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]: ...

    def bm25_search(self, query: str, k: int) -> list[tuple[str, float]]: ...

    def similarities(self, vector: Sequence[float], chunk_ids: Sequence[str]) -> list[float]: ...


class Retriever(Protocol):
    def retrieve(self, question: str, k: int, *, focus: str = "") -> list[Retrieved]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 40  # per ranker, before fusion
    # the embedding ranking's weight in the fusion (BM25's is 1) and RRF's k.  With the query adapter
    # (ingest.query_adapter) the dense ranking is the best single one on lay questions, and a smaller k
    # lets its top ranks count for more.  Lay dev Recall@5, adapter on: 1.5 / 60 0.792, 1.0 / 30 0.816,
    # 1.5 / 30 0.825.  Measured while issues were still matched through the adapter (1.5 / 30 then 0.820):
    # 1.0 / 60 0.786, 1.5 / 20 0.814, 2.0 / 30 0.805.  With the adapter retrained on the consultation
    # stories too (its dense lay dev Recall@5 0.678 -> 0.717), covered / lay dev Recall@5 / multi-turn
    # dev follow-ups: 1.5 / 30 0.881 / 0.816 / 0.707, 2.0 / 30 0.894 / 0.813 / 0.747, 2.5 / 30 0.906 /
    # 0.810 / 0.707, 2.0 / 20 0.906 / 0.810 / 0.707; 2.0 / 30 has the best sum
    dense_weight: float = 2.0
    rrf_k: int = 30
    named_statute_bonus: float = 0.5  # in units of the top RRF term; favours a statute the question names
    max_xrefs: int = 2
    rerank_weight: float = (
        1.0  # final ordering: weight of idf-weighted question-term coverage vs normalised RRF
    )
    rerank_depth: int = 30
    issue_weight: float = (
        1.0  # weight of the issue map's ranking in the fusion, next to dense and BM25 (1 each)
    )
    issue_rules: int = 3  # governing provisions of matched issues kept after the top k even if ranked lower
    issue_extras: int = 3  # the agreement clause / commentary of matched issues, appended likewise
    # the articles' lay glosses (app.glosses), ranked by their words and by embedding similarity.  Lay dev
    # Recall@5 without them 0.654; words / vector weights 0.5 / 0.5: 0.738, 0.5 / 0.75: 0.744, 0.75 / 0.5:
    # 0.753, 0.75 / 0.75: 0.759 and 1 / 1: 0.765, but these two lower held-out hit@5 (0.862 -> 0.828 /
    # 0.793); 0.75 / 0.5 is the best that leaves dev and held-out hit@5 where they were.  With the glosses
    # in the rerank's coverage too: 0.75 / 0.5 0.777 (held-out 0.897), 0.5 / 0.5 0.768, 1 / 1 0.741
    gloss_words_weight: float = 0.75
    gloss_vector_weight: float = 0.5
    # the training questions' memory (app.question_memory): weight 0.25 is the highest that costs the lay
    # dev split (articles without training questions) at most 0.02; the module docstring has the figures
    memory_weight: float = 0.25
    # with a learned fusion model (app.fusion): the reciprocal-rank order's weight beside the learned
    # order's (1), both by 1 / (1 + rank); 0 leaves the order to the learned model.  Covered / lay dev
    # Recall@5 / multi-turn dev follow-ups (their sum chose it, as it chose dense_weight and rrf_k):
    # 0: 0.931 / 0.861 / 0.733, 0.5: 0.925 / 0.855 / 0.720, 0.75: 0.931 / 0.855 / 0.747, 1: 0.938 /
    # 0.849 / 0.760, 1.5: 0.944 / 0.843 / 0.760, 2: 0.944 / 0.843 / 0.773, 3: 0.938 / 0.840 / 0.747,
    # 5: 0.931 / 0.822 / 0.747; reciprocal rank alone 0.900 / 0.810 / 0.747
    fusion_blend: float = 2.0


def article_key(doc_id: str, number: int, suffix: int = 0) -> tuple[str, str]:
    return doc_id, f"第{int_to_cn(number)}条" + (f"之{int_to_cn(suffix)}" if suffix else "")


@dataclass(frozen=True)
class _Signals:
    """What the rankers and the issue map said about one question, before fusion."""

    vector: Sequence[float] | None  # through the query adapter: what passages are ranked by
    plain: Sequence[float] | None  # the model's own: what issues are matched and similarities shown by
    rankings: list[tuple[str, list[tuple[str, float]], float]]  # (ranker, ranking, fusion weight)
    matches: list[IssueMatch]
    tags: dict[str, IssueTag]
    named: frozenset[str]  # doc ids of the statutes and user-added agreements the question names
    cover: Callable[[str], float]  # chunk id → the question's coverage by it (``_coverage``), remembered


class HybridRetriever:
    """Implements ``Retriever`` over any ``SearchIndex``; ``mode`` picks dense, bm25 or both.

    With an issue map (hybrid mode), the provisions of the issues the question matches
    are a third ranking in the fusion, and each matched issue's governing rule and
    agreement clause are appended after the top k when they ranked lower (``via="issue"``).
    With the articles' lay glosses and the training questions' memory (hybrid mode), their rankings
    join the fusion too.  With a learned fusion model (``app.fusion``), every candidate is scored by what
    the rankers said about it, and that order is blended with reciprocal-rank fusion
    (``RetrievalConfig.fusion_blend``).
    """

    def __init__(
        self,
        index: SearchIndex,
        *,
        mode: str = "hybrid",
        config: RetrievalConfig | None = None,
        issues: IssueMatcher | None = None,
        glosses: GlossRanker | None = None,
        memory: QuestionMemory | None = None,
        fusion: FusionModel | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; use one of {MODES}")
        self.index = index
        self.mode = mode
        self.config = config or RetrievalConfig()
        self.issues = issues if mode == "hybrid" else None
        self.glosses = glosses if mode == "hybrid" else None
        self.memory = memory if mode == "hybrid" else None
        self.fusion = fusion if mode == "hybrid" else None
        self._articles: dict[tuple[str, str], list[str]] = {}
        titles: dict[str, list[str]] = {}
        self._article_counts: dict[str, int] = {}
        repealed: tuple[str, ...] = ()
        for chunk in index.chunks.values():
            if chunk.article:
                repealed += repealed_codes(chunk.text) if "废止" in chunk.text else ()
                self._articles.setdefault((chunk.doc_id, chunk.article), []).append(chunk.chunk_id)
                self._article_counts[chunk.doc_id] = max(
                    self._article_counts.get(chunk.doc_id, 0), chunk.article_no
                )
                titles.setdefault(chunk.doc_id, [chunk.doc_title, chunk.locator.split("》")[0] + "》"])
        self.agreements = AgreementNames.of_chunks(index.chunks.values())
        self.names = StatuteNames(titles, repealed, self.agreements.numbered_names)
        # which statute articles the paper and the blog discuss, for "论文里提到的第1202条是什么"
        discussed: dict[tuple[str, int], dict[str, None]] = {}
        for chunk in index.chunks.values():
            if chunk.kind in _COMMENTARY:
                for ref in self.names.article_refs(chunk.text):
                    if ref.doc_id:
                        discussed.setdefault((ref.doc_id, ref.number), {})[chunk.chunk_id] = None
        self._discussed = {key: list(ids) for key, ids in discussed.items()}
        self._agreement_parts: dict[str, frozenset[tuple[int, int]]] = {}
        self._titles = {doc_id: names[1] for doc_id, names in titles.items()}

    def statute_title(self, doc_id: str) -> str:
        """The statute's name as citations show it (《民法典》)."""
        return self._titles.get(doc_id, doc_id)

    # -- public -------------------------------------------------------------
    def retrieve(self, question: str, k: int, *, focus: str = "") -> list[Retrieved]:
        """``focus``: the newest part of a question read against a conversation (the follow-up itself);
        issues it matches on its own come first, so a follow-up that changes the issue is followed."""
        lookups = self._named(question, focus) if self.mode == "hybrid" else []
        searched = self.without_other_numbers(question)
        signals = self._signals(searched, k, focus)
        ranked = self._ranked(searched, signals)
        seen = {r.chunk.chunk_id for r in lookups}
        results = lookups + [r for r in ranked if r.chunk.chunk_id not in seen]
        results = results[: max(k, len(lookups))]
        if self.mode == "hybrid":
            seen = {r.chunk.chunk_id for r in results}
            results += self._issue_extras(signals.tags, seen, ranked)
            results += self._xrefs(results, {r.chunk.chunk_id for r in results})
            results += self._list_heads(results, {r.chunk.chunk_id for r in results})
        if signals.plain is not None:
            scores = self.index.similarities(signals.plain, [r.chunk.chunk_id for r in results])
            results = [replace(r, similarity=s) for r, s in zip(results, scores, strict=True)]
        return results

    def _signals(self, question: str, k: int, focus: str = "") -> _Signals:
        vector = self.index.query_vector(question) if self.mode in ("hybrid", "dense") else None
        # issues are matched, and similarities reported, by the model's own vector: the query adapter
        # (ingest.query_adapter) is trained to rank passages, and moves every cosine it does not rank
        # (an issue's closeness fell from ~0.85 to ~0.2, below every threshold the map uses)
        plain = self.index.plain_query_vector(question) if vector is not None else None
        # what the issues' and the glosses' words are matched against (computed once per question)
        content = self._without_statute_names(question) if self.mode == "hybrid" else question
        rankings = self._rankings(question, k, vector, content)
        matches: list[IssueMatch] = []
        if plain is not None and self.issues:
            matches = self._matches(question, content, plain, focus, self._evidence(rankings))
        # a user-added agreement named ("云帆协议里…") is where to look, as a named statute is
        named = frozenset(
            doc for _s, _e, doc in self.names.mentions(question) + self.agreements.mentions(question)
        )
        return _Signals(
            vector, plain, rankings, matches, self._issue_tags(matches), named, self._coverage(question)
        )

    def candidates(self, question: str, k: int) -> dict[str, Candidate]:
        """What every ranker said about each passage it placed for ``question`` (hybrid mode): the learned
        fusion's input, for training it (``evals.train.fusion``)."""
        signals = self._signals(self.without_other_numbers(question), k)
        return self._candidates(signals, self._placements(signals))

    def missing_articles(self, question: str) -> list[tuple[str, ArticleRef, int]]:
        """Articles the question names that its statute does not have: (doc id, reference, article count).  A
        number no statute of the corpus has, its law not named, is said missing from the longest one."""
        missing = []
        longest = max(self._article_counts, key=lambda d: self._article_counts[d], default=None)
        for ref in self.names.article_refs(question):
            if ref.doc_id is None and longest and not self.statutes_with_article(ref):
                ref = replace(ref, doc_id=longest)  # "第二千条是什么": past the end of the longest statute
            if ref.doc_id is None or self.lookup_article(ref.doc_id, ref.number, ref.suffix):
                continue
            count = self._article_counts.get(ref.doc_id)
            if count:  # a statute of this index (a name of a document we do not hold is no claim of ours)
                missing.append((ref.doc_id, ref, count))
        return missing

    def asks_more_than_references(self, question: str) -> bool:
        """Whether the question has a matter of its own beyond naming articles, statutes or a section of
        the agreement ("生成式AI造成他人损害，谁来负责？" besides 第三十条): then it is answered from the
        rankers, with a note when a named article does not exist; "用户协议第八条" alone is a lookup."""
        spans = [(start, end) for start, end, _doc in self.names.mentions(question)]
        spans += [(start, end) for start, end, _doc in self.agreements.mentions(question)]
        spans += [(start, end) for start, end, _other in self.names.other_mentions(question)]
        rest = question
        for start, end in sorted(spans, reverse=True):
            rest = rest[:start] + " " + rest[end:]
        rest = _LOOKUP_WORDS.sub(" ", _REFERENCE_WORDS.sub(" ", rest))
        return len(question_terms(rest)) >= 2

    def agreement_parts(self, doc_id: str = BUNDLED_AGREEMENT) -> frozenset[tuple[int, int]]:
        """An agreement's numbered sections and clauses, (section, clause), clause 0 for a section (read
        from the index once: every ask's decision and lookup consults them)."""
        if doc_id not in self._agreement_parts:
            self._agreement_parts[doc_id] = agreement_parts(self.index.chunks, doc_id)
        return self._agreement_parts[doc_id]

    def without_other_numbers(self, question: str) -> str:
        """The question without the article numbers of documents we do not hold, for the rankers: in
        "我们跟供应商的合同第十二条写了逾期罚款，合法吗", 第十二条 matched 《产品质量法》第十二条."""
        ours = {ref.position for ref in self.names.article_refs(question)}
        for ref in reversed(self.names.article_refs(question, of_other_documents=True)):
            if ref.position not in ours:
                question = question[: ref.position] + question[ref.position + len(ref.text) :]
        return question

    def names_only_other_documents(self, question: str) -> bool:
        """Whether every article number the question gives belongs to a document we do not hold
        ("合同第十二条", "高等教育法第二十条", "产品质量法实施细则第五条")."""
        ours = (
            self.names.article_refs(question)
            or self.agreements.clause_refs(question)
            or self.agreements.section_refs(question)
        )
        return not ours and bool(find_article_refs(question))

    def missing_agreement_parts(self, question: str) -> list[tuple[str, int, int]]:
        """Sections ("用户协议第十四条", clause 0) and clauses ("第三部分第25条", "云帆协议第四部分第9条") that the
        agreement the question names does not have, (doc id, section, clause): said so, never answered with
        another document's 第十四条."""
        named = [(doc, section, 0) for doc, section in self.agreements.section_refs(question)]
        named += self.agreements.clause_refs(question)
        missing = []
        for doc, section, clause in named:
            parts = self.agreement_parts(doc)
            if not parts:
                continue
            # a clause of a section that does not exist is the section's absence ("第十四部分第25条")
            part = (section, clause if (section, 0) in parts else 0)
            if part not in parts:
                missing.append((doc, *part))
        return list(dict.fromkeys(missing))

    def agreement_title(self, doc_id: str) -> str:
        """The agreement's name as citations show it (《用户协议》, 《云帆协议》)."""
        return self.agreements.title(doc_id)

    def best_issue_score(self, question: str) -> float:
        """How close the question comes to any issue of the map (0 without one): a signal for declining.

        Embedding similarity and keywords only: the words a short question shares with an issue's long
        text decide between issues well but say little about whether it is in scope at all (with them,
        the decline model wrongly declined 12% of the short dev questions instead of 6%)."""
        if not self.issues:
            return 0.0
        ranked = self.issues.scores(
            self._without_statute_names(question), self.index.plain_query_vector(question)
        )
        return max((m.closeness for m in ranked), default=0.0)

    def lookup_article(self, doc_id: str, number: int, suffix: int = 0) -> list[Chunk]:
        return [self.index.chunks[i] for i in self._articles.get(article_key(doc_id, number, suffix), [])]

    # -- steps --------------------------------------------------------------
    def _named(self, question: str, focus: str) -> list[Retrieved]:
        """The articles and agreement clauses the question names.  A follow-up that names its own
        ("消保法第二十五条呢", its statute filled in by ``with_source_named_before``) is looked up alone:
        not the earlier turns' articles again."""
        if (
            focus
            and focus != question
            and (self.names.article_refs(focus) or self.agreements.section_refs(focus))
        ):
            question = focus
        found = self._lookup(self.names.article_refs(question))
        return found + self._discussing(question, found) + self._agreement_lookup(question)

    def _discussing(self, question: str, found: Sequence[Retrieved]) -> list[Retrieved]:
        """The paper's or the blog's passages on the articles looked up, when the question asks what that
        document says of them ("论文里提到的第1202条是什么": the article, then the paper on it)."""
        kinds = {kind for kind, name in _COMMENTARY.items() if name.search(question)}
        if not kinds:
            return []
        ids = [
            chunk_id
            for r in found
            for chunk_id in self._discussed.get((r.chunk.doc_id, r.chunk.article_no), [])
            if self.index.chunks[chunk_id].kind in kinds
        ]
        return [
            Retrieved(chunk=self.index.chunks[i], fused_score=1.0, via="lookup") for i in dict.fromkeys(ids)
        ]

    def with_source_named_before(self, follow_up: str, earlier: str) -> str:
        """A follow-up that gives an article number alone ("第二十五条呢") with the source the conversation
        named last before it that has such a number: "消保法第二十五条呢" after 消保法, "用户协议第十二条呢"
        after the agreement, "合同法第五十二条呢" after the repealed 合同法 (then said to be repealed, never
        the 民法典's 第五十二条).  An agreement is such a source where one of its parts was named, or by its
        name alone in a conversation that names no law ("民法典第五百八十四条能否突破用户协议的赔偿上限"
        is about the 民法典); a user-added one by its own name ("云帆协议第三条呢")."""
        named = self.names.mentions(follow_up) or self.names.other_mentions(follow_up)
        named = named or self.agreements.mentions(follow_up)
        part = _AGREEMENT_PART.search(follow_up)
        refs = self.names.article_refs(follow_up)  # 第二十五条, and 55条 asked about alone
        if named or _AGREEMENT_NAME.search(follow_up) or not (refs or part):
            return follow_up
        laws = [(end, earlier[start:end], doc) for start, end, doc in self.names.mentions(earlier)]
        laws += [(end, earlier[start:end], None) for start, end, _other in self.names.other_mentions(earlier)]
        # "第十三条呢" after "我们跟供应商的合同第十二条…": that contract's, which we do not hold
        laws += [(pos, name, None) for pos, name in self.names.other_document_refs(earlier)]
        agreement = [
            (end, name, doc)
            for end, name, doc in self._agreements_named(earlier)
            if not laws or _NUMBERED_NEXT.match(earlier, end)
        ]
        sources = sorted(agreement if part else laws + agreement, reverse=True)
        if not sources:
            return follow_up
        number = refs[0].number if refs else 0
        having = [src for src in sources if self._has_number(src[2], number, bool(part))]
        end, source, doc = (having or sources)[0]
        # "第3条呢" after "用户协议第八部分": a clause of that part (after "用户协议第八条", a section)
        parts = [m for m in _AGREEMENT_PART.finditer(earlier) if m.start() >= end]
        if any(doc == d for _e, _n, d in agreement) and parts and not part:
            return f"{source}{parts[-1].group(0)}{follow_up}"
        return f"{source}{follow_up}"

    def _agreements_named(self, text: str) -> list[tuple[int, str, str]]:
        """(end, name to write, doc id) of every agreement ``text`` names: a user-added one by its own name
        (云帆协议), the bundled one as 用户协议 wherever its common names are not the end of a user-added
        one's (云帆智算大模型服务协议)."""
        mine = self.agreements.mentions(text)
        named = [(end, text[start:end], doc) for start, end, doc in mine]
        named += [
            (m.end(), "用户协议", BUNDLED_AGREEMENT)
            for m in _AGREEMENT_NAME.finditer(text)
            if not any(start <= m.start() < end for start, end, _doc in mine)
        ]
        return named

    def _has_number(self, doc_id: str | None, number: int, part: bool) -> bool:
        """Whether the source has an article (a section, for an agreement) of that number; a law we do not
        hold cannot be checked, and is taken at its word."""
        if doc_id is None:
            return True
        if doc_id == BUNDLED_AGREEMENT or doc_id in self.agreements.documents:
            return part or (number, 0) in self.agreement_parts(doc_id)
        return bool(self.lookup_article(doc_id, number))

    def _lookup(self, refs: Sequence[ArticleRef]) -> list[Retrieved]:
        out: list[Retrieved] = []
        for ref in refs:
            docs = [ref.doc_id] if ref.doc_id else self.statutes_with_article(ref)
            for doc_id in docs[:1]:
                for chunk in self.lookup_article(doc_id, ref.number, ref.suffix):
                    if all(r.chunk.chunk_id != chunk.chunk_id for r in out):
                        out.append(Retrieved(chunk=chunk, fused_score=1.0, via="lookup"))
        return out

    def _agreement_lookup(self, question: str) -> list[Retrieved]:
        """The clauses of an agreement the question names ("用户协议第八部分第6条", "云帆协议3.2": in the
        agreement it names), or a whole section's clauses ("用户协议第八条": its sections are what people
        number)."""
        clauses = [
            f"{doc}/{section}/{clause}" for doc, section, clause in self.agreements.clause_refs(question)
        ]
        if self.asks_more_than_references(question):
            ids = clauses  # "智谱用户协议第八部分约定…，有效吗": the rankers find what the matter is about
        else:  # all the question asks: a whole section, a clause with its items (③ …等因素。)
            ids = [i for c in clauses for i in self.index.chunks if i == c or i.startswith(c + "/")]
            for doc, section in self.agreements.section_refs(question):
                ids += [i for i in self.index.chunks if _in_section(i, doc, section)]
        chunks = [self.index.chunks[i] for i in dict.fromkeys(ids) if i in self.index.chunks]
        return [Retrieved(chunk=chunk, fused_score=1.0, via="lookup") for chunk in chunks]

    def statutes_with_article(self, ref: ArticleRef) -> list[str]:
        """The statutes that have the article a bare 第X条 names, no statute named: the one it is read in
        first, the 民法典, the only code long enough for most numbers."""
        docs = [d for (d, a) in self._articles if a == article_key(d, ref.number, ref.suffix)[1]]
        return sorted(docs, key=lambda d: (d != "civil-code", d))

    def unnamed_articles(self, question: str) -> list[ArticleRef]:
        """Article numbers the question gives without their law ("第十条是什么"); a range's inner numbers
        (第十至十二条: 十一) have no ``text`` of their own."""
        return [ref for ref in self.names.article_refs(question) if ref.doc_id is None]

    def _matches(
        self,
        question: str,
        content: str,
        vector: Sequence[float],
        focus: str,
        evidence: dict[str, float] | None = None,
    ) -> list[IssueMatch]:
        assert self.issues is not None
        matches = self.issues.match(content, vector, evidence)
        if focus and focus != question:
            own = self.issues.match(
                self._without_statute_names(focus), self.index.plain_query_vector(focus), evidence
            )
            known = {m.issue.id for m in own}
            matches = (own + [m for m in matches if m.issue.id not in known])[: self.issues.config.limit]
        return matches

    def _without_statute_names(self, question: str) -> str:
        """The question without the statute names it mentions, for matching issues and glosses by their
        words: a name says where to look, not what about ("产品质量法里的缺陷是怎么定义的" otherwise matched
        诉讼时效, whose text cites 产品质量法 第四十五条, and the glosses of 产品质量法 articles on 质量)."""
        for start, end, _doc in reversed(self.names.mentions(question)):
            question = question[:start] + " " + question[end:]
        return question

    def lexical_query(self, question: str) -> str:
        """What BM25 searches for; the question itself (an ablation overrides it with query expansion)."""
        return question

    def _issue_tags(self, matches: Sequence[IssueMatch]) -> dict[str, IssueTag]:
        """chunk id → why the issue map brings it in, in the matched issues' order (rule first)."""
        assert self.issues is not None or not matches
        tags: dict[str, IssueTag] = {}
        # every matched issue's governing rule first, then the other provisions: a chunk that one
        # issue lists as a remedy and another as its rule is tagged as that issue's rule
        for governing in (True, False):
            for match in matches:
                for n, resolved in enumerate(self.issues.provisions(match.issue)):  # type: ignore[union-attr]
                    if (n == 0) != governing:
                        continue
                    p = resolved.provision
                    chunk_id = _holding(resolved.chunk_ids, p.sentence, self.index.chunks)
                    tag = IssueTag(
                        match.issue.id,
                        match.issue.name,
                        p.role,
                        p.sentence,
                        match.score,
                        match.issue.keywords,
                    )
                    tags.setdefault(chunk_id, tag)
        return tags

    def _issue_extras(
        self, tags: dict[str, IssueTag], seen: set[str], ranked: Sequence[Retrieved]
    ) -> list[Retrieved]:
        """Provisions of the matched issues that ranked below the top k, appended (like cross-references)
        so the answer can still state each issue's governing rule and the clause that speaks to it.  One
        the rankers placed lower down comes as they ranked it (its ranks and ``via``), so the answer treats
        it as found on its own, not as the issue matcher's pick alone (the agreement's outage clause, ranked
        tenth); only a provision no ranker placed comes in ``via="issue"``."""
        found = {r.chunk.chunk_id: r for r in ranked}
        rules: list[Retrieved] = []
        extras: list[Retrieved] = []
        for chunk_id, tag in tags.items():
            if chunk_id in seen:
                continue
            item = (
                replace(found[chunk_id], issue=tag)
                if chunk_id in found
                else Retrieved(chunk=self.index.chunks[chunk_id], fused_score=0.0, via="issue", issue=tag)
            )
            is_rule = tag.sentence and tag.role == "rule"
            if is_rule and len(rules) < self.config.issue_rules:
                rules.append(item)
            elif (
                not is_rule
                and tag.role in ("clause", "commentary")
                and len(extras) < self.config.issue_extras
            ):
                extras.append(item)
        return rules + extras

    def _rankings(
        self, question: str, k: int, vector: Sequence[float] | None, content: str
    ) -> list[tuple[str, list[tuple[str, float]], float]]:
        """Each ranker's (name, ranking, fusion weight); ``content``: the question without the statute
        names it mentions (``_without_statute_names``)."""
        n = max(self.config.candidates, k)
        out: list[tuple[str, list[tuple[str, float]], float]] = []
        if vector is not None:
            out.append(("dense", self.index.vector_search(vector, n), self.config.dense_weight))
        if self.mode in ("hybrid", "bm25"):
            out.append(("bm25", self.index.bm25_search(self.lexical_query(question), n), 1.0))
        if self.mode != "hybrid":
            return out
        if self.glosses is not None:
            # a statute's name says where to look, not what about: 产品质量法 matched every gloss with 质量
            out.append(("gloss_words", self.glosses.by_words(content, n), self.config.gloss_words_weight))
            out.append(("gloss_vector", self.glosses.by_vector(vector, n), self.config.gloss_vector_weight))
        if self.memory is not None and self.config.memory_weight > 0:
            out.append(("memory", self.memory.rank(content, n), self.config.memory_weight))
        return out

    def _evidence(self, rankings: Sequence[tuple[str, list[tuple[str, float]], float]]) -> dict[str, float]:
        """chunk id → 1 / rank in the question memory's ranking (``app.question_memory``), over its top
        ``IssueConfig.evidence_depth``: the passages that answered the most similar questions people
        asked say which issue the question is on when the issues' own texts score alike."""
        assert self.issues is not None
        depth = self.issues.config.evidence_depth
        if self.issues.config.evidence_weight <= 0 or depth <= 0:
            return {}
        remembered = next((ranking for name, ranking, _w in rankings if name == "memory"), [])
        return {chunk_id: 1.0 / rank for rank, (chunk_id, _s) in enumerate(remembered[:depth], start=1)}

    def _ranked(self, question: str, signals: _Signals) -> list[Retrieved]:
        rankings = signals.rankings
        if self.mode == "dense":
            return [
                Retrieved(self.index.chunks[c], s, dense_score=s, dense_rank=i + 1, via="dense")
                for i, (c, s) in enumerate(rankings[0][1] if rankings else [])
            ]
        if self.mode == "bm25":
            return [
                Retrieved(self.index.chunks[c], s, bm25_score=s, bm25_rank=i + 1, via="bm25")
                for i, (c, s) in enumerate(rankings[0][1] if rankings else [])
            ]
        return self._fuse(question, signals)

    def _placements(self, signals: _Signals) -> dict[str, dict[str, tuple[int, float]]]:
        """chunk id → ranker name → (rank, score), over every ranking, the issue map's included."""
        issue_ranking = [(chunk_id, tag.score) for chunk_id, tag in signals.tags.items()]
        placed: dict[str, dict[str, tuple[int, float]]] = {}
        for name, ranking, _weight in (*signals.rankings, ("issue", issue_ranking, 0.0)):
            for rank, (chunk_id, score) in enumerate(ranking, start=1):
                placed.setdefault(chunk_id, {})[name] = (rank, score)
        return placed

    def _fuse(self, question: str, signals: _Signals) -> list[Retrieved]:
        placed = self._placements(signals)
        if self.fusion is not None and signals.vector is not None:
            candidates = self._candidates(signals, placed)
            scores = {c: self.fusion.score(candidate) for c, candidate in candidates.items()}
            if self.config.fusion_blend > 0:
                scores = _blended(
                    scores, self._reciprocal_rank(question, signals, placed), self.config.fusion_blend
                )
        else:
            scores = self._reciprocal_rank(question, signals, placed)
        order = sorted(scores, key=lambda c: (-scores[c], c))

        def place(chunk_id: str, name: str) -> tuple[int, float] | tuple[None, None]:
            return placed[chunk_id].get(name, (None, None))

        return [
            Retrieved(
                chunk=self.index.chunks[c],
                fused_score=scores[c],
                dense_score=place(c, "dense")[1],
                bm25_score=place(c, "bm25")[1],
                dense_rank=place(c, "dense")[0],
                bm25_rank=place(c, "bm25")[0],
                via="issue" if set(placed[c]) == {"issue"} else "hybrid",
                issue=signals.tags.get(c),
                gloss_rank=min(
                    (placed[c][k][0] for k in ("gloss_words", "gloss_vector") if k in placed[c]),
                    default=None,
                ),
            )
            for c in order
        ]

    def _reciprocal_rank(
        self, question: str, signals: _Signals, placed: dict[str, dict[str, tuple[int, float]]]
    ) -> dict[str, float]:
        """Weighted reciprocal-rank fusion (the fallback without a learned fusion model), a bonus for
        the statute the question names, then the rerank on question-term coverage."""
        rrf_k = self.config.rrf_k
        weights = {name: weight for name, _ranking, weight in signals.rankings}
        weights["issue"] = self.config.issue_weight
        scores = {
            chunk_id: sum(weights[name] / (rrf_k + rank) for name, (rank, _s) in by_ranker.items())
            for chunk_id, by_ranker in placed.items()
        }
        if signals.named:
            bonus = self.config.named_statute_bonus / (rrf_k + 1)
            for chunk_id in scores:
                if self.index.chunks[chunk_id].doc_id in signals.named:
                    scores[chunk_id] += bonus
        if self.config.rerank_weight > 0 and scores and question_terms(question):
            self._rerank(signals.cover, scores)
        return scores

    def _coverage(self, question: str) -> Callable[[str], float]:
        """chunk id → how much of the question (its terms weighted by rarity) the passage contains, its
        article's lay gloss included (the words people use for the article count as its words).  Each
        passage's is computed once: the rerank and the learned fusion both ask for the top candidates'."""
        weights = self.index.idf(list(question_terms(question)))
        total = sum(weights.values()) or 1.0
        known: dict[str, float] = {}

        def cover(chunk_id: str) -> float:
            if chunk_id not in known:
                chunk = self.index.chunks[chunk_id]
                text = chunk.text + chunk.locator + chunk.breadcrumb_text
                if self.glosses is not None:
                    text += self.glosses.gloss(chunk_id)
                known[chunk_id] = sum(w for t, w in weights.items() if t in text) / total
            return known[chunk_id]

        return cover

    def _rerank(self, cover: Callable[[str], float], scores: dict[str, float]) -> None:
        """Blend RRF with the candidates' question-term coverage (``_coverage``)."""
        top = max(scores.values())
        depth = sorted(scores, key=lambda c: -scores[c])[: self.config.rerank_depth]
        for chunk_id in depth:
            scores[chunk_id] = scores[chunk_id] / top + self.config.rerank_weight * cover(chunk_id)
        for chunk_id in set(scores) - set(depth):
            scores[chunk_id] = scores[chunk_id] / top

    def _candidates(
        self, signals: _Signals, placed: dict[str, dict[str, tuple[int, float]]]
    ) -> dict[str, Candidate]:
        """The learned fusion's view of each placed passage (``app.fusion.Candidate``)."""
        assert signals.vector is not None
        ids = list(placed)
        similarity = dict(zip(ids, self.index.similarities(signals.vector, ids), strict=True))
        best_similarity = max(similarity.values(), default=0.0)
        bm25 = {c: by_ranker["bm25"][1] for c, by_ranker in placed.items() if "bm25" in by_ranker}
        best_bm25 = max(bm25.values(), default=0.0) or 1.0
        lengths = {name: len(ranking) for name, ranking, _w in signals.rankings}
        lengths["issue"] = len(signals.tags)
        out = {}
        for chunk_id, by_ranker in placed.items():
            chunk = self.index.chunks[chunk_id]
            tag = signals.tags.get(chunk_id)
            out[chunk_id] = Candidate(
                ranks={name: (rank, lengths[name]) for name, (rank, _s) in by_ranker.items()},
                similarity_gap=best_similarity - similarity[chunk_id],
                bm25_share=bm25.get(chunk_id, 0.0) / best_bm25,
                coverage=signals.cover(chunk_id),
                named_statute=chunk.doc_id in signals.named,
                issue_score=tag.score if tag is not None else 0.0,
                issue_rule=tag is not None and tag.role == "rule",
                kind=chunk.kind,
            )
        return out

    def _xrefs(self, results: list[Retrieved], seen: set[str]) -> list[Retrieved]:
        """Articles cited inside the top passages (e.g. the paper citing 《民法典》第1202条)."""
        extra: list[Retrieved] = []
        for r in results:
            default = r.chunk.doc_id if r.chunk.article else None  # 本法第X条 inside a statute
            for ref in self.names.article_refs(r.chunk.text, default_doc=default):
                if ref.doc_id is None:
                    continue
                for chunk in self.lookup_article(ref.doc_id, ref.number, ref.suffix)[:1]:
                    if chunk.chunk_id not in seen and len(extra) < self.config.max_xrefs:
                        seen.add(chunk.chunk_id)
                        extra.append(Retrieved(chunk=chunk, fused_score=r.fused_score * 0.5, via="xref"))
        return extra

    def _list_heads(self, results: list[Retrieved], seen: set[str]) -> list[Retrieved]:
        """The clause an agreement item hangs under, when it opens the list ("……大模型开放平台并不承担
        相应的违约责任："): the item alone ("③ ……设备与系统维护……等因素。") names a cause without its
        consequence, so the answer quotes that opening line with it (``app.extractive``)."""
        extra: list[Retrieved] = []
        for r in results:
            parent = list_head_id(r.chunk)
            chunk = self.index.chunks.get(parent) if parent else None
            if chunk is None or parent in seen or not chunk.text.rstrip().endswith("："):
                continue
            seen.add(parent)
            extra.append(Retrieved(chunk=chunk, fused_score=r.fused_score * 0.5, via="xref"))
        return extra


def _blended(learned: dict[str, float], reciprocal: dict[str, float], weight: float) -> dict[str, float]:
    """The two orders fused by their ranks: 1 / (1 + rank) in the learned order plus ``weight`` times
    1 / (1 + rank) in the reciprocal-rank order."""

    def ranks(scores: dict[str, float]) -> dict[str, int]:
        return {c: n for n, c in enumerate(sorted(scores, key=lambda c: (-scores[c], c)), start=1)}

    a, b = ranks(learned), ranks(reciprocal)
    return {c: 1.0 / (1 + a[c]) + weight / (1 + b[c]) for c in learned}


def _unique(items: list[Retrieved]) -> list[Retrieved]:
    seen: set[str] = set()
    out = []
    for r in items:
        if r.chunk.chunk_id not in seen:
            seen.add(r.chunk.chunk_id)
            out.append(r)
    return out


def _holding(chunk_ids: Sequence[str], sentence: str, chunks: dict[str, Chunk]) -> str:
    """Of an article's chunks, the one holding the decisive sentence (else the first)."""
    if sentence:
        for chunk_id in chunk_ids:
            if sentence in chunks[chunk_id].text:
                return chunk_id
    return chunk_ids[0]


# a part of the agreement as people number it: 第八部分 (its sections are 一、… 十三、)
_AGREEMENT_PART = re.compile(r"第\s*(?:[一二三四五六七八九十]{1,3}|[0-9]{1,2})\s*部分")
# a number right after the agreement's name: "用户协议第八部分", "用户协议8.3"
_NUMBERED_NEXT = re.compile(r"[的里中]{0,2}\s*第?\s*[0-9一二三四五六七八九十]")
# how a question names the paper or the blog, which discuss statute articles but number none of their own
_COMMENTARY = {"paper": re.compile(r"论文|文章|作者"), "blog": re.compile(r"博客|博文|文章")}
# how a conversation names the agreement, for the number a follow-up gives alone
_AGREEMENT_NAME = re.compile(r"(?:用户|服务)协议|智谱|开放平台")
# what names a reference in a question: 第X条, 55条, the agreement and its numbered sections
_REFERENCE_WORDS = re.compile(
    # the name of the document a number belongs to, ours or not: 高等教育法第二十条, 供应商的合同第十二条
    r"[\u4e00-\u9fff《》]{0,12}(?:法|条例|细则|办法|规定|政策|章程|合同|协议)》?\s*"
    r"(?=第\s*[0-9零〇一二两三四五六七八九十百千]+\s*条)|"
    r"第\s*[（(]?\s*[0-9零〇一二两三四五六七八九十百千]+\s*[）)]?\s*(?:条|部分|章|节|款|项)(?:之[一二三四五六七八九十]+)?|[0-9]+\s*条|"
    r"(?:智谱|开放平台|平台)?(?:的)?(?:用户|服务)?协议|[一二三四五六七八九十]{1,3}、"
)
# what a bare lookup says besides the reference: 规定了什么, 怎么说, 内容, 请引用…回答
_LOOKUP_WORDS = re.compile(
    r"规定|什么|内容|怎么|如何|说的|讲的|原文|全文|条文|请|引用|回答|解释|是|的|了|吗|呢|写了|约定|中华人民共和国"
)


def _in_section(chunk_id: str, doc_id: str, section: int) -> bool:
    """Whether ``chunk_id`` is agreement ``doc_id``'s section's text or one of its clauses (agreement/8,
    agreement/8/3, agreement/1/p2), not a clause's sub-item (agreement/8/2/1)."""
    parts = chunk_id.split("/")
    return parts[0] == doc_id and len(parts) in (2, 3) and parts[1] == str(section)
