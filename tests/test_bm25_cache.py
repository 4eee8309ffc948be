"""BM25 indexes the app builds at start (lay glosses, the question memory) are kept between starts:
same ranking as a fresh build, rebuilt when the texts or the tokenizer change or the cache is damaged,
and never a failed start when the data folder cannot be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import bm25
from ingest.bm25 import BM25Index

IDS = ["0", "1", "2"]
TEXTS = ["房东不退押金怎么办", "平台宕机两天能要求赔偿吗", "格式条款免除平台责任有效吗"]


def _no_build(*_args, **_kwargs):
    raise AssertionError("rebuilt although a cache was there")


def test_the_cache_ranks_as_a_fresh_build_and_is_read_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = BM25Index.build(IDS, TEXTS)
    first = BM25Index.cached(IDS, TEXTS, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob("bm25-*")] != []
    monkeypatch.setattr(BM25Index, "build", classmethod(_no_build))
    again = BM25Index.cached(IDS, TEXTS, tmp_path)
    for query in ("押金不退", "宕机赔偿", "免责条款"):
        assert again.search(query, 3) == first.search(query, 3) == fresh.search(query, 3)


def test_other_texts_or_another_tokenizer_get_their_own_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    BM25Index.cached(IDS, TEXTS, tmp_path)
    BM25Index.cached(IDS, [*TEXTS[:2], "个人信息泄露了找谁赔"], tmp_path)
    assert len(list(tmp_path.glob("bm25-*"))) == 2
    monkeypatch.setattr(bm25, "tokenizer_key", lambda: "another-tokenizer")
    changed = BM25Index.cached(IDS, TEXTS, tmp_path)
    assert len(list(tmp_path.glob("bm25-*"))) == 3
    assert changed.search("押金", 1)[0][0] == "0"


def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    BM25Index.cached(IDS, TEXTS, tmp_path)
    (cached,) = tmp_path.glob("bm25-*")
    for f in cached.iterdir():
        if f.name != bm25.IDS_FILE:
            f.write_bytes(b"\x00garbage")
    rebuilt = BM25Index.cached(IDS, TEXTS, tmp_path)
    assert rebuilt.search("押金", 1)[0][0] == "0"
    assert BM25Index.load(cached).search("押金", 1)[0][0] == "0", "the rebuilt index replaced the damaged one"


def test_a_data_folder_that_cannot_be_written_costs_only_the_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go", encoding="utf-8")
    index = BM25Index.cached(IDS, TEXTS, blocked)
    assert index.search("押金", 1)[0][0] == "0"
    assert blocked.read_text(encoding="utf-8").startswith("a file")
