"""The trained decision to answer or decline: logistic regression over cheap retrieval signals.

The hand-set evidence threshold declined a third of plain-language questions
while letting through off-topic ones that shared a word with the corpus.  This
model is trained (``python -m evals.train.decline``) on data kept apart from every
eval set: answerable = the retrieval issue's training questions, declined = ≥ 500
written negatives (everyday topics, other law, near misses that share our words,
tasks we do not do).  Its file, ``app/decline_model.json``, records the features,
their scaling, the weights, the threshold and the embedder it was trained with; a
different embedder gives different scores, so then the two-signal rule is used.
Applying it needs numpy only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from app import logistic
from app.answer import Retrieved
from app.terms import question_terms

MODEL_PATH = Path(__file__).with_name("decline_model.json")

# Words of our field's law; a question with none of them is rarely ours.
LEGAL_WORDS = re.compile(
    r"赔|责任|违约|侵权|合同|协议|条款|法|权|义务|损失|损害|消费者|经营者|平台|个人信息|隐私|缺陷|产品|格式|免责|"
    r"承担|起诉|诉讼|时效|欺诈|退款|退货|违规|罚|处罚|备案|生成|内容|数据|算法|标识|服务|用户"
)
FOCUS_WORDS = re.compile(
    r"AI|ai|人工智能|大模型|模型|算法|生成|智能|机器人|GPT|智谱|API|平台|互联网|网络|线上|App|APP|app|数据|个人信息"
)

FEATURES = ("top_dense", "coverage", "top_bm25", "issue", "legal_words", "focus", "terms")


def features(
    question: str, results: Sequence[Retrieved], coverage: float, issue_score: float
) -> dict[str, float]:
    """The signals the decision uses, all available after retrieval without another model call."""
    dense = [r.dense_score for r in results if r.dense_score is not None]
    bm25 = [r.bm25_score for r in results if r.bm25_score is not None]
    return {
        "top_dense": max(dense) if dense else 0.0,
        "coverage": coverage,
        "top_bm25": math.log1p(max(bm25)) if bm25 else 0.0,
        "issue": issue_score,
        "legal_words": min(len(LEGAL_WORDS.findall(question)), 4) / 4,
        "focus": 1.0 if FOCUS_WORDS.search(question) else 0.0,
        "terms": math.log1p(len(question_terms(question))),
    }


@dataclass(frozen=True, slots=True)
class DeclineModel(logistic.Weights):
    """Declines when P(answerable) is below ``threshold``."""

    # weights on the question's own embedding (unit length, the retrieval query vector): what kind of
    # question it is — a recipe, a tax form, a request to draft — beyond how well the corpus answers it
    embedding_coef: tuple[float, ...] = ()

    known: ClassVar[tuple[str, ...]] = FEATURES

    def probability(self, values: Mapping[str, float], vector: Sequence[float] = ()) -> float:
        extra = 0.0
        if self.embedding_coef and len(vector) == len(self.embedding_coef):
            extra = sum(c * v for c, v in zip(self.embedding_coef, vector, strict=True))
        return logistic.sigmoid(self.logit(values) + extra)

    def to_json(self) -> dict[str, object]:
        weights = logistic.Weights.to_json(self)  # a slotted dataclass has no zero-argument super()
        return {**weights, "embedding_coef": [round(c, 6) for c in self.embedding_coef]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> DeclineModel:
        return cls(
            **logistic.fields_from_json(data, FEATURES),
            embedding_coef=logistic.floats(data, "embedding_coef") if "embedding_coef" in data else (),
        )


def load_model(path: Path = MODEL_PATH, embedder: str = "") -> DeclineModel | None:
    """The shipped model when it was trained for ``embedder`` (any embedder when ""), else None."""
    return logistic.load_shipped(DeclineModel, path, embedder)
