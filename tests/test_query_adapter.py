"""The query adapter: trained on the training questions against fixed passage vectors, never on the lay dev
split's articles, shipped keyed by its model, applied to questions only (the index and its vectors stay valid)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evals.train.adapter import AdapterConfig, card_file, recall_at_5, run, train_adapter
from ingest.embed import HashingEmbedder
from ingest.embed_cache import model_key
from ingest.errors import LegalQAError
from ingest.query_adapter import (
    AdaptedEmbedder,
    QueryAdapter,
    load_adapter,
    with_query_adapter,
    write_adapter,
)
from ingest.settings import Settings
from tests.helpers import ROOT


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def _task(seed: int = 0) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """Questions that are a fixed linear distortion of their passage plus noise: what a linear map can undo."""
    rng = np.random.default_rng(seed)
    passages = _unit(rng.normal(size=(200, 32)))
    distort = np.eye(32) + 3.0 * rng.normal(size=(32, 32)) / np.sqrt(32)
    gold = [[int(i % 200)] for i in range(600)]
    questions = _unit(np.array([passages[g[0]] @ distort for g in gold]) + 0.1 * rng.normal(size=(600, 32)))
    return questions.astype(np.float32), gold, passages.astype(np.float32)


def test_training_moves_questions_to_their_passages_reproducibly() -> None:
    questions, gold, passages = _task()
    everything = np.ones(len(passages), dtype=bool)
    config = AdapterConfig(rank=16, epochs=40, temperature=0.05, learning_rate=1e-2, batch_size=64)
    adapter, losses = train_adapter(questions, gold, passages, everything, config)
    assert losses[-1] < losses[0] * 0.5
    assert (
        recall_at_5(questions, gold, passages, adapter) > recall_at_5(questions, gold, passages, None) + 0.5
    )
    again, _ = train_adapter(questions, gold, passages, everything, config)
    assert again.digest == adapter.digest  # seeded


def test_members_are_trained_from_consecutive_seeds_and_averaged_into_one_adapter() -> None:
    """Three members are one map: q moved by the mean of the members' residuals (then normalised)."""
    questions, gold, passages = _task()
    everything = np.ones(len(passages), dtype=bool)
    config = AdapterConfig(rank=8, epochs=5, temperature=0.05, learning_rate=1e-2, batch_size=64, members=3)
    averaged, losses = train_adapter(questions, gold, passages, everything, config)
    members = [
        train_adapter(questions, gold, passages, everything, replace(config, seed=s, members=1))[0]
        for s in (0, 1, 2)
    ]
    assert averaged.up.shape == (questions.shape[1], 24) and len(losses) == 5
    q = questions[3]
    moved = q + np.mean([(q @ m.up) @ m.down for m in members], axis=0)
    assert np.allclose(averaged.apply(q), moved / np.linalg.norm(moved), atol=1e-5)
    assert not np.allclose(members[0].apply(q), members[1].apply(q), atol=1e-3), "the seeds differ"
    with pytest.raises(ValueError, match="one or more members"):
        train_adapter(questions, gold, passages, everything, replace(config, members=0))


def test_untrained_adapter_is_the_identity_and_a_gold_outside_the_candidates_is_refused() -> None:
    questions, gold, passages = _task()
    candidates = np.ones(len(passages), dtype=bool)
    identity, _ = train_adapter(questions, gold, passages, candidates, AdapterConfig(rank=4, epochs=0))
    assert np.allclose(identity.apply(questions[0]), questions[0], atol=1e-6)
    candidates[gold[0][0]] = False  # a held-out passage: no question may be trained towards it
    with pytest.raises(ValueError, match="among the candidates"):
        train_adapter(questions, gold, passages, candidates, AdapterConfig(rank=4, epochs=1))


def test_an_adapter_is_found_only_for_the_model_it_was_written_for(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    adapter = QueryAdapter(
        rng.normal(size=(64, 4)).astype(np.float32), rng.normal(size=(4, 64)).astype(np.float32)
    )
    model = HashingEmbedder(64)
    monkeypatch.setattr("ingest.query_adapter.adapter_file", lambda key: tmp_path / f"{abs(hash(key))}.npz")
    write_adapter(model_key(model), adapter)
    loaded = load_adapter(model_key(model))
    assert loaded is not None and loaded.digest == adapter.digest  # stored as float16, digest of the float16
    assert load_adapter(model_key(HashingEmbedder(32))) is None

    wrapped = with_query_adapter(model)
    assert isinstance(wrapped, AdaptedEmbedder) and with_query_adapter(wrapped) is wrapped
    assert model_key(wrapped) == model_key(model), "the index and the embedding cache stay valid"
    texts = ["出租人应当履行维修义务", "房东不修空调怎么办"]
    assert wrapped.embed_documents(texts) == model.embed_documents(texts)
    moved, plain = np.asarray(wrapped.embed_query(texts[1])), np.asarray(model.embed_query(texts[1]))
    assert abs(float(np.linalg.norm(moved)) - 1.0) < 1e-5 and float(moved @ plain) < 0.999
    assert with_query_adapter(HashingEmbedder(32)).__class__ is HashingEmbedder


def test_a_damaged_adapter_is_one_error_naming_the_file_and_is_left_out(
    tmp_path: Path, monkeypatch, caplog
) -> None:  # noqa: ANN001
    model = HashingEmbedder(64)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not a zip")
    monkeypatch.setattr("ingest.query_adapter.adapter_file", lambda key: damaged)
    with pytest.raises(LegalQAError, match=r"damaged\.npz: not a query adapter"):
        load_adapter(model_key(model))
    assert with_query_adapter(model) is model
    assert "query adapter left out" in caplog.text and "damaged.npz" in caplog.text


def test_a_tiny_training_run_writes_an_adapter_and_its_card(
    tmp_path: Path, corpus_hash_index: Settings
) -> None:
    """The command's code end to end on 40 questions, for the test index's embedder (``hash:256``)."""
    out = tmp_path / "adapter.npz"
    config = AdapterConfig(rank=8, epochs=2)
    card = run(corpus_hash_index, config, max_questions=40, out=out)
    assert json.loads(card_file(out).read_text(encoding="utf-8")) == card
    assert card["data"]["questions"] == 40 and card["held_out_passages"] > 100
    loaded = load_adapter(card["model_key"], out)
    assert (
        loaded is not None
        and loaded.digest == card["adapter_sha256"]
        and loaded.up.shape == (256, 8 * config.members)
    )


def _shipped_card() -> dict | None:
    for path in sorted((ROOT / "ingest" / "models" / "vectors").glob("*.query-adapter.json")):
        return json.loads(path.read_text(encoding="utf-8"))
    return None


@pytest.mark.slow
def test_the_shipped_adapter_is_the_served_models_and_current_with_the_training_data(
    corpus_legal_index: Settings,
) -> None:
    """Stale after the training data or the model changes: run ``python -m evals.train.adapter``."""
    from app.pipeline import build_pipeline
    from evals.train.adapter import adapter_files
    from ingest.manifest import sha256_file

    card = _shipped_card()
    assert card is not None, "no query adapter shipped"
    served = build_pipeline(corpus_legal_index).index.embedder
    assert isinstance(served, AdaptedEmbedder) and model_key(served) == card["model_key"]
    assert served.adapter.digest == card["adapter_sha256"]
    assert card["data"]["files"] == {p.name: sha256_file(p) for p in adapter_files()}
    bare = build_pipeline(replace(corpus_legal_index, query_adapter=False)).index.embedder
    assert not isinstance(bare, AdaptedEmbedder)


def test_only_the_passage_rankings_go_through_the_adapter(corpus_hash_index: Settings) -> None:
    """The adapter is trained to rank passages and moves every other cosine: issues are matched,
    similarities reported and the decision to answer judged by the model's own vector."""
    from app.pipeline import build_pipeline

    rng = np.random.default_rng(2)
    adapter = QueryAdapter(
        rng.normal(size=(256, 4)).astype(np.float32), rng.normal(size=(4, 256)).astype(np.float32)
    )
    model = HashingEmbedder(256)
    pipeline = build_pipeline(corpus_hash_index, embedder=AdaptedEmbedder(model, adapter))
    question = "房东一直不退押金怎么办"
    plain = pipeline.index.plain_query_vector(question)
    assert plain == model.embed_query(question)
    assert np.allclose(pipeline.index.query_vector(question), adapter.apply(plain))
    results = pipeline.retrieve(question, 5)
    ids = [r.chunk.chunk_id for r in results]
    assert [r.similarity for r in results] == pytest.approx(pipeline.index.similarities(plain, ids))
    dense = [c for c, _s in pipeline.index.vector_search(pipeline.index.query_vector(question), 40)]
    assert {r.chunk.chunk_id for r in results if r.dense_rank is not None} <= set(dense)
    judged, vector = pipeline.decision_inputs(question, results)
    assert vector == plain
    assert [r.dense_score for r in judged if r.dense_score is not None] == pytest.approx(
        [r.similarity for r in results if r.dense_score is not None]
    )
