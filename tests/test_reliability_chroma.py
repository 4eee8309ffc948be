"""A shared Chroma server (LEGALQA_CHROMA_URL): same answers as the embedded store, shared by two
processes, a clear error while it is down and recovery without a restart once it is back.

The server is a real ``chroma run`` on a free 127.0.0.1 port (``chroma_server`` in conftest.py).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from app.pipeline import build_pipeline
from app.warning import WARNING
from ingest import index_layout
from ingest.cli import ingest
from ingest.errors import LegalQAError
from ingest.settings import Settings
from tests.helpers import free_port, settings_env

pytestmark = pytest.mark.slow

QUESTIONS = (
    "民法典第1202条是怎么规定的？",
    "经营者有欺诈行为，消费者能要求几倍赔偿？",
    "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？",
)


def _signature(answer) -> tuple:  # noqa: ANN001
    return (answer.text, tuple(c.chunk_id for c in answer.citations), answer.abstained, answer.error)


@pytest.fixture
def server_settings(chroma_server, corpus_hash_index: Settings, tmp_path: Path) -> Settings:
    """A fresh data folder (embedding cache copied: no re-embedding) whose vectors live on the server."""
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    shutil.copy2(corpus_hash_index.data_dir / "cache" / "embeddings.sqlite3", data / "cache")
    return replace(corpus_hash_index, data_dir=data, chroma_url=chroma_server.url)


def test_server_mode_answers_like_embedded_and_two_processes_share_it(
    server_settings: Settings, corpus_hash_index: Settings, chroma_server, run_legalqa
) -> None:
    report = ingest(server_settings, show_progress=False)
    gen = server_settings.index_dir / report.generation
    assert not (gen / "chroma").exists()  # the vectors are on the server, not in the data folder
    assert index_layout.collection_name(report.generation) in chroma_server.collections()

    embedded = build_pipeline(corpus_hash_index)
    shared = build_pipeline(server_settings)
    try:
        for q in QUESTIONS:
            a, b = embedded.ask(q), shared.ask(q)
            assert not b.error and b.warning == WARNING
            assert _signature(a) == _signature(b), q  # same vectors, same index: the same answer
        # one HTTP client shared by 20 threads: same answers as one at a time
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(shared.ask, QUESTIONS * 7))
        assert [_signature(a) for a in answers] == [_signature(embedded.ask(q)) for q in QUESTIONS * 7]
    finally:
        embedded.index.close()
        shared.index.close()

    # two app processes at the same time, one index (local BM25/chunks + the server's collection)
    env = settings_env(server_settings)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda q: run_legalqa(["ask", "--json", q], env), QUESTIONS[:2]))
    for q, run in zip(QUESTIONS[:2], runs, strict=True):
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout)
        assert got["warning"] == WARNING and not got["error"]
        assert got["citations"], q
    print(f"\nserver mode: {len(QUESTIONS)} questions identical to the embedded store; 2 processes answered")


def test_server_mode_ranks_every_search_exactly_like_the_embedded_store(
    server_settings: Settings, corpus_hash_index: Settings
) -> None:
    """The server's HNSW search is approximate and its graph differs per build: searched there, 25 of
    574 rankings of this corpus differed from the embedded store's, which made the answer check above
    fail at random.  Both modes search the same vectors exactly, so every ranking is identical."""
    ingest(server_settings, show_progress=False)
    embedded, shared = build_pipeline(corpus_hash_index).index, build_pipeline(server_settings).index
    queries = [chunk.text[:30] for chunk in list(embedded.chunks.values())[::10]]
    docs = sorted({chunk.doc_id for chunk in embedded.chunks.values()})
    differing = []
    for query in queries:
        vector = embedded.query_vector(query)
        for k, only in ((10, None), (50, None), (10, docs[:2]), (10, ["paper"])):
            ranked = [
                [chunk_id for chunk_id, _ in index.vector_search(vector, k, only)]
                for index in (embedded, shared)
            ]
            if ranked[0] != ranked[1]:
                differing.append((query, k, only))
    assert not differing, f"{len(differing)} of {4 * len(queries)} searches differ, e.g. {differing[0]}"


def test_server_down_is_a_clear_error_to_new_processes_and_serving_ones_keep_answering(
    server_settings: Settings, chroma_server, run_legalqa
) -> None:
    ingest(server_settings, show_progress=False)
    pipeline = build_pipeline(server_settings)
    question = QUESTIONS[0]
    before = pipeline.ask(question)
    assert not before.error and before.citations
    env = settings_env(server_settings)

    chroma_server.stop()
    try:
        # 1. a process that is already serving read the vectors at open: it keeps answering, the same
        #    answer; a process that opens the index now gets the clear error instead
        during = pipeline.ask(question)
        assert not during.error and _signature(during) == _signature(before)
        with pytest.raises(LegalQAError, match=r"LEGALQA_CHROMA_URL.*start it with `chroma run"):
            build_pipeline(server_settings)

        # 2. the CLI: non-zero exit, one line on stderr naming the setting and the fix, warning on stdout
        cli = run_legalqa(["ask", question], env)
        assert cli.returncode != 0
        lines = [line for line in cli.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, cli.stderr
        assert "LEGALQA_CHROMA_URL" in lines[0] and "start it with `chroma run" in lines[0]
        assert WARNING in cli.stdout
        as_json = run_legalqa(["ask", "--json", question], env)
        assert as_json.returncode != 0 and json.loads(as_json.stdout)["warning"] == WARNING

        # 3. ingest against a stopped server: a clear error too; the live index is untouched (its
        #    half-written folder stays until the server can confirm there is no collection to delete)
        current = index_layout.read_current(server_settings.index_dir)
        with pytest.raises(LegalQAError, match="LEGALQA_CHROMA_URL"):
            ingest(server_settings, rebuild=True, show_progress=False)
        failed_ingest = run_legalqa(["ingest", "--rebuild", "--quiet"], env)
        assert failed_ingest.returncode == 1 and "Traceback" not in failed_ingest.stderr
        assert "LEGALQA_CHROMA_URL" in failed_ingest.stderr
        assert index_layout.read_current(server_settings.index_dir) == current
    finally:
        chroma_server.start()

    # 4. back: a new process opens the index again, no other step needed, same answer as before the outage
    after = build_pipeline(server_settings).ask(question)
    assert not after.error, after.error
    assert _signature(after) == _signature(before)
    # the next ingest (nothing changed) clears what the failed ones left: one generation, one collection
    assert ingest(server_settings, show_progress=False).up_to_date
    assert [g.name for g in index_layout.generations(server_settings.index_dir)] == [current]
    assert index_layout.collection_name(current) in chroma_server.collections()
    print(f"\nserver outage: a serving process kept answering; CLI exit {cli.returncode}; reopened after")


def test_no_server_at_the_url_is_a_clear_error(corpus_hash_index: Settings, run_legalqa) -> None:
    settings = replace(
        corpus_hash_index, chroma_url=f"http://127.0.0.1:{free_port()}"
    )  # nothing listens there
    with pytest.raises(
        LegalQAError, match=r"LEGALQA_CHROMA_URL=http://127\.0\.0\.1:\d+.*start it with `chroma run"
    ):
        build_pipeline(settings)
    proc = run_legalqa(["ask", "民法典第1202条"], settings_env(settings))
    assert proc.returncode == 2 and WARNING in proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and "LEGALQA_CHROMA_URL" in proc.stderr


def test_switching_modes_on_one_data_folder_names_the_setting(
    server_settings: Settings, chroma_server, run_legalqa
) -> None:
    """One data folder, ingested with LEGALQA_CHROMA_URL, then asked without it (and the other way
    round): one stderr line naming the setting and the fix, the warning on stdout, nothing written."""
    gen = server_settings.index_dir / ingest(server_settings, show_progress=False).generation
    url = chroma_server.url
    embedded_env = settings_env(replace(server_settings, chroma_url=""))
    server_env = settings_env(server_settings)

    cli = run_legalqa(["ask", QUESTIONS[0]], embedded_env)
    assert cli.returncode == 2 and WARNING in cli.stdout
    lines = [line for line in cli.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, cli.stderr
    assert f"on the Chroma server at {url}; set LEGALQA_CHROMA_URL={url}" in lines[0]
    assert "`legalqa ingest --rebuild` to move them into the embedded store" in lines[0]
    assert not (gen / "chroma").exists()  # the failed read created no store inside the generation

    # the fix the message names; then the server mode is the one told what to do
    moved = run_legalqa(["ingest", "--rebuild", "--quiet"], embedded_env)
    assert moved.returncode == 0, moved.stderr
    answer = run_legalqa(["ask", "--json", QUESTIONS[0]], embedded_env)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["citations"]
    back = run_legalqa(["ask", QUESTIONS[0]], server_env)
    assert back.returncode == 2 and WARNING in back.stdout
    lines = [line for line in back.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, back.stderr
    assert "keeps its vectors in the embedded store" in lines[0] and "unset LEGALQA_CHROMA_URL" in lines[0]
