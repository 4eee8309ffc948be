"""Answer-side data types: one ``Answer`` shape for UI, CLI, JSON, API and export."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.warning import WARNING, WARNING_CORE
from ingest.types import Chunk

# How a passage came to be retrieved: a ranker's own list, both fused, the article the question
# names, the issue map, or an article a top passage cites.
# "statute": a passage of the statute a follow-up names ("那消保法怎么规定的？"), ranked for the conversation's matter
Via = Literal["hybrid", "dense", "bm25", "lookup", "statute", "issue", "xref"]
# How a statement of an answer is backed: a verbatim quote, checked by the grounding check, or neither.
Support = Literal["quote", "verified", "unsupported"]


@dataclass(frozen=True, slots=True)
class IssueTag:
    """Why a passage came in through the issue map: which issue, in what role, with what decisive sentence."""

    issue_id: str
    issue_name: str
    role: str
    sentence: str = ""
    score: float = 0.0
    keywords: tuple[str, ...] = ()  # the words people use for the issue (the map's keywords)


@dataclass(frozen=True, slots=True)
class Retrieved:
    """A chunk with every score that put it where it is (higher is better)."""

    chunk: Chunk
    fused_score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    via: Via = "hybrid"
    issue: IssueTag | None = None  # set when via == "issue"
    gloss_rank: int | None = None  # the article's best rank by its lay gloss (words or vector), if any
    # cosine of the question and the passage, for every passage a ranking with embeddings returns
    # (dense_score is set only where dense search itself ranked it): the citation filter reads it
    similarity: float | None = None

    def key_sentence_at(self) -> int:
        """Where the issue map's sentence for this passage (``issue.sentence``) starts in its text; -1 when
        the map names none or the passage no longer holds it (a statute amended since the map was written).
        The extractive 要点 quotes it and the LLM prompt labels the passage with it."""
        sentence = self.issue.sentence if self.issue else ""
        return self.chunk.text.find(sentence) if sentence else -1


@dataclass(frozen=True, slots=True)
class RetrievedRow:
    """One retrieved passage as an answer records it (the ids and scores, not the text): what
    was searched and ranked, for legal staff, the evals and the API."""

    chunk_id: str
    doc_id: str = ""
    locator: str = ""
    via: str = "hybrid"
    issue: str = ""  # the issue map's issue that brought it in, if any
    fused_score: float | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    gloss_rank: int | None = None

    @classmethod
    def from_retrieved(cls, r: Retrieved) -> RetrievedRow:
        return cls(
            chunk_id=r.chunk.chunk_id,
            doc_id=r.chunk.doc_id,
            locator=r.chunk.locator,
            via=r.via,
            issue=r.issue.issue_id if r.issue else "",
            fused_score=r.fused_score,
            dense_score=r.dense_score,
            bm25_score=r.bm25_score,
            dense_rank=r.dense_rank,
            bm25_rank=r.bm25_rank,
            gloss_rank=r.gloss_rank,
        )

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RetrievedRow:
        """From an Answer JSON's row: known keys only (a saved answer may be older or carry more)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why the pipeline answered or declined: the signals and the decision."""

    score: float
    top_dense: float
    coverage: float
    named_article: bool
    threshold: float
    abstain: bool
    p_answerable: float | None = None  # the trained model's probability, when it decided

    def as_dict(self) -> dict[str, float | bool | None]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Evidence | None:
        """From an Answer JSON's ``evidence`` (None when it is empty or not ours)."""
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:
            return None


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered source of an answer; ``quote`` is an exact corpus slice."""

    number: int
    chunk_id: str
    doc_id: str
    doc_title: str
    locator: str
    breadcrumb: str
    quote: str
    start: int
    end: int
    file: str
    sha256: str
    score: float
    # (start, end) file offsets of the sentences the answer quotes from this passage
    spans: tuple[tuple[int, int], ...] = ()
    # "（用户添加）" when the cited document was added by legal staff (``ingest.types.source_mark``), else "";
    # set by the pipeline from the manifest, so every output (text, export, JSON, API) shows the same label
    source_mark: str = ""

    @classmethod
    def from_chunk(cls, number: int, chunk: Chunk, score: float) -> Citation:
        return cls(
            number=number,
            chunk_id=chunk.chunk_id,
            doc_id=chunk.doc_id,
            doc_title=chunk.doc_title,
            locator=chunk.locator,
            breadcrumb=chunk.breadcrumb_text,
            quote=chunk.text,
            start=chunk.start,
            end=chunk.end,
            file=chunk.file,
            sha256=chunk.sha256,
            score=score,
        )


@dataclass(frozen=True, slots=True)
class Statement:
    """One sentence of an answer and the citation numbers that back it.

    ``support`` is ``quote`` (verbatim slice of a cited passage), ``verified``
    (checked against its passages by the grounding check) or ``unsupported``
    (kept only when the caller asked to mark rather than drop).
    """

    text: str
    citations: tuple[int, ...]
    support: Support = "quote"


@dataclass(frozen=True, slots=True)
class Answer:
    """What every path returns.  ``warning`` is mandatory and fixed."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    answerer: str
    warning: str = WARNING
    statements: tuple[Statement, ...] = ()
    unsupported_removed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: tuple[RetrievedRow, ...] = ()
    evidence: Evidence | None = None
    error: str = ""
    # doc ids whose corpus file changed (or vanished) since the index was built: citations may be out of date
    stale: tuple[str, ...] = ()
    # one-line notes attached by code (an article that does not exist, "本工具不代拟文书", outside the focus)
    notes: tuple[str, ...] = ()
    # what was searched when a follow-up was read against the conversation ("按上下文理解为：…"); "" otherwise
    searched: str = ""
    # names of the issue map's issues the question matched, best first
    issues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if WARNING_CORE not in self.warning:
            raise ValueError("an Answer must carry the 仅供参考，不构成法律意见 warning")
        if self.abstained and self.citations:
            raise ValueError("an abstention carries no citations")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        data = dict(data)
        data["citations"] = tuple(
            Citation(**{**c, "spans": tuple(tuple(s) for s in c.get("spans", ()))})
            for c in data.get("citations", ())
        )
        data["statements"] = tuple(
            Statement(s["text"], tuple(s["citations"]), s.get("support", "quote"))
            for s in data.get("statements", ())
        )
        data["retrieved"] = tuple(RetrievedRow.from_mapping(r) for r in data.get("retrieved", ()))
        data["evidence"] = Evidence.from_mapping(data.get("evidence") or {})
        data["stale"] = tuple(data.get("stale", ()))
        data["notes"] = tuple(data.get("notes", ()))
        data["issues"] = tuple(data.get("issues", ()))
        data["warning"] = WARNING  # the warning is code's, never the file's: a saved answer cannot change it
        return cls(**data)
