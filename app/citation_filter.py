"""Which passages an answer cites: a trained filter between retrieval and citation.

Extractive answers cited four passages on average where one or two decide the question: on
the dev set the first citation was a gold passage two times in three, the second 27% of the
time, the third 14%, the fourth 6% (citation precision 0.31).  Legal staff verifying each
citation waded through the rest.  This model scores every passage an answer is about to cite
(how the rankers placed it, how close it is to the question beside the other cited passages,
where it stands in the answer, what brought it) and the answer leaves out those unlikely to
bear on the question, with the sentences it quoted from them.

The first citation is always kept (an answer needs one), and so is an article the question
names.  Trained with ``python -m evals.train.citations`` on the retrieval issue's training
questions, whose gold passages label each citation; its threshold is chosen on the lay dev
split (never on an eval set).  ``app/citation_model.json`` records the features, their scaling,
the weights, the threshold and the embedder it was trained with: the similarities are that
model's, so under another embedder, or a ranking without embeddings, every passage is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from app import logistic
from app.answer import Retrieved

MODEL_PATH = Path(__file__).with_name("citation_model.json")

FEATURES = (
    "position",  # log(1 + place among the cited passages, in order of appearance)
    "first",
    "retrieval_rank",  # log(1 + place in the retrieved list)
    "dense_rank",  # 1 / (1 + rank), 0 when that ranker did not place it
    "bm25_rank",
    "gloss_rank",
    "similarity",  # cosine of question and passage
    "below_best_retrieved",  # best similarity among the retrieved passages minus this one's
    "below_best_cited",  # best similarity among the cited passages minus this one's
    "below_first_cited",
    "named",  # the question names this article
    "via_issue",  # brought in by the issue map only
    "via_xref",  # cited inside another passage
    "issue",  # tagged by a matched issue
    "issue_score",
    "issue_rule",  # the matched issue's governing rule
    "statute",
    "same_document_as_first",
    "cited",  # log(1 + how many passages the answer cites)
)


def _inverse(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


def citation_features(
    cited: Sequence[Retrieved], passages: Sequence[Retrieved]
) -> list[dict[str, float]] | None:
    """The features of each cited passage (in order of appearance) among all retrieved ``passages``;
    None when a passage carries no similarity (a ranking without embeddings)."""
    if not cited or any(r.similarity is None for r in cited):
        return None
    place = {}
    for i, r in enumerate(passages):
        place.setdefault(r.chunk.chunk_id, i)
    similarity = [float(r.similarity) for r in cited]  # type: ignore[arg-type]
    retrieved = [r.similarity for r in passages if r.similarity is not None]
    best_retrieved = max(retrieved, default=max(similarity))
    best_cited = max(similarity)
    first_doc = cited[0].chunk.doc_id
    rows = []
    for n, r in enumerate(cited):
        tag = r.issue
        rows.append(
            {
                "position": math.log1p(n),
                "first": 1.0 if n == 0 else 0.0,
                "retrieval_rank": math.log1p(place.get(r.chunk.chunk_id, len(passages))),
                "dense_rank": _inverse(r.dense_rank),
                "bm25_rank": _inverse(r.bm25_rank),
                "gloss_rank": _inverse(r.gloss_rank),
                "similarity": similarity[n],
                "below_best_retrieved": best_retrieved - similarity[n],
                "below_best_cited": best_cited - similarity[n],
                "below_first_cited": similarity[0] - similarity[n],
                "named": 1.0 if r.via == "lookup" else 0.0,
                "via_issue": 1.0 if r.via == "issue" else 0.0,
                "via_xref": 1.0 if r.via == "xref" else 0.0,
                "issue": 1.0 if tag is not None else 0.0,
                "issue_score": tag.score if tag is not None else 0.0,
                "issue_rule": 1.0 if tag is not None and tag.role == "rule" else 0.0,
                "statute": 1.0 if r.chunk.kind == "statute" else 0.0,
                "same_document_as_first": 1.0 if r.chunk.doc_id == first_doc else 0.0,
                "cited": math.log1p(len(cited)),
            }
        )
    return rows


class CitationJudge(Protocol):
    """Decides which of the passages an answer is about to cite it keeps (the extractive answerer's seam)."""

    def keep(self, cited: Sequence[Retrieved], passages: Sequence[Retrieved]) -> list[bool]: ...


@dataclass(frozen=True, slots=True)
class CitationModel(logistic.Weights):
    """A passage below ``threshold`` P(relevant) is not cited, unless it is the first or the question names it."""

    known: ClassVar[tuple[str, ...]] = FEATURES

    def probabilities(self, cited: Sequence[Retrieved], passages: Sequence[Retrieved]) -> list[float] | None:
        rows = citation_features(cited, passages)
        return None if rows is None else [self.probability(row) for row in rows]

    def keep(self, cited: Sequence[Retrieved], passages: Sequence[Retrieved]) -> list[bool]:
        scores = self.probabilities(cited, passages)
        if scores is None:
            return [True] * len(cited)
        return [
            n == 0 or r.via in ("lookup", "statute") or p >= self.threshold
            for n, (r, p) in enumerate(zip(cited, scores, strict=True))
        ]


def load_citation_model(path: Path = MODEL_PATH, embedder: str = "") -> CitationModel | None:
    """The shipped model when it was trained for ``embedder`` (any embedder when ""), else None: an
    unreadable or foreign model file means every passage is cited, never a failed answer."""
    return logistic.load_shipped(CitationModel, path, embedder)
