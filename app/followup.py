"""Which passages answer a follow-up: a learned merge of the conversation's ranking and the follow-up's own.

An elliptical follow-up ("那能赔多少？", "有时间限制吗？") is searched twice: read against the conversation
(the earlier questions and the follow-up together) and on its own.  The first knows the matter, the
second knows what the follow-up turns to; the passage that answers it is often ranked sixth in one and
ninth in the other.  Interleaving the two lists (three of the conversation's, two of its own in the
top five) left it out.  This model scores every passage of either list by where each placed it (1 / (1 +
rank), and by depth), whether both did, whether a matched issue brought it in either, and its similarity
to each reading beside the best passage's, and the follow-up's passages are ordered by it.

Trained with ``python -m evals.train.followup`` on training conversations written for it
(``evals/train/data/conversations-*.jsonl``), which neither the query adapter nor the question memory
saw; its regularisation is chosen on the multi-turn dev conversations.  ``app/followup_model.json``
records the features, scaling, weights and the embedder; without it (or under another embedder) the two
lists are interleaved as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from app import logistic
from app.answer import Retrieved
from app.fusion import rank_features

MODEL_PATH = Path(__file__).with_name("followup_model.json")

READINGS = ("context", "own")  # the follow-up read against the conversation; the follow-up alone

FEATURES = (
    *(f"{name}_top" for name in READINGS),  # 1 / (1 + rank) in that reading's list, 0 when absent
    *(f"{name}_depth" for name in READINGS),  # share of that list below it, 0 when absent
    "both",  # both readings placed it
    *(f"{name}_issue" for name in READINGS),  # a matched issue of that reading brought or tagged it
    *(f"{name}_similarity_gap" for name in READINGS),  # best similarity to that reading minus its own
)


def followup_features(
    passages: Mapping[str, Sequence[Retrieved]], similarity: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """chunk id → features, for every passage either reading's list holds.  ``passages``: reading →
    its ranked list; ``similarity``: reading → chunk id → cosine of the passage and that reading."""
    ranks = {name: _ranks(passages[name]) for name in READINGS}
    tagged = {name: {r.chunk.chunk_id for r in passages[name] if r.issue is not None} for name in READINGS}
    best = {name: max(similarity[name].values(), default=0.0) for name in READINGS}
    out: dict[str, dict[str, float]] = {}
    for chunk_id in dict.fromkeys(c for name in READINGS for c in ranks[name]):
        row: dict[str, float] = {}
        for name in READINGS:
            row[f"{name}_top"], row[f"{name}_depth"] = rank_features(
                ranks[name].get(chunk_id), len(ranks[name])
            )
            row[f"{name}_issue"] = 1.0 if chunk_id in tagged[name] else 0.0
            row[f"{name}_similarity_gap"] = best[name] - similarity[name].get(chunk_id, 0.0)
        row["both"] = 1.0 if all(chunk_id in ranks[name] for name in READINGS) else 0.0
        out[chunk_id] = row
    return out


def _ranks(passages: Sequence[Retrieved]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in passages:
        out.setdefault(r.chunk.chunk_id, len(out) + 1)
    return out


@dataclass(frozen=True, slots=True)
class FollowUpModel(logistic.Weights):
    """Orders a follow-up's passages by the logit of P(the passage answers it); ``threshold`` is unused."""

    known: ClassVar[tuple[str, ...]] = FEATURES

    def order(
        self, passages: Mapping[str, Sequence[Retrieved]], similarity: Mapping[str, Mapping[str, float]]
    ) -> list[str]:
        """The chunk ids of both readings' lists, best first (ties: the conversation's order)."""
        rows = followup_features(passages, similarity)
        scores = {c: self.logit(row) for c, row in rows.items()}
        return sorted(scores, key=lambda c: -scores[c])


def load_followup_model(path: Path = MODEL_PATH, embedder: str = "") -> FollowUpModel | None:
    """The shipped model when it was trained for ``embedder`` (any embedder when ""), else None: a
    missing, unreadable or foreign file means the two lists are interleaved, never a failed question."""
    return logistic.load_shipped(FollowUpModel, path, embedder)
