"""Decide whether the retrieved passages are a reliable basis for any answer.

Two signals, both cheap: how close the best passage is in embedding space
(``top_dense``), and how much of the question's content the top passages
actually contain (``coverage``).  A question that names an existing article
is always answered.  The default threshold was calibrated on the dev set
(see README, "Abstention").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from app.extractive import question_terms
from app.types import Retrieved

ABSTAIN_TEXT = (
    "资料库中没有找到能可靠回答这个问题的依据。本工具只覆盖生成式人工智能服务民事责任相关的法律条文和资料"
    "（民法典、消费者权益保护法、产品质量法、生成式人工智能服务管理暂行办法等），"
    "不回答许可证办理、资质申请等其他事项。请换个问法，或咨询专业律师。"
)

# Calibrated with `python -m evals.calibrate` on the dev set: at 0.56, 11/14 out-of-scope
# questions are declined and 2/74 answerable ones are wrongly declined (README, "Abstention").
DEFAULT_THRESHOLD = 0.56


@dataclass(frozen=True, slots=True)
class Evidence:
    score: float
    top_dense: float
    coverage: float
    named_article: bool
    threshold: float
    abstain: bool

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


IdfFn = Callable[[Sequence[str]], dict[str, float]]


def coverage(question: str, results: Sequence[Retrieved], idf: IdfFn | None = None, top: int = 3) -> float:
    """Share of the question's content, weighted by rarity in the corpus, that the top passages contain.

    Weighting by idf makes a missing rare word (许可证, 签证, 加急) count for
    much more than a missing common one (办理, 需要).
    """
    terms = question_terms(question)
    if not terms:
        return 0.0
    weights = idf(list(terms)) if idf is not None else terms
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    text = "".join(r.chunk.text for r in results[:top])
    return sum(w for t, w in weights.items() if t in text) / total


def evidence_score(top_dense: float, cover: float) -> float:
    return 0.5 * top_dense + 0.5 * cover


def assess(question: str, results: Sequence[Retrieved], threshold: float = 0.0, idf: IdfFn | None = None) -> Evidence:
    threshold = threshold or DEFAULT_THRESHOLD
    named = any(r.via == "lookup" for r in results)
    dense = [r.dense_score for r in results if r.dense_score is not None]
    top_dense = max(dense) if dense else 0.0
    cover = coverage(question, results, idf)
    score = evidence_score(top_dense, cover)
    abstain = not results or (not named and score < threshold)
    return Evidence(round(score, 4), round(top_dense, 4), round(cover, 4), named, threshold, abstain)
