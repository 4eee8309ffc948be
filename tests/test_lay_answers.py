"""The lay dev splits' answer scores (``python -m evals.train.answers``): what each measure counts."""

from __future__ import annotations

from app.answer import Answer, Citation, RetrievedRow
from evals.train.answers import score_answers
from tests.chunks import make_chunk


def _answer(cited: list[int], retrieved: list[int], *, declined: bool = False) -> Answer:
    citations = tuple(Citation.from_chunk(n + 1, make_chunk(f"第{i}条", n=i), 1.0) for n, i in enumerate(cited))
    rows = tuple(RetrievedRow(chunk_id=f"civil-code/{i}") for i in retrieved)
    return Answer("问", "答", () if declined else citations, declined, "extractive", retrieved=rows)


def test_first_citation_precision_recall_and_declines_are_averaged_over_questions() -> None:
    scores = score_answers(
        [
            (_answer([1, 2], [2, 1]), {"civil-code/1"}),  # first cited gold; retrieval's first not
            (_answer([3, 4], [4]), {"civil-code/4", "civil-code/5"}),  # gold cited second, half the gold
            (_answer([], [6], declined=True), {"civil-code/6"}),  # declined: 0 for citations
        ]
    )
    assert scores.questions == 3
    assert scores.first_citation_gold == 1 / 3
    assert scores.citation_precision == (1 / 2 + 1 / 2) / 3
    assert scores.citation_recall == (1 + 1 / 2) / 3
    assert scores.declined == 1 / 3
    assert scores.retrieved_first_gold == 2 / 3


def test_no_questions_scores_zero() -> None:
    assert score_answers([]).questions == 0
