"""The question memory (app/question_memory.tsv.gz): current with the training data, never holding a dev
question, ranked by the remembered question's words, fused into hybrid retrieval, optional and safe to break."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from app.question_memory import MEMORY_PATH, QuestionMemory, load_memory, write_memory
from evals.train.data import corpus_chunks, covered_dev_file, dev_file, load_questions, training_files
from evals.train.memory import memory_rows
from ingest.errors import CorpusError
from tests.helpers import ROOT
from tests.test_glosses import _index


def test_the_shipped_memory_is_written_from_the_current_training_data() -> None:
    """Stale after the training data changes: run ``python -m evals.train.memory``."""
    expected = memory_rows(load_questions(training_files()), corpus_chunks(ROOT / "corpus"))
    assert load_memory(MEMORY_PATH) == [(d, k, " ".join(q.split())) for d, k, q in expected]


def test_no_dev_question_is_remembered() -> None:
    """The dev splits measure the memory; a remembered dev question would grade itself."""
    remembered = {q for _d, _k, q in load_memory(MEMORY_PATH)}
    dev = {" ".join(q.question.split()) for q in load_questions([dev_file(), covered_dev_file()])}
    assert len(dev) >= 200 and not remembered & dev


def test_writing_is_reproducible_and_reading_round_trips(tmp_path: Path) -> None:
    rows = [
        ("civil", "第一条", "房东不退  押金\t怎么办"),
        ("agreement", "《用户协议》一、定义", "协议里说的平台是谁"),
    ]
    a = write_memory(rows, tmp_path / "a.tsv.gz").read_bytes()
    b = write_memory(rows, tmp_path / "b.tsv.gz").read_bytes()
    assert a == b, (
        "same rows, same bytes (no time in the gzip header): the shipped file diffs only when data does"
    )
    assert load_memory(tmp_path / "a.tsv.gz") == [(d, k, " ".join(q.split())) for d, k, q in rows]


def test_no_file_is_no_memory_and_a_broken_one_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    assert load_memory(tmp_path / "absent.tsv.gz") == []
    bad = tmp_path / "bad.tsv.gz"
    bad.write_bytes(gzip.compress("civil\t第一条\t好问题\ncivil\t第二条\n".encode()))
    with pytest.raises(CorpusError, match=r"bad\.tsv\.gz:2: expected doc id, article or locator, question"):
        load_memory(bad)
    plain = tmp_path / "plain.tsv.gz"
    plain.write_text("civil\t第一条\t没压缩\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"plain\.tsv\.gz: not a gzip-compressed UTF-8 file"):
        load_memory(plain)


def test_a_question_worded_like_a_remembered_one_brings_its_passage_up(tmp_path: Path) -> None:
    """ "宠物狗" is none of the passages' words; the remembered question about 第一千一百六十五条 has it.
    A passage is ranked at its best remembered question; a question about an article the index lacks is dropped."""
    from app.retrieve import HybridRetriever, RetrievalConfig

    index, _embedder = _index(tmp_path)
    with index:
        memory = QuestionMemory(
            [
                ("civil", "第一千一百六十五条", "邻居家宠物狗把我孩子咬了谁赔"),
                ("civil", "第一千一百六十五条", "被狗咬了"),
                ("civil", "第一千二百零二条", "买的电动车电池炸了"),
                ("civil", "第九千条", "不存在的条文也有人问"),
            ],
            index.chunks,
        )
        assert len(memory) == 3
        ranked = memory.rank("我家宠物狗咬人了", 5)
        assert [c for c, _s in ranked] == ["civil:0"], (
            "one entry per passage, only passages some question matches"
        )
        assert memory.rank("与此无关", 5) == []

        plain = HybridRetriever(index).retrieve("宠物狗咬人", 3)
        remembered = HybridRetriever(
            index, memory=memory, config=RetrievalConfig(memory_weight=2.0)
        ).retrieve("宠物狗咬人", 3)
        assert "civil:0" not in [r.chunk.chunk_id for r in plain if r.bm25_rank]
        assert remembered[0].chunk.chunk_id == "civil:0" and "宠物狗" not in remembered[0].chunk.text
        off = HybridRetriever(index, memory=memory, config=RetrievalConfig(memory_weight=0.0)).retrieve(
            "宠物狗咬人", 3
        )
        assert [r.chunk.chunk_id for r in off] == [r.chunk.chunk_id for r in plain]


def test_the_setting_turns_the_memory_off(corpus_hash_index) -> None:
    from dataclasses import replace

    from app.pipeline import build_pipeline

    on = build_pipeline(corpus_hash_index).retriever("hybrid")
    off = build_pipeline(replace(corpus_hash_index, question_memory=False)).retriever("hybrid")
    assert on.memory is not None and len(on.memory) > 4000
    assert off.memory is None
