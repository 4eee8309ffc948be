"""Rank articles by their lay glosses (``corpus/glosses.tsv``): two more rankings in the fusion.

A colloquial question shares few words with the statute that decides it ("房东不退押金" vs
出租人 / 押金 / 租赁物), and e5-small rarely bridges the gap.  Each article's gloss lists the
words people use for it; this module ranks articles by BM25 over those words and by the
question's embedding similarity to them, and the hybrid retriever fuses both rankings
(``RetrievalConfig.gloss_words_weight`` / ``gloss_vector_weight``) with dense and BM25
over the passages themselves.  A gloss is never quoted: it only moves its article up.

Measured on the lay dev split (articles the training questions never target; the glosses
cover every article alike): Recall@5 0.654 → 0.753 (weights in ``RetrievalConfig``), the dev
and held-out hit@5 unchanged.  Appending the glosses to the passages' own BM25 text instead
scored 0.738 but cost one dev and one held-out question.

The agreement's clauses, the paper's sections and the blog's parts have glosses too (filed by
locator); they rank by their words only (``ingest.glosses.embedded_glosses`` says why).  Measured
on top of the articles' glosses: lay dev Recall@5 0.777 -> 0.793 (business users' agreement
questions 0.839 -> 0.929, the paper's 0.643 -> 0.857), dev hit@5 0.925 -> 0.963, held-out unchanged.

The glosses' vectors are shipped for the bundled model and put in the embedding cache by
``legalqa ingest`` for any other (``ingest.glosses.gloss_vectors``), so the app embeds none at start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ingest.bm25 import BM25Index
from ingest.glosses import Glosses, chunks_by_key, embedded_glosses
from ingest.types import Chunk

Ranking = list[tuple[str, float]]  # (chunk id, score), best first


class GlossRanker:
    """The glosses of one corpus, resolved against one index's chunks."""

    def __init__(
        self,
        glosses: Glosses,
        chunks: Mapping[str, Chunk],
        embed_documents: Callable[[Sequence[str]], np.ndarray] | None,
        cache_dir: Path | None = None,
    ) -> None:
        """``embed_documents``: unit vectors for the glosses (None: rank by their words only);
        ``cache_dir``: where their BM25 index is kept between starts (``BM25Index.cached``)."""
        by_article = chunks_by_key(chunks.values())  # an article, or a locator of the agreement, paper, blog
        self._articles = [key for key in glosses if key in by_article]
        self._chunks = [tuple(by_article[key]) for key in self._articles]
        texts = [glosses[key] for key in self._articles]
        self._gloss_of_chunk = {
            c: glosses[key] for key, ids in zip(self._articles, self._chunks, strict=True) for c in ids
        }
        keys = [str(n) for n in range(len(texts))]
        self._words = BM25Index.cached(keys, texts, cache_dir)
        embedded = embedded_glosses(glosses)
        self._vectored = [n for n, key in enumerate(self._articles) if key in embedded]  # rows of _vectors
        self._vectors = (
            np.asarray(embed_documents([texts[n] for n in self._vectored]), dtype=np.float32)
            if embed_documents is not None and self._vectored
            else None
        )

    def __len__(self) -> int:
        return len(self._articles)

    def gloss(self, chunk_id: str) -> str:
        """The gloss of the chunk's article ("" for none): the reranker counts the question's words in it
        as in the passage (lay dev Recall@5 0.753 -> 0.777, held-out hit@5 0.862 -> 0.897)."""
        return self._gloss_of_chunk.get(chunk_id, "")

    def by_words(self, question: str, depth: int) -> Ranking:
        """Chunks of the articles whose glosses BM25 ranks highest for the question."""
        return self._chunks_of([(int(n), s) for n, s in self._words.search(question, depth)], depth)

    def by_vector(self, vector: Sequence[float] | None, depth: int) -> Ranking:
        """Chunks of the articles whose glosses are closest to the question's embedding (statute articles
        only: ``ingest.glosses.embedded_glosses``)."""
        if self._vectors is None or vector is None:
            return []
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0 or query.shape[0] != self._vectors.shape[1]:
            return []
        sims = self._vectors @ (query / norm)
        top = np.argsort(-sims, kind="stable")[:depth]
        return self._chunks_of([(self._vectored[int(n)], float(sims[n])) for n in top], depth)

    def _chunks_of(self, ranked: list[tuple[int, float]], depth: int) -> Ranking:
        out: Ranking = []
        for n, score in ranked:
            out += [(chunk_id, score) for chunk_id in self._chunks[n]]
            if len(out) >= depth:
                break
        return out[:depth]
