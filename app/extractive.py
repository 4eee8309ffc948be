"""Default answerer, offline and LLM-free: quotes the sentences that answer the question.

Every statement it outputs is a verbatim slice of the passage it cites, so
grounding holds by construction; the work is in choosing and ordering them.

When the question matched issues of the issue map, the answer opens with 要点:
for each issue (at most two by default) its heading, the decisive sentence of the
governing provision, then the agreement clause that speaks to it, then the
commentary of the paper or blog.  The other passages follow under 相关规定,
grouped by source, and only those with a sentence that shares the question's
content are cited (a passage the answer does not use is not a citation).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.answer import Citation, Retrieved, Statement
from app.citation_filter import CitationJudge
from app.citations_ref import AgreementNames, named_source_kinds
from app.draft import ISSUE_HEADING_PREFIX, KEY_POINTS_HEADING, PROVISIONS_HEADING, Draft
from app.question import Question, as_question
from app.sentences import AGREEMENT_ITEM, LIST_ITEM, Unit, split_units, unit_at, whole_unit
from app.terms import STOPWORDS, question_terms
from ingest.numerals import cn_to_int
from ingest.parsers.agreement import list_head_id
from ingest.types import PROVISION_KINDS, Chunk

__all__ = ["STOPWORDS", "ExtractiveAnswerer", "compose", "question_terms", "unit_score"]

# The order in which an issue's provisions are quoted under its heading.
_ROLE_ORDER = {"rule": 0, "exception": 1, "remedy": 2, "procedure": 3, "clause": 4, "commentary": 5}


def unit_score(unit: Unit, terms: dict[str, float], implied: str = "") -> float:
    """Question-term weight found in the unit, damped by length; a question in the source answers nothing.
    ``implied``: words the unit says without writing them, its statute's name (a sentence of 产品质量法
    第四十六条 is 产品质量法's, though only the paper's sentences write "《产品质量法》")."""
    return 0.0 if unit.text.rstrip("”’」』）)").endswith(("？", "?")) else _text_score(unit.text, terms, implied)


def _text_score(text: str, terms: dict[str, float], implied: str = "") -> float:
    """The question's term weight found in ``text`` (or in ``implied``), damped by the text's length; also
    scores an item as quoted, with the words that open its list."""
    hit = sum(w for t, w in terms.items() if t in text or (implied and t in implied))
    return hit / math.sqrt(max(len(text), 20) / 20)


# A lead must stand on its own: not a fragment, not a line spoken to the blog's reader ("你的AI").
_ADDRESSED = re.compile(r"[你您]")
_SENTENCE_END = re.compile(r"[。；！.;!）)”」]$")
# a sentence that leans on the one before: a proviso ("但是，法律另有规定的除外。"), an example ("比如，某电商
# 公司用你的AI…"): quoted alone it says nothing, or the opposite of its paragraph
_DEPENDENT = re.compile(r"^(?:但是?|然而|不过|比如|例如|譬如|同理)")
# a paragraph that applies or excepts another of its article ("因承租人的过错致使租赁物需要维修的，出租人不承担
# 前款规定的维修义务。", "其他可以登记的担保物权，清偿顺序参照适用前款规定。"): quoted alone it names a rule it
# does not state, so it comes after the paragraphs it names (``_referred_paragraphs``).  On the lay dev
# splits 17 of 445 answers that opened with a statute opened with one alone
_PARAGRAPHS_BEFORE = re.compile(r"前([一二两三四]?)款")
_PARAGRAPH_NUMBER = re.compile(r"(?<!条)第([一二三四五六七八九十]+)款")  # 第一款 of its own article
_REFERS_BACK = re.compile(rf"{_PARAGRAPHS_BEFORE.pattern}|{_PARAGRAPH_NUMBER.pattern}|前[一二两三四]?项")
# an enumerated item ("（二）产品投入流通时，引起损害的缺陷尚不存在的；") means something only under its
# article's opening words ("生产者能够证明有下列情形之一的，不承担赔偿责任："); the agreement's items
# ("③ 在大模型开放平台已尽善意管理的情况下，因……等因素。") are chunks of their own, their opening words
# the clause above them ("……大模型开放平台并不承担相应的违约责任：").  Both markers: ``app.sentences``.


def can_lead(unit: Unit) -> bool:
    text = unit.text.strip()
    if (
        len(text) < 12
        or not _SENTENCE_END.search(text)
        or LIST_ITEM.match(text)
        or AGREEMENT_ITEM.match(text)
        or _DEPENDENT.match(text)
        or _REFERS_BACK.search(text)
    ):
        return False
    # a statute or agreement addresses its parties (您 is the user); prose addressing the reader is advice
    return unit.chunk.kind in PROVISION_KINDS or not _ADDRESSED.search(text)


@dataclass(frozen=True, slots=True)
class KeyPoint:
    """One matched issue: its label and the quoted units that speak to it, governing rule first."""

    name: str
    quoted: tuple[tuple[Unit, Retrieved], ...]


class ExtractiveAnswerer:
    """Implements ``Answerer``: 要点 by issue (when the question matched any), then the provisions.

    Sizes measured on the dev set (citation precision / recall against its gold passages): two issues
    with two provisions each and two further provisions 0.27 / 0.82; three issues with three each and
    three further 0.22 / 0.86; one issue 0.31 / 0.80; no further provisions drops recall to 0.48 —
    the dev set's gold is mostly the passages retrieval ranks first, rarely the governing statute.
    An issue's clause or commentary is quoted only when retrieval ranked it for the question too, and
    an issue is stated at all only when dense or BM25 ranked one of its provisions in the top
    ``corroboration`` on its own (dev: 0.295 / 0.828 without that rule, 0.314 / 0.834 with it), or its
    article's lay gloss did (dev precision 0.320 -> 0.312; held-out first citation gold 0.500 -> 0.533,
    LawBench citation recall 0.291 -> 0.297).
    What the question names (an article, the paper, the agreement) is quoted before any issue: the
    first citation is a gold passage in 0.66 of dev answers instead of 0.39 (held-out 0.47 instead of
    0.33); with one further provision after it instead of two, precision / recall 0.290 / 0.832 (none:
    0.300 / 0.815; two: 0.257 / 0.832).
    """

    name = "extractive"

    def __init__(
        self,
        *,
        max_statements: int = 6,
        per_passage: int = 2,
        passages: int = 5,
        max_issues: int = 2,
        per_issue: int = 2,
        related_after_issues: int = 2,
        relevance: float = 0.25,
        corroboration: int = 10,
        max_asked: int = 3,
        related_after_asked: int = 1,
        citations: CitationJudge | None = None,
        wordless: int = 2,
    ) -> None:
        self.max_statements = max_statements
        self.per_passage = per_passage
        self.passages = passages
        self.max_issues = max_issues
        self.per_issue = per_issue
        self.related_after_issues = related_after_issues
        self.relevance = relevance  # a sentence below this share of the best one is not quoted
        self.max_asked = max_asked  # named articles and sources quoted before the issues
        self.related_after_asked = related_after_asked  # what it named is the answer: fewer further passages
        self.corroboration = (
            corroboration  # rank within which dense or BM25 must place one of an issue's provisions
        )
        self.citations = citations  # which of the passages about to be cited are kept (None: all)
        self.wordless = wordless  # provisions ranked 2nd.. quoted without a shared word (``_wordless``)

    def answer(self, question: Question | str, passages: Sequence[Retrieved]) -> Draft:
        prepared = as_question(question)
        query = prepared.query  # sentences are picked by what was searched
        terms = question_terms(query)
        asked = self._asked(query, passages, terms, whole=prepared.lookup_only)
        by_id = {r.chunk.chunk_id: r for r in passages}
        points = self._key_points(passages, terms, {r.chunk.chunk_id for _u, r in asked}, by_id)
        used = {r.chunk.chunk_id for _u, r in asked} | {
            r.chunk.chunk_id for p in points for _u, r in p.quoted
        }
        primary = [p for p in passages if p.via not in ("xref", "issue") and p.chunk.chunk_id not in used][
            : self.passages
        ]
        pool = primary + [p for p in passages if p.via == "xref" and p.chunk.chunk_id not in used]
        if asked:
            limit = self.related_after_asked
        else:
            limit = self.related_after_issues if points else self.max_statements
        chosen = self._choose(pool, terms, limit, leads=not (points or asked))
        chosen = _with_list_heads(chosen, by_id, used)
        chosen += self._wordless(passages, terms, used | {r.chunk.chunk_id for _u, r in chosen})
        lead: list[tuple[Unit, Retrieved]] = []
        if not asked:
            lead, points, chosen = _best_ranked_first(passages, terms, points, chosen)
        if self.citations is not None:  # the lead, like what the question named, is judged first
            opening, points, chosen = self._judged(asked or lead, points, chosen, pool, passages)
            asked, lead = (opening, []) if asked else ([], opening)
        elsewhere = {u for u, _r in [*asked, *lead, *(q for p in points for q in p.quoted)]}
        chosen = _with_contexts(chosen, elsewhere)
        if points or asked:
            return compose_with_issues(points, chosen, pool, asked=asked, lead=lead)
        opening = len(lead) or (2 if len(chosen) > 1 and _context_for(chosen[1][0]) == chosen[0][0] else 1)
        return compose([*lead, *chosen], pool, opening=opening)

    def _judged(
        self,
        asked: list[tuple[Unit, Retrieved]],
        points: list[KeyPoint],
        chosen: list[tuple[Unit, Retrieved]],
        pool: Sequence[Retrieved],
        passages: Sequence[Retrieved],
    ) -> tuple[list[tuple[Unit, Retrieved]], list[KeyPoint], list[tuple[Unit, Retrieved]]]:
        """The quotes left once the citation judge has dropped the passages unlikely to bear on the
        question; it sees them in the order the answer would number them, and keeps the first."""
        assert self.citations is not None
        if asked or points:
            quoted = [*asked, *(q for p in points for q in p.quoted), *_grouped_order(chosen, pool)]
        else:
            quoted = chosen[:1] + _grouped_order(chosen[1:], pool)
        first_use: dict[str, Retrieved] = {}
        for _u, r in quoted:
            first_use.setdefault(r.chunk.chunk_id, r)
        cited = list(first_use.values())
        dropped = {
            r.chunk.chunk_id
            for r, kept in zip(cited, self.citations.keep(cited, passages), strict=True)
            if not kept
        }
        # the agreement clause the issue map names for a 要点's issue, once a ranker found it on its own, is
        # what the platform's own terms say on the matter (its outage clause for an outage question): it
        # stands or falls with the issue's governing provision, which the filter judges.  Exempting the
        # map's statutes too cost dev citation precision 0.618 -> 0.507; every clause regardless of its
        # issue's provision brought back the indemnity clause under a weakly matched second issue.  As is:
        # dev citation precision 0.618 -> 0.614, recall 0.838 unchanged (held-out 0.531 -> 0.522, 0.656)
        dropped -= {
            r.chunk.chunk_id
            for p in points
            if p.quoted and p.quoted[0][1].chunk.chunk_id not in dropped
            for _u, r in p.quoted
            if r.issue is not None and r.issue.role == "clause" and r.via != "issue"
        }
        # an agreement item quoted under the clause that opens its list keeps that clause: the item
        # alone ("③ ……等因素。") does not say what it is an exception to
        dropped -= {list_head_id(first_use[c].chunk) for c in first_use if c not in dropped}
        if not dropped:
            return asked, points, chosen

        def kept(items: Sequence[tuple[Unit, Retrieved]]) -> list[tuple[Unit, Retrieved]]:
            return [(u, r) for u, r in items if r.chunk.chunk_id not in dropped]

        points = [KeyPoint(p.name, tuple(kept(p.quoted))) for p in points]
        points = [p for p in points if p.quoted]
        # a 要点 left with commentary alone (the filter dropped its provisions) is not a point of law: the
        # blog's advice to AI providers ("你的AI…") stood as the only line under an issue heading
        standing = [p for p in points if any(r.chunk.kind in PROVISION_KINDS for _u, r in p.quoted)]
        if standing or asked:
            points = standing
        return kept(asked), points, kept(chosen)

    # -- what the question names ------------------------------------------------
    def _asked(
        self, query: str, passages: Sequence[Retrieved], terms: dict[str, float], *, whole: bool = False
    ) -> list[tuple[Unit, Retrieved]]:
        """What the question itself names comes first, before any issue: the articles it cites (their
        opening sentence), then the best-ranked passage of a source it names (论文, 博客, 智谱's agreement).
        Asked "《消保法》第十八条规定了什么", an answer that opens with the issue map's 第二十六条 is wrong
        however decisive 第二十六条 is for the issue (dev: the first citation was gold 0.39 of the time)."""
        asked: list[tuple[Unit, Retrieved]] = []
        articles: set[tuple[str, str]] = set()
        # a question that only names provisions gets them whole: every paragraph of the article (民法典
        # 第一千一百九十五条's second paragraph is the one on joint liability), every clause of the section
        limit = MAX_NAMED_ITEMS if whole else self.max_asked
        for r in passages:
            key = (r.chunk.doc_id, r.chunk.article or r.chunk.chunk_id)
            if r.via != "lookup" or key in articles or _passages(asked) >= limit:
                continue
            articles.add(key)
            every = split_units(r.chunk)
            if whole:
                asked += [(unit, r) for unit in every[:MAX_WHOLE_UNITS]]
                continue
            units = [u for n, u in enumerate(every) if can_lead(u) or _opens_list(every, n)] or every
            if units:  # quoted from its start, unless a later sentence holds the question's words
                _pos, unit = max(
                    enumerate(units), key=lambda pu: unit_score(pu[1], terms) + _opening_weight(pu[0])
                )
                asked.append((unit, r))
                # "有下列情形之一的，该格式条款无效：" says nothing without its items: they come with it
                n = every.index(unit)
                if _opens_list(every, n):
                    items = itertools.takewhile(lambda u: LIST_ITEM.match(u.text), every[n + 1 :])
                    asked += [(item, r) for item in itertools.islice(items, MAX_NAMED_ITEMS)]
        # a named source: its best-ranked passage (ranked for the question, not brought by an issue); a
        # user-added agreement is named by its own title ("云帆协议里…"), the bundled sources by their kind
        ranked = [r for r in passages if r.via not in ("xref", "issue", "lookup")][: self.passages]
        agreements = AgreementNames.of_chunks(r.chunk for r in passages)
        named = [(doc, "doc_id") for doc in dict.fromkeys(d for _s, _e, d in agreements.mentions(query))]
        for source, field in named + [(kind, "kind") for kind in sorted(named_source_kinds(query))]:
            best = next((r for r in ranked if getattr(r.chunk, field) == source), None)
            units = [u for u in split_units(best.chunk) if can_lead(u)] if best else []
            unit = max(units, key=lambda u: (unit_score(u, terms), -u.start), default=None)
            if (
                best
                and unit is not None
                and unit_score(unit, terms) > 0
                and _passages(asked) < self.max_asked
            ):
                asked.append((unit, best))
        # a follow-up asking the conversation's matter of a statute it names ("个保法呢"): its best passages
        for r in [r for r in passages if r.via == "statute"][:MAX_STATUTE_PASSAGES]:
            units = [u for u in split_units(r.chunk) if can_lead(u)]
            if units and _passages(asked) < self.max_asked:
                asked.append((max(units, key=lambda u: (unit_score(u, terms), -u.start)), r))
        return asked

    # -- 要点 ---------------------------------------------------------------
    def _key_points(
        self,
        passages: Sequence[Retrieved],
        terms: dict[str, float],
        cited: set[str],
        by_id: dict[str, Retrieved],
    ) -> list[KeyPoint]:
        """``by_id``: the passages by chunk id (where an agreement item's clause is looked up)."""
        by_issue: dict[str, list[Retrieved]] = {}
        names: dict[str, str] = {}
        for r in passages:
            if r.issue is not None:
                by_issue.setdefault(r.issue.issue_id, []).append(r)
                names[r.issue.issue_id] = r.issue.issue_name
        # an issue becomes a 要点 only when a ranker found one of its provisions on its own: the issue
        # matcher alone can be confidently wrong (a defamation question once matched 诉讼时效)
        shown = [
            i for i, items in by_issue.items() if any(_ranked_near_top(r, self.corroboration) for r in items)
        ]
        points = []
        cited = set(cited)  # passages already quoted above (what the question named)
        for issue_id, items in [(i, by_issue[i]) for i in shown][: self.max_issues]:
            items = sorted(items, key=lambda r: _ROLE_ORDER.get(r.issue.role if r.issue else "", 9))
            quoted: list[tuple[Unit, Retrieved]] = []
            stated: set[str] = set()  # a list item and its lead-in count as one passage
            for n, r in enumerate(items):
                if len(stated) >= self.per_issue or r.chunk.chunk_id in cited:
                    continue
                # after the governing provision: neither a provision the map appended without a ranker
                # placing it for this question, nor a second rule (one governing provision per issue)
                if n > 0 and (r.via == "issue" or (r.issue is not None and r.issue.role == "rule")):
                    continue
                unit = _decisive_unit(r, terms, items=True) if n == 0 else _speaking_unit(r, terms)
                if unit is None:
                    continue
                lead = _context_for(unit) if not can_lead(unit) else None
                quoted += [(lead, r)] if lead is not None else []
                for head in _list_head(unit, r, by_id, cited):
                    quoted.append(head)
                    cited.add(head[1].chunk.chunk_id)
                quoted.append((unit, r))
                stated.add(r.chunk.chunk_id)
                cited.add(r.chunk.chunk_id)
            if quoted:
                points.append(KeyPoint(names[issue_id], tuple(quoted)))
        return points

    # -- the rest -------------------------------------------------------------
    def _wordless(
        self, passages: Sequence[Retrieved], terms: dict[str, float], quoted: set[str]
    ) -> list[tuple[Unit, Retrieved]]:
        """The decisive sentences of the provisions the rankers placed just below the first (``wordless``
        of them) that nothing quoted so far comes from, when a ranker that reads meaning (dense, or the
        article's lay gloss) put them in its top five.  ``_choose`` quotes only sentences that share the
        question's words, and a question in everyday words often shares none with the provisions that
        decide it; the citation filter judges these like every other passage.  Citation precision / recall,
        with the filter retrained and its threshold rechosen (0.075 -> 0.125): lay dev split 0.422 / 0.630
        -> 0.457 / 0.636, dev 0.653 / 0.838 -> 0.672 / 0.834, held-out 0.495 / 0.688 -> 0.551 / 0.696."""
        out: list[tuple[Unit, Retrieved]] = []
        for r in [r for r in passages if r.via == "hybrid"][1 : 1 + self.wordless]:
            meaning_rank = min((x for x in (r.dense_rank, r.gloss_rank) if x is not None), default=None)
            if (
                r.chunk.chunk_id in quoted
                or r.chunk.kind not in PROVISION_KINDS
                or meaning_rank is None
                or meaning_rank > WORDLESS_MEANING_RANK
            ):
                continue
            unit = _decisive_unit(r, terms)
            if unit is not None and can_lead(unit):
                out.append((unit, r))
        return out

    def _choose(
        self, pool: Sequence[Retrieved], terms: dict[str, float], limit: int, *, leads: bool = True
    ) -> list[tuple[Unit, Retrieved]]:
        """The best sentences of the pool; ``leads``: the first one opens the answer, so it must stand on
        its own (under 相关规定, after 要点, a clause of a list is quoted where it ranks)."""
        scored: list[tuple[float, int, Unit, Retrieved]] = []
        for rank, r in enumerate(pool):
            prior = 1.0 / (1.0 + 0.35 * rank) * (0.6 if r.via == "xref" else 1.0)
            implied = _implied(r)
            for pos, unit in enumerate(split_units(r.chunk)):
                relevance = unit_score(unit, terms, implied)
                if r.via == "lookup":  # the user named this article: it leads, quoted from its start
                    relevance += _opening_weight(pos)
                elif _item_by_a_character(unit, terms):
                    continue
                if relevance > 0:
                    scored.append((relevance * prior + 0.05 * prior / (1 + pos), rank, unit, r))
        scored.sort(key=lambda s: (-s[0], s[1], s[2].start))
        if not scored:
            return []
        standing = [s for s in scored if can_lead(s[2])] if leads else []
        if standing and standing[0] is not scored[0]:  # the best sentence that can stand first goes first
            scored.remove(standing[0])
            scored.insert(0, standing[0])
        best = scored[0][0]
        chosen: list[tuple[Unit, Retrieved]] = []
        per_chunk: dict[str, int] = {}
        for score, _rank, unit, r in scored:
            if len(chosen) >= limit or score < self.relevance * best:
                break
            cid = r.chunk.chunk_id
            if per_chunk.get(cid, 0) >= self.per_passage:
                continue
            per_chunk[cid] = per_chunk.get(cid, 0) + 1
            chosen.append((unit, r))
        return chosen


def _best_ranked_first(
    passages: Sequence[Retrieved],
    terms: dict[str, float],
    points: list[KeyPoint],
    chosen: list[tuple[Unit, Retrieved]],
) -> tuple[list[tuple[Unit, Retrieved]], list[KeyPoint], list[tuple[Unit, Retrieved]]]:
    """(lead, points, chosen): the answer opens with the passage the rankers placed first for the question.

    Sentences are chosen by the question's words, and a question in everyday words shares none with the
    provision that decides it: "健身卡……老板跑路了，钱能要回来吗" opened with 第六百六十三条 (a gift's
    revocation "一年内", for 一年) while retrieval's first passage was 消保法第五十三条 on prepaid services.
    On the lay dev split the first retrieved passage was gold for 0.512 of questions, the answer's first
    citation for 0.368.  Unless the answer already opens with that sentence (empty ``lead``), its decisive
    sentence does (after what it cannot stand without: ``_context_for``), above 要点 (a 要点 led by it comes
    first already: issues are ordered by their passages' ranks), and is not quoted again below."""
    top = next((r for r in passages if r.via == "hybrid"), None)
    if top is None or points and points[0].quoted[0][1].chunk.chunk_id == top.chunk.chunk_id:
        return [], points, chosen
    unit = _decisive_unit(top, terms, items=True)
    if chosen and not points and chosen[0][1].chunk.chunk_id == top.chunk.chunk_id and chosen[0][0] == unit:
        return [], points, chosen  # the answer opens with that sentence already
    # an item of the provision's list leads under the words that open the list, as under 要点: 第四百一十四条
    # decides "抵押给了两个人，一个登记了一个没登记" only in its items
    lead_in = _context_for(unit) if unit is not None and not can_lead(unit) else None
    # a provision states a rule whatever words it uses; commentary leads only with a sentence on the
    # question's matter, two of its words at least (the blog's opening line on 备案 shares only 服务 with
    # a question about an outage, and stood above 要点 on the outage's 违约责任)
    commentary = top.chunk.kind not in PROVISION_KINDS
    if (
        unit is None
        or not (can_lead(unit) or lead_in is not None)
        or commentary and len(_shared_words(unit, terms) - _SUBJECT) < 2
    ):
        return [], points, chosen
    same = top.chunk.chunk_id
    points = [KeyPoint(p.name, tuple(q for q in p.quoted if q[1].chunk.chunk_id != same)) for p in points]
    points = [p for p in points if p.quoted]
    lead = [(lead_in, top)] if lead_in is not None else []
    return [*lead, (unit, top)], points, [q for q in chosen if q[0] not in (unit, lead_in)]


# What the paper and the blog are about throughout: sharing these with a question says nothing about its
# matter (the blog's opening line on 备案, which shares AI and 生成, led an answer on buggy generated code)
_SUBJECT = frozenset("AI ai 人工智能 生成 生成式 智能 模型 大模型".split())


def _shared_words(unit: Unit, terms: dict[str, float]) -> set[str]:
    """The question's words of two or more characters in ``unit``, each counted once (惩罚性赔偿, not also
    惩罚, 赔偿 and 惩罚性)."""
    found = {t for t in terms if len(t) >= 2 and t in unit.text}
    return {t for t in found if not any(t != other and t in other for other in found)}


def _item_by_a_character(unit: Unit, terms: dict[str, float]) -> bool:
    """An enumerated item ("（四）交付的报纸、期刊。") whose only words in common with the question are single
    characters: quoted alone, without the article's opening words, it must speak to the question in a word
    of its own.  "…会员是按月付的，能让他们退钱吗" had 消保法第二十五条's newspapers item under 相关规定 for 付."""
    if not LIST_ITEM.match(unit.text.strip()):
        return False
    return not any(len(t) >= 2 and t in unit.text for t in terms)


def _passages(quoted: Sequence[tuple[Unit, Retrieved]]) -> int:
    """How many passages ``quoted`` quotes (a named article's list items count with their article)."""
    return len({r.chunk.chunk_id for _u, r in quoted})


WORDLESS_MEANING_RANK = 5  # see ExtractiveAnswerer._wordless
MAX_WHOLE_UNITS = 16  # sentences of one provision quoted whole (民法典 第一千一百九十五条 has 5)
MAX_STATUTE_PASSAGES = 2  # quoted first for a follow-up that asks the matter of a statute it names
MAX_NAMED_ITEMS = 8  # the items of a named article's list quoted with its opening (个保法第十三条 has 7)


def _opens_list(units: Sequence[Unit], n: int) -> bool:
    """Whether ``units[n]`` is the opening of a list whose items follow it ("…无效：", then "（一）…")."""
    return (
        units[n].text.rstrip().endswith(("：", ":"))
        and n + 1 < len(units)
        and bool(LIST_ITEM.match(units[n + 1].text))
    )


def _opening_weight(position: int) -> float:
    """Added to the question-term score of a named article's sentence at ``position``: the article the
    user named is quoted from its start, unless a later sentence holds far more of the question."""
    return 10.0 / (1 + position)


def _ranked_near_top(r: Retrieved, depth: int) -> bool:
    """Whether a ranker other than the issue matcher placed the passage near the top: dense, BM25, or its
    article's lay gloss (written per article, apart from the issue map)."""
    ranks = (r.dense_rank, r.bm25_rank, r.gloss_rank)
    return any(rank is not None and rank <= depth for rank in ranks) or r.via in ("lookup", "statute")


def _mapped_unit(r: Retrieved) -> Unit | None:
    """The sentence the issue map names for this provision under its issue, when it names one."""
    at = r.key_sentence_at()
    return whole_unit(unit_at(r.chunk, at, at + len(r.issue.sentence))) if at >= 0 and r.issue else None


def _decisive_unit(r: Retrieved, terms: dict[str, float], *, items: bool = False) -> Unit | None:
    """The issue map's decisive sentence when it has one, else the provision's best sentence for the question.
    ``items``: an item of the provision's list counts too, for a caller that quotes it under the words that
    open its list (产品质量法第四十条's items on goods that fall short, for "网上买的衣服质量太差商家不给退", where
    the only sentence that stands alone was its last paragraph, on contracts between sellers)."""
    named = _mapped_unit(r)
    if named is not None:
        return named
    units = [u for u in split_units(r.chunk) if not u.text.rstrip().endswith(("？", "?"))]
    if not units:
        return None
    # what the reader sees of each, and is judged by: an item after the words that open its list, a
    # referring paragraph after the paragraphs it names
    shown = {
        u: u.text if can_lead(u) else lead.text + u.text
        for u in units
        if can_lead(u) or items and (lead := _context_for(u)) is not None
    } or {u: u.text for u in units}
    implied = _implied(r)
    best = max(shown, key=lambda u: (_text_score(shown[u], terms, implied), -u.start))
    return _earliest_alike(best, shown, terms, implied)


def _implied(r: Retrieved) -> str:
    """Words every sentence of a statute's article says without writing them: its statute's name."""
    return r.chunk.locator.split("》")[0] if r.chunk.article else ""  # 《产品质量法


def _earliest_alike(unit: Unit, shown: dict[Unit, str], terms: dict[str, float], implied: str = "") -> Unit:
    """The earliest of ``shown`` (units, as the reader sees them) sharing exactly ``unit``'s words of the
    question: a provision states its rule before its exceptions and special cases, and damping by length
    let the short special case win when both shared the same words ("父母去世…遗产怎么分" opened with
    第一千一百五十三条's 家庭共有财产 case)."""
    words = _question_words(shown[unit] + implied, terms)
    alike = (u for u in shown if _question_words(shown[u] + implied, terms) == words)
    return min(alike, key=lambda u: u.start, default=unit)


def _question_words(text: str, terms: dict[str, float]) -> frozenset[str]:
    return frozenset(t for t in terms if t in text)


def _context_for(unit: Unit) -> Unit | None:
    """What a unit that cannot stand alone is quoted after: an item, the words that open its list; a
    paragraph that applies the one before it, that paragraph.  None for any other unit."""
    if LIST_ITEM.match(unit.text):
        return _lead_in(unit)
    return _referred_paragraphs(unit)


def _referred_paragraphs(unit: Unit) -> Unit | None:
    """The paragraphs (款) of its article that ``unit`` applies: those before its own for 前款 / 前两款, the
    numbered one for 第一款 ("依据前款规定解除合同造成物业服务人损失的……业主应当赔偿损失。" says what it
    applies only after "业主依照法定程序共同决定解聘物业服务人的，可以解除物业服务合同。…"); None when it
    refers to none (or to an item, 前项).  Items (项) are not paragraphs: a paragraph that opens a list is
    quoted by its opening words."""
    chunk = unit.chunk
    offset, paragraphs = 0, []
    for line in chunk.text.split("\n"):
        if line.strip() and not LIST_ITEM.match(line.strip()):
            paragraphs.append((offset, offset + len(line)))
        offset += len(line) + 1
    own = sum(1 for start, _end in paragraphs if start <= unit.start - chunk.start) - 1
    numbered, before = _PARAGRAPH_NUMBER.search(unit.text), _PARAGRAPHS_BEFORE.search(unit.text)
    if numbered:
        first = last = cn_to_int(numbered.group(1)) - 1
    elif before:
        last = own - 1
        first = last - (cn_to_int(before.group(1).replace("两", "二")) if before.group(1) else 1) + 1
    else:
        return None
    if not 0 <= first <= last < own:
        return None
    return unit_at(chunk, paragraphs[first][0], paragraphs[last][1])


def _lead_in(item: Unit) -> Unit | None:
    """The sentence that opens the list ``item`` belongs to ("有下列情形之一的，该格式条款无效："): a 要点
    that quotes 第四百九十七条's item （二） alone states a condition without its consequence."""
    lead = _opening_words(item.chunk, item.start - item.chunk.start)
    return lead if lead is not None and not LIST_ITEM.match(lead.text) else None


def _opening_words(chunk: Chunk, end: int) -> Unit | None:
    """The sentence of ``chunk.text[:end]`` that ends at its last "：" (the words that open a list), from
    the clause that says "下列": 著作权法第五十三条 opens "有下列侵权行为的，应当根据情况，承担……民事责任；……；
    构成犯罪的，依法追究刑事责任：", and its last clause alone made every item read as a crime."""
    before = chunk.text[:end]
    colon = before.rfind("：")
    if colon < 0:
        return None
    sentence = max(before.rfind(mark, 0, colon) for mark in ("。", "\n")) + 1
    listing = before.rfind("下列", sentence, colon)
    start = max(sentence, before.rfind("；", sentence, listing if listing >= 0 else colon) + 1)
    lead = unit_at(chunk, start, colon + 1)
    return lead if len(lead.text) >= 4 else None


def _list_head(
    unit: Unit, r: Retrieved, by_id: dict[str, Retrieved], taken: set[str]
) -> list[tuple[Unit, Retrieved]]:
    """[(the opening line of the list, its clause)] for an agreement item quoted alone, when retrieval
    brought that clause along (``HybridRetriever._list_heads``) and it is not quoted already; else []."""
    if not AGREEMENT_ITEM.match(unit.text.strip()):
        return []
    holder = by_id.get(list_head_id(r.chunk))
    if holder is None or holder.chunk.chunk_id in taken:
        return []
    lead = _closing_lead(holder)
    return [(lead, holder)] if lead is not None else []


def _with_list_heads(
    chosen: list[tuple[Unit, Retrieved]], by_id: dict[str, Retrieved], used: set[str]
) -> list[tuple[Unit, Retrieved]]:
    """``chosen`` with each agreement item's opening line before it (see ``_list_head``)."""
    taken = set(used) | {r.chunk.chunk_id for _u, r in chosen}
    out: list[tuple[Unit, Retrieved]] = []
    for unit, r in chosen:
        for head in _list_head(unit, r, by_id, taken):
            out.append(head)
            taken.add(head[1].chunk.chunk_id)
        out.append((unit, r))
    return out


def _with_contexts(
    chosen: list[tuple[Unit, Retrieved]], elsewhere: set[Unit]
) -> list[tuple[Unit, Retrieved]]:
    """``chosen`` with what each item or referring paragraph of a provision is quoted after (``_context_for``)
    before it, unless the answer quotes that already: under 相关规定, 第一千一百五十四条's "（四）遗嘱无效部分所涉及的
    遗产；" stood without "有下列情形之一的，遗产中的有关部分按照法定继承办理：", which says what the items are."""
    out: list[tuple[Unit, Retrieved]] = []
    taken = set(elsewhere) | {u for u, _r in chosen}
    for unit, r in chosen:
        context = None if can_lead(unit) or r.chunk.kind not in PROVISION_KINDS else _context_for(unit)
        if context is not None and context not in taken:
            out.append((context, r))
            taken.add(context)
        out.append((unit, r))
    return out


def _closing_lead(holder: Retrieved) -> Unit | None:
    """The last sentence of the clause above an agreement item, when it opens a list (ends with "："):
    "③ ……等因素。" quoted alone names a cause without saying that the platform is not liable for it."""
    text = holder.chunk.text.rstrip()
    return _opening_words(holder.chunk, len(text)) if text.endswith("：") else None


def _speaking_unit(r: Retrieved, terms: dict[str, float]) -> Unit | None:
    """Of an issue's clause or commentary, the sentence the issue map names for it (legal staff chose what
    the platform's terms say on the issue: "智谱不对……任何损害……承担责任" names neither 免责 nor 格式条款),
    else the best sentence that speaks to the issue in its own words (one of the issue's keywords, or a
    word of three or more characters of its name, in it); None when no sentence does (an opening line of
    a blog post is not commentary on the issue)."""
    tag = r.issue
    named = _mapped_unit(r)
    if named is not None:
        return named
    words = {
        *(tag.keywords if tag else ()),
        *(t for t in question_terms(tag.issue_name if tag else "") if len(t) >= 3),
    }
    units = [u for u in split_units(r.chunk) if not u.text.rstrip().endswith(("？", "?"))]
    speaking = [u for u in units if any(w in u.text for w in words)]
    if not speaking:
        return None
    best = max(speaking, key=lambda u: (unit_score(u, terms), -u.start))
    return _earliest_alike(best, {u: u.text for u in speaking}, terms)


# The paper's own reference markers ([8]) are shown with full-width brackets in the answer
# text so they are never mistaken for our citation markers, and a sentence the source breaks across a
# blank line is shown on one line; statements keep the exact quote.
_SOURCE_MARKER = re.compile(r"\[(\d{1,3})\]")
_LINE_BREAK = re.compile(r"\s*\n\s*")


class _Numbering:
    """Citation numbers by first use, the quoted spans of each passage, and the statements in text order."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.spans: dict[str, list[tuple[int, int]]] = {}
        self.by_id: dict[str, Retrieved] = {}
        self.statements: list[Statement] = []

    def quote(self, unit: Unit, r: Retrieved) -> str:
        cid = r.chunk.chunk_id
        n = self.numbers.setdefault(cid, len(self.numbers) + 1)
        self.by_id[cid] = r
        self.spans.setdefault(cid, []).append((unit.start, unit.end))
        self.statements.append(Statement(unit.text, (n,)))
        shown = _LINE_BREAK.sub("", _SOURCE_MARKER.sub(r"［\1］", unit.text))
        return f"{shown}[{n}]"

    def draft(self, lines: list[str]) -> Draft:
        citations = tuple(
            replace(
                Citation.from_chunk(n, self.by_id[c].chunk, self.by_id[c].fused_score),
                spans=tuple(sorted(self.spans[c])),
            )
            for c, n in sorted(self.numbers.items(), key=lambda kv: kv[1])
        )
        return Draft(text="\n".join(lines).strip(), statements=tuple(self.statements), citations=citations)


def compose(chosen: list[tuple[Unit, Retrieved]], pool: Sequence[Retrieved], *, opening: int = 1) -> Draft:
    """The first ``opening`` quotes as the lead (a list's opening words and its item are two), then the
    rest grouped by document in retrieval order; number citations by first use."""
    if not chosen:
        return Draft(text="", statements=(), citations=(), abstained=True)
    numbering = _Numbering()
    lead, rest = chosen[:opening], chosen[opening:]
    lines = [numbering.quote(*q) for q in lead] + [""]
    lines += _grouped(rest, pool, numbering)
    return numbering.draft(lines)


def compose_with_issues(
    points: list[KeyPoint],
    chosen: list[tuple[Unit, Retrieved]],
    pool: Sequence[Retrieved],
    *,
    asked: Sequence[tuple[Unit, Retrieved]] = (),
    lead: Sequence[tuple[Unit, Retrieved]] = (),
) -> Draft:
    """The lead (the best-ranked passage's sentence, see ``_best_ranked_first``) or what the question
    named (under its source's heading), then 要点 (issue by issue, governing rule first), then the other
    cited provisions under 相关规定."""
    numbering = _Numbering()
    lines = [numbering.quote(*q) for q in lead]
    lines += _under_headings(asked, numbering)  # in the order the question named them
    if asked or lead:
        lines.append("")
    if points:
        lines += [f"**{KEY_POINTS_HEADING}**", ""]
    for point in points:
        lines += [f"**{ISSUE_HEADING_PREFIX}{point.name}**", ""]
        lines += [f"- {numbering.quote(unit, r)}" for unit, r in point.quoted]
        lines.append("")
    if chosen:
        lines += [f"**{PROVISIONS_HEADING}**", ""]
        lines += _grouped(chosen, pool, numbering)
    return numbering.draft(lines)


def _grouped(
    chosen: list[tuple[Unit, Retrieved]], pool: Sequence[Retrieved], numbering: _Numbering
) -> list[str]:
    """Bullets under their sources' headings, documents in retrieval order, passages in text order."""
    return _under_headings(_grouped_order(chosen, pool), numbering)


def _grouped_order(
    chosen: Sequence[tuple[Unit, Retrieved]], pool: Sequence[Retrieved]
) -> list[tuple[Unit, Retrieved]]:
    """Documents in retrieval order, passages in text order: how 相关规定 lists (and numbers) them."""
    doc_order = {r.chunk.doc_id: i for i, r in reversed(list(enumerate(pool)))}
    return sorted(
        chosen, key=lambda ur: (doc_order.get(ur[1].chunk.doc_id, 99), ur[1].chunk.ordinal, ur[0].start)
    )


def _under_headings(items: Sequence[tuple[Unit, Retrieved]], numbering: _Numbering) -> list[str]:
    """One bullet per quote, a heading wherever the source heading changes: the agreement's headings are
    its sections, so a clause of 八、责任限制 is never shown under 三、您的权利和义务."""
    lines: list[str] = []
    heading = None
    for unit, r in items:
        if _source_heading(r) != heading:
            lines += [""] if heading is not None else []
            heading = _source_heading(r)
            lines += [f"**{heading}**", ""]
        lines.append(f"- {numbering.quote(unit, r)}")
    return lines


def _source_heading(r: Retrieved) -> str:
    # "《民法典》第一千二百零二条" → 《民法典》; "《用户协议》九、第三方产品及服务 第1条" keeps its section's name
    title = (
        re.sub(r"(第[零〇一二两三四五六七八九十百千]+条.*|\s.*)$", "", r.chunk.locator) or r.chunk.doc_title
    )
    return f"{title} 的相关规定" if r.chunk.kind == "statute" else f"{title}"
