"""A learned fusion of the rankers: which candidate passage answers the question, from how each ranker
placed it.

Reciprocal-rank fusion weighs every ranker by one hand-set number, and a passage's rank is all it
sees.  Tuning those numbers one at a time had stopped paying (each moved lay dev Recall@5 by at most
0.01), while most of the lay questions it missed had their passage at ranks 6–40, placed near the
top by one ranker and low by the others.  This model scores each candidate by a logistic regression
over what the rankers say about it: each ranker's rank (as 1 / (1 + rank), sharp at the top, and as
the share of its list below it, even further down), the passage's embedding similarity to the
question beside the best candidate's, its BM25 score beside the best, how much of the question
(weighted by term rarity) it and its article's lay gloss contain, whether the question names its
statute, whether a matched issue brought it, and what kind of document it is.

Trained with ``python -m evals.train.fusion`` on the consultation stories
(``evals/train/data/stories-*.jsonl``), their features computed with query adapters that never saw
the story being scored (cross-fitting: the shipped adapter was trained on every story, so its ranks
on them would be too good to learn from).  ``app/fusion_model.json`` records the features, their
scaling and weights and the embedder the similarities are from; under another embedder, or when the
file is missing or broken, the retriever falls back to reciprocal-rank fusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from app import logistic

MODEL_PATH = Path(__file__).with_name("fusion_model.json")

RANKERS = ("dense", "bm25", "gloss_words", "gloss_vector", "memory", "issue")
KINDS = ("statute", "agreement", "paper", "blog")

FEATURES = (
    *(f"{name}_top" for name in RANKERS),  # 1 / (1 + rank); 0 when the ranker did not place it
    *(f"{name}_depth" for name in RANKERS),  # share of the ranker's list below it; 0 likewise
    "similarity_gap",  # the best candidate's similarity to the question minus this one's
    "bm25_share",  # BM25 score / the best candidate's
    "coverage",  # idf-weighted share of the question's terms in the passage (its gloss included)
    "named_statute",  # the question names the passage's statute
    "issue_score",  # the matched issue's score (0 when no issue brought it)
    "issue_rule",  # the governing rule of a matched issue
    *(f"kind_{kind}" for kind in KINDS),
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the rankers said about one passage: (rank, list length) per ranker that placed it."""

    ranks: Mapping[str, tuple[int, int]]
    similarity_gap: float
    bm25_share: float
    coverage: float
    named_statute: bool
    issue_score: float
    issue_rule: bool
    kind: str


def rank_features(rank: int | None, length: int) -> tuple[float, float]:
    """(1 / (1 + rank), share of the list at or below it) of a place in a ranked list of ``length``;
    (0, 0) when the list does not hold the passage.  Both ranking models see a rank this way."""
    if not rank:
        return 0.0, 0.0
    return 1.0 / (1.0 + rank), (length - rank + 1) / length


def candidate_features(candidate: Candidate) -> dict[str, float]:
    row: dict[str, float] = {}
    for name in RANKERS:
        row[f"{name}_top"], row[f"{name}_depth"] = rank_features(*candidate.ranks.get(name, (0, 0)))
    row["similarity_gap"] = candidate.similarity_gap
    row["bm25_share"] = candidate.bm25_share
    row["coverage"] = candidate.coverage
    row["named_statute"] = 1.0 if candidate.named_statute else 0.0
    row["issue_score"] = candidate.issue_score
    row["issue_rule"] = 1.0 if candidate.issue_rule else 0.0
    for kind in KINDS:
        row[f"kind_{kind}"] = 1.0 if candidate.kind == kind else 0.0
    return row


@dataclass(frozen=True, slots=True)
class FusionModel(logistic.Weights):
    """Orders candidates by the logit of P(the passage answers the question); ``threshold`` is unused."""

    known: ClassVar[tuple[str, ...]] = FEATURES

    def score(self, candidate: Candidate) -> float:
        return self.logit(candidate_features(candidate))


def load_fusion_model(path: Path = MODEL_PATH, embedder: str = "") -> FusionModel | None:
    """The shipped model when it was trained for ``embedder`` (any embedder when ""), else None: a
    missing, unreadable or foreign file means reciprocal-rank fusion, never a failed question."""
    return logistic.load_shipped(FusionModel, path, embedder)
