"""Score the answers, not only the ranking, on the lay dev splits: questions worded the way business
users ask (``dev-lay.jsonl``, ``dev-lay-covered.jsonl``; written apart from the training questions and
never fitted on).

``legalqa eval`` scores answers on the eval suite's questions, which legal staff wrote in statutory
wording; ``python -m evals.train.measure`` scores the ranking on the lay splits.  Neither showed that the
answers lost what retrieval found for lay questions: the first retrieved passage was gold for 0.512 of
lay dev questions, the answer's first citation for 0.368.  For each question the real pipeline answers
(extractive by default) and we count:

- ``first citation gold``: the answer's first citation is one of the question's gold passages;
- ``citation precision / recall``: gold among the cited passages / gold passages cited, per question;
- ``declined``: answerable questions declined (each lay question has gold in the corpus);
- ``retrieved first gold``: the first retrieved passage is gold (what the first citation could be).

    python -m evals.train.answers [--answerer extractive]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.answer import Answer
from evals.train.data import covered_dev_file, dev_file, load_questions, resolve_gold


class Asks(Protocol):
    def ask(self, question: str, *, answerer: str | None = None) -> Answer: ...


@dataclass(frozen=True, slots=True)
class AnswerScores:
    questions: int
    first_citation_gold: float
    citation_precision: float
    citation_recall: float
    declined: float
    retrieved_first_gold: float

    def line(self, name: str) -> str:
        return (
            f"{name:8s} n={self.questions:3d}  first citation gold {self.first_citation_gold:.3f}  "
            f"citation precision / recall {self.citation_precision:.3f} / {self.citation_recall:.3f}  "
            f"declined {self.declined:.3f}  retrieved first gold {self.retrieved_first_gold:.3f}"
        )


def score_answers(answers: Iterable[tuple[Answer, set[str]]]) -> AnswerScores:
    """Averages over questions; a declined answer counts 0 for every citation measure."""
    n = first = declined = top = 0
    precision = recall = 0.0
    for answer, gold in answers:
        n += 1
        top += bool(answer.retrieved) and answer.retrieved[0].chunk_id in gold
        if answer.abstained:
            declined += 1
            continue
        cited = [c.chunk_id for c in answer.citations]
        first += bool(cited) and cited[0] in gold
        precision += sum(c in gold for c in cited) / max(len(cited), 1)
        recall += len(gold & set(cited)) / max(len(gold), 1)
    if not n:
        return AnswerScores(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return AnswerScores(n, first / n, precision / n, recall / n, declined / n, top / n)


def score_file(pipeline: Asks, path: Path, chunks: Mapping[str, object], answerer: str | None) -> AnswerScores:
    questions = load_questions([path])
    gold = resolve_gold(questions, chunks)  # type: ignore[arg-type]
    return score_answers((pipeline.ask(q.question, answerer=answerer), set(gold[q.id])) for q in questions)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.train.answers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--answerer", default=None, help="extractive or llm (default LEGALQA_ANSWERER)")
    args = parser.parse_args(argv)
    from app.pipeline import default_pipeline

    pipeline = default_pipeline()
    for name, path in (("lay", dev_file()), ("covered", covered_dev_file())):
        print(score_file(pipeline, path, pipeline.index.chunks, args.answerer).line(name), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
