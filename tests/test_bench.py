"""``legalqa bench`` machinery on a tiny corpus with the hashing embedder (no timed assertions)."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import pytest

from evals import bench
from evals.bench.corpus import copy_corpus, edit_document, replicate_corpus, smallest_statute
from evals.bench.questions import bench_questions, keyword_form, pick
from ingest.manifest import load_documents
from ingest.settings import PROJECT_ROOT

CORPUS = PROJECT_ROOT / "corpus"
TINY = ["blog", "ai-content-labeling-measures", "genai-interim-measures"]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_corpus(CORPUS, tmp_path_factory.mktemp("tiny") / "corpus", TINY)


def test_question_set_has_200_distinct_questions_from_every_source():
    questions = bench_questions()
    texts = [q["question"] for q in questions]
    assert len(texts) >= 200 and len(set(texts)) == len(texts)
    sources = {q["source"] for q in questions}
    assert {"dev", "keywords", "lookup", "paraphrase"} <= sources
    # keyword forms are real reductions, not copies of the question
    dev = [q["question"] for q in questions if q["source"] == "dev"]
    assert keyword_form(dev[0]) != dev[0] and len(keyword_form(dev[0])) < len(dev[0])
    few = pick(questions, 12)
    assert len(few) == 12 and {q["source"] for q in few} == sources


def test_corpus_copy_edit_and_replicas_are_valid_corpora(tmp_path: Path):
    copy = copy_corpus(CORPUS, tmp_path / "copy", TINY)
    assert sorted(d.doc_id for d in load_documents(copy)) == sorted(TINY)
    for name in ("issues.toml", "glosses.tsv"):  # the pipeline timed is the one served
        assert (copy / name).read_bytes() == (CORPUS / name).read_bytes(), name
    doc = smallest_statute(copy)
    before = {d.doc_id: d for d in load_documents(copy)}[doc]
    edit = edit_document(copy, doc, 1)
    after = {d.doc_id: d for d in load_documents(copy)}[doc]  # the manifest's sha256 was updated
    assert after.meta.sha256 == edit["sha256"] != before.meta.sha256
    assert after.text.count(edit["appended"]) == 1 and len(after.text) == len(before.text) + len(edit["appended"])
    x3 = replicate_corpus(copy, tmp_path / "x3", 3)
    docs = load_documents(x3)
    assert len(docs) == 3 * len(TINY) and f"{doc}-copy2" in {d.doc_id for d in docs}
    texts = {d.doc_id: d.text for d in docs}
    assert texts[f"{doc}-copy2"] == texts[doc]  # identical text: embedding-cache hits
    assert (x3 / "issues.toml").read_bytes() == (CORPUS / "issues.toml").read_bytes()


def _check_result(result: dict, out: Path, printed: str, corpus: Path) -> None:
    assert set(bench.SECTIONS) <= set(result)
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(bench.SECTIONS) <= set(data)
    for system in ("ours", "naive"):
        assert data["ingest"][system]["cold"]["chunks"] > 0
        assert {"cold", "unchanged", "one_changed"} <= set(data["ingest"][system])
        assert {"p50", "p95", "p99"} <= set(data["queries"][system]["ask"])
        assert {"p50", "p95", "p99"} <= set(data["queries"][system]["retrieve"])
        assert [p["factor"] for p in data["scaling"][system]["points"]] == [1, 2]
        assert data["memory"][system]["serving_rss_mb"] > 0
    ours = data["ingest"]["ours"]
    assert ours["cold"]["chunks_embedded"] == ours["cold"]["chunks"]  # empty cache: everything embedded
    assert ours["unchanged"]["per_run"][0]["chunks_embedded"] == 0
    assert ours["one_changed"]["per_run"][0]["chunks_embedded"] == 1  # one article edited
    assert ours["one_changed"]["changed_docs"] == [smallest_statute(corpus)]
    assert all(p["chunks_embedded"] == 0 for p in data["scaling"]["ours"]["points"])  # copies hit the cache
    assert {t["key"] for t in data["targets"]} == {t[0] for t in bench.TARGETS}
    assert data["ratios"]["ask_p95_ms"]["ratio"] is not None
    assert data["versions"]["chromadb"] == importlib.metadata.version("chromadb")
    assert data["machine"]["cores"] == os.cpu_count()
    for png in ("latency.png", "scaling.png", "ingest.png"):
        assert (out / png).stat().st_size > 1000
    for label in ("ingest: cold full corpus", "ask p95", "retrieval p95", "ratio", "scaling"):
        assert label in printed


def test_quick_bench_in_process_writes_every_section(tiny_corpus: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    argv = ["--quick", "--inprocess", "--corpus", str(tiny_corpus), "--embedder", "hash:64", "--questions", "12",
            "--scales", "1,2", "--out", str(out)]  # fmt: skip
    assert bench.run("bench", argv) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    _check_result(result, out, printed, tiny_corpus)
    assert result["cold_start"]["skipped"]  # in-process: no cold start, and it says so


@pytest.mark.slow
def test_quick_bench_in_subprocesses_with_cold_start(tiny_corpus: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    argv = ["--quick", "--corpus", str(tiny_corpus), "--embedder", "hash:64", "--questions", "12", "--scales", "1,2",
            "--no-browser", "--out", str(out)]  # fmt: skip
    assert bench.run("bench", argv) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    _check_result(result, out, printed, tiny_corpus)
    cli = result["cold_start"]["ours"]["cli"]
    assert cli["answered"] and cli["median_s"] > 0 and cli["import_top"]
    app = result["cold_start"]["ours"]["app"]
    assert app["server_ready_s"] > 0 and app["first_answer_s"] >= app["server_ready_s"], app
    assert result["memory"]["ours"]["ingest_peak_rss_mb"] > 50  # the child's own peak, from wait4
