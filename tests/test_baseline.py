"""The naive LangChain baseline: real Chunk objects that are exact slices of the real corpus files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evals.baseline import CHUNK_SIZE, build_baseline, naive_chunks
from ingest.embed import HashingEmbedder
from ingest.manifest import load_manifest
from ingest.settings import PROJECT_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CORPUS = PROJECT_ROOT / "corpus"


@pytest.fixture(scope="module")
def chunks():
    return naive_chunks(CORPUS)


def _file_text(rel: str) -> str:
    return (CORPUS / rel).read_bytes().decode("utf-8")  # no newline translation, like the index


def test_every_chunk_is_the_exact_file_slice(chunks):
    texts: dict[str, str] = {}
    assert len(chunks) > 100
    for c in chunks:
        text = texts.setdefault(c.file, _file_text(c.file))
        assert text[c.start : c.end] == c.text, c.chunk_id
        assert c.end - c.start == len(c.text) <= CHUNK_SIZE


def test_chunks_are_unstructured_and_cover_every_manifest_file(chunks):
    metas = load_manifest(CORPUS)
    assert {c.doc_id for c in chunks} == {m.doc_id for m in metas}
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    by_id = {m.doc_id: m for m in metas}
    for c in chunks:
        assert c.article == "" and c.article_no == 0 and c.breadcrumb == ()
        meta = by_id[c.doc_id]
        assert (c.file, c.sha256, c.kind) == (meta.file, meta.sha256, meta.kind)
        assert c.locator == f"{meta.short_title} 字符 {c.start}–{c.end}"


def test_chunks_leave_only_whitespace_uncovered(chunks):
    """Consecutive pieces overlap or touch: nothing but whitespace falls between them."""
    by_doc: dict[str, list] = {}
    for c in chunks:
        by_doc.setdefault(c.file, []).append(c)
    for file, pieces in by_doc.items():
        text = _file_text(file)
        pos = 0
        for c in sorted(pieces, key=lambda c: c.start):
            assert not text[pos : c.start].strip(), (file, pos, c.start)
            pos = max(pos, c.end)
        assert not text[pos:].strip()


def test_build_and_retrieve_with_the_hashing_embedder(tmp_path: Path):
    baseline = build_baseline(CORPUS, HashingEmbedder(128), cache_path=tmp_path / "cache.sqlite3", workdir=tmp_path / "b")
    try:
        assert len(baseline.chunks) > 100 and baseline.embedded == len(baseline.chunks)
        hits = baseline.retrieve("因产品存在缺陷造成他人损害的，生产者应当承担侵权责任", 5)
        assert len(hits) == 5
        assert all(h.via == "dense" and h.dense_score == h.fused_score for h in hits)
        assert [h.dense_rank for h in hits] == [1, 2, 3, 4, 5]
        scores = [h.fused_score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert any(h.chunk.doc_id == "civil-code" for h in hits)
    finally:
        baseline.close()
    again = build_baseline(CORPUS, HashingEmbedder(128), cache_path=tmp_path / "cache.sqlite3", workdir=tmp_path / "c")
    try:
        assert again.embedded == 0 and again.reused == len(again.chunks)  # second run served by the cache
    finally:
        again.close()
