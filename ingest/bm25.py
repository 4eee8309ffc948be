"""BM25 over jieba tokens (``bm25s``), rebuilt from all chunks on every ingest.

Rebuilding is cheap (well under a second for thousands of chunks) and avoids
any incremental bookkeeping.  Saved with ``bm25s`` (numpy arrays + JSON, no
pickle) next to ``ids.json``: the chunk id of every BM25 row, in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from ingest.tokenize import tokenize, tokenizer_key

IDS_FILE = "ids.json"


class BM25Index:
    def __init__(self, retriever: object | None, ids: Sequence[str]) -> None:
        self._retriever = retriever  # None when there are no chunks at all
        self.ids = list(ids)
        self._row = {cid: i for i, cid in enumerate(self.ids)}

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> BM25Index:
        if not ids:
            return cls(None, [])
        import bm25s

        retriever = bm25s.BM25()
        retriever.index([tokenize(t) for t in texts], show_progress=False)
        return cls(retriever, ids)

    @classmethod
    def cached(cls, ids: Sequence[str], texts: Sequence[str], cache_dir: Path | None) -> BM25Index:
        """``build``, kept in ``cache_dir`` under a key of the ids, the texts and the tokenizer: for search
        texts the app builds at start (tokenizing the question memory's 4.5k questions took ~1 s of the
        first answer).  A missing or damaged cache is rebuilt; one that cannot be written is skipped."""
        if cache_dir is None:
            return cls.build(ids, texts)
        digest = hashlib.sha256("\x00".join([tokenizer_key(), *ids, "\x01", *texts]).encode("utf-8"))
        path = Path(cache_dir) / f"bm25-{digest.hexdigest()[:20]}"
        if (path / IDS_FILE).is_file():
            try:
                return cls.load(path)
            except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never a failed start
                shutil.rmtree(path, ignore_errors=True)
        index = cls.build(ids, texts)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            index.save(tmp)
            os.replace(tmp, path)  # complete or absent: a reader never sees half a cache
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # read-only data folder, or another process won
        return index

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(directory), show_progress=False)  # type: ignore[attr-defined]
        (directory / IDS_FILE).write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        ids = json.loads((directory / IDS_FILE).read_text(encoding="utf-8"))
        if not ids:
            return cls(None, [])
        import bm25s

        return cls(bm25s.BM25.load(str(directory), show_progress=False), ids)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """BM25 idf of each token; a token no chunk contains gets the highest idf (it is the most telling)."""
        n = len(self.ids)
        if self._retriever is None:
            return dict.fromkeys(tokens, 0.0)
        vocab = self._retriever.vocab_dict  # type: ignore[attr-defined]
        indptr = self._retriever.scores["indptr"]  # type: ignore[attr-defined]
        out = {}
        for tok in tokens:
            tid = vocab.get(tok)
            df = 0 if tid is None else int(indptr[tid + 1] - indptr[tid])
            out[tok] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def search(self, query: str, k: int, only: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, score) with a positive score, best first; ``only`` restricts chunk ids."""
        if self._retriever is None or k <= 0:
            return []
        r = self._retriever
        token_ids = r.get_tokens_ids(tokenize(query))  # type: ignore[attr-defined]
        if not token_ids:
            return []
        scores = np.asarray(r.get_scores_from_ids(token_ids), dtype=np.float32)  # type: ignore[attr-defined]
        if only is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[[self._row[c] for c in only if c in self._row]] = True
            scores = np.where(mask, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size > k:
            positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
        order = positive[np.lexsort((positive, -scores[positive]))]  # score desc, then corpus order
        return [(self.ids[i], float(scores[i])) for i in order]
