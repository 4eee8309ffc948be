"""The index: real Chroma PersistentClient in tmp_path, HashingEmbedder, synthetic chunks."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ingest import chroma_io, index_build, index_layout
from ingest.embed import HashingEmbedder
from ingest.errors import IndexMismatchError, IndexMissingError, LegalQAError
from ingest.settings import Settings
from ingest.store import Index, build_index, embedding_text
from ingest.types import Chunk, DocumentMeta

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = {
    "civil": (
        "民法典",
        [
            ("第一千一百六十五条", "行为人因过错侵害他人民事权益造成损害的，应当承担侵权责任。"),
            ("第一千二百零二条", "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。"),
            (
                "第一千一百九十五条",
                "网络用户利用网络服务实施侵权行为的，权利人有权通知网络服务提供者采取删除、屏蔽、断开链接等必要措施。",
            ),
        ],
    ),
    "genai": (
        "生成式人工智能服务管理暂行办法",
        [
            ("第九条", "提供者应当依法承担网络信息内容生产者责任，履行网络信息安全义务。"),
            ("第十四条", "提供者发现违法内容的，应当及时采取停止生成、停止传输、消除等处置措施。"),
        ],
    ),
    "terms": (
        "用户协议",
        [
            ("八、责任限制 第1条", "在法律允许的最大范围内，本平台对生成内容的准确性不作任何保证。"),
            ("八、责任限制 第2条", "因不可抗力导致服务中断的，本平台不承担赔偿责任。"),
        ],
    ),
}


def make_doc(doc_id: str, title: str, articles: list[tuple[str, str]]) -> tuple[DocumentMeta, list[Chunk]]:
    """A fake corpus file whose chunks are exact slices of it."""
    file_text, chunks, pos = "", [], 0
    for i, (label, body) in enumerate(articles):
        text = f"{label} {body}"
        start = len(file_text)
        file_text += text + "\n\n"
        pos = start + len(text)
        chunks.append(
            Chunk(
                chunk_id=f"{doc_id}:{i}",
                doc_id=doc_id,
                doc_title=title,
                kind="statute",
                locator=f"《{title}》{label}",
                breadcrumb=("第一编 总则", f"第{i + 1}章"),
                start=start,
                end=pos,
                text=text,
                file=f"{doc_id}.txt",
                sha256="",
                ordinal=i,
                article=label,
                article_no=i + 1,
                extra={"note": f"n{i}"},
            )
        )
    sha = hashlib.sha256(file_text.encode()).hexdigest()
    chunks = [
        Chunk(**{**{f: getattr(c, f) for f in index_layout.CHUNK_FIELDS}, "sha256": sha}) for c in chunks
    ]
    meta = DocumentMeta(
        doc_id=doc_id, title=title, short_title=title, kind="statute", file=f"{doc_id}.txt", sha256=sha
    )
    return meta, chunks


def corpus(overrides: dict | None = None, drop: tuple[str, ...] = ()) -> dict:
    data = {**CORPUS, **(overrides or {})}
    return {d: make_doc(d, title, arts) for d, (title, arts) in data.items() if d not in drop}


class CountingEmbedder(HashingEmbedder):
    def __init__(self, dim: int = 64, fail_after: int | None = None) -> None:
        super().__init__(dim)
        self.calls: list[str] = []
        self.fail_after = fail_after

    def embed_documents(self, texts):
        if self.fail_after is not None and len(self.calls) + len(texts) > self.fail_after:
            raise RuntimeError("embedder crashed")
        self.calls.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture(autouse=True)
def _chunker_version(monkeypatch):
    try:
        from ingest.parsers import CHUNKER_VERSION  # noqa: F401
    except ImportError:  # the parsers module may not exist yet: pin a test value
        monkeypatch.setattr(index_build, "chunker_version", lambda: "test")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data")


def gens(settings: Settings) -> list[str]:
    return [p.name for p in index_layout.generations(settings.index_dir)]


def test_build_open_search(settings):
    emb = CountingEmbedder()
    report = build_index(settings, emb, corpus(), skipped=[("terms", "table of contents", 42)])
    assert report.added == ["civil", "genai", "terms"] and not report.changed and not report.removed
    assert report.chunks == 7 and report.chunks_embedded == 7 and report.chunks_reused == 0
    assert report.chunks_per_document == {"civil": 3, "genai": 2, "terms": 2}
    assert report.index_bytes > 0 and report.skipped == [("terms", "table of contents", 42)]
    with Index.open(settings, HashingEmbedder(64)) as index:
        expected = [c for _, chunks in corpus().values() for c in chunks]
        assert list(index.chunks.values()) == expected  # document order, exact round trip
        assert index.chunks["civil:1"].breadcrumb == ("第一编 总则", "第2章")
        assert index.chunks["civil:1"].extra == {"note": "n1"}
        hits = index.dense_search("因产品存在缺陷造成他人损害的，生产者应当承担侵权责任", 3)
        assert hits[0][0] == "civil:1" and 0.5 < hits[0][1] <= 1.0001
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        bm = index.bm25_search("产品缺陷 生产者", 5)
        assert bm[0][0] == "civil:1" and all(s > 0 for _, s in bm)
        assert index.bm25_search("完全无关的词汇量子力学", 5) == []
        assert {c for c, _ in index.dense_search("提供者 责任", 10, doc_ids=["genai"])} == {
            "genai:0",
            "genai:1",
        }
        assert {c for c, _ in index.bm25_search("提供者", 10, doc_ids={"terms"})} <= {"terms:0", "terms:1"}
        assert (
            index.info.fingerprint["embedder"] == "hash:64" and index.info.documents.keys() == CORPUS.keys()
        )
        assert index.is_current()
        index.warm_up()


def test_report_status_summary_and_tqdm_progress(settings):
    tqdm = pytest.importorskip("tqdm").tqdm
    bar = tqdm(total=0, disable=True)
    report = build_index(settings, CountingEmbedder(), corpus(), progress=bar)
    assert bar.n == 7 and bar.total == 7  # the last stage (writing) ran to completion
    report = build_index(settings, CountingEmbedder(), corpus(drop=("terms",)))
    assert report.status == {"civil": "unchanged", "genai": "unchanged", "terms": "removed"}
    lines = report.summary_lines()
    assert lines[0].startswith("2 documents, 5 chunks: 0 added, 0 changed, 1 removed")
    assert any(report.generation in line for line in lines) and report.to_dict()["status"] == report.status
    seen = []
    fresh = corpus({"terms": ("用户协议", [("第1条", "新一"), ("第2条", "新二")])})
    build_index(settings, CountingEmbedder(), fresh, progress=lambda *a: seen.append(a))
    assert ("embed", 2, 2) in seen and seen[-1] == ("write", 7, 7)


def test_reingest_unchanged_embeds_nothing(settings):
    build_index(settings, CountingEmbedder(), corpus())
    first = gens(settings)
    emb = CountingEmbedder()
    report = build_index(settings, emb, corpus())
    assert emb.calls == [] and report.up_to_date and report.chunks_embedded == 0
    assert report.unchanged == ["civil", "genai", "terms"] and gens(settings) == first
    report = build_index(settings, emb, corpus(), rebuild=True)  # rebuild: new generation, vectors from cache
    assert emb.calls == [] and not report.up_to_date and report.chunks_reused == 7


def test_changed_document_replaces_exactly_its_chunks(settings):
    build_index(settings, CountingEmbedder(), corpus())
    before = Index.open(settings, HashingEmbedder(64))
    genai = [CORPUS["genai"][1][0], ("第十四条", "提供者发现违法内容的，应当立即停止生成并向主管部门报告。")]
    emb = CountingEmbedder()
    report = build_index(settings, emb, corpus({"genai": (CORPUS["genai"][0], genai)}))
    assert not before.is_current() and before.bm25_search("消除", 1)  # an open reader keeps answering
    before.close()
    assert report.changed == ["genai"] and report.unchanged == ["civil", "terms"]
    assert len(emb.calls) == 1 and "主管部门报告" in emb.calls[0]
    assert report.chunks_embedded == 1 and report.chunks_reused == 6
    with Index.open(settings, HashingEmbedder(64)) as index:
        assert "主管部门报告" in index.chunks["genai:1"].text and len(index.chunks) == 7
        assert index.bm25_search("主管部门", 3)[0][0] == "genai:1"
        assert index.bm25_search("消除", 3) == []  # the old wording is gone from BM25
        assert index.dense_search("立即停止生成并向主管部门报告", 1)[0][0] == "genai:1"


def test_lost_cache_reuses_previous_generation_vectors(settings):
    build_index(settings, CountingEmbedder(), corpus())
    (settings.data_dir / "cache" / "embeddings.sqlite3").unlink()
    emb = CountingEmbedder()
    report = build_index(settings, emb, corpus(drop=("terms",)))
    assert emb.calls == [] and report.removed == ["terms"] and report.chunks_reused == 5


def test_removed_document_disappears_everywhere(settings):
    build_index(settings, CountingEmbedder(), corpus())
    report = build_index(settings, CountingEmbedder(), corpus(drop=("terms",)))
    assert report.removed == ["terms"]
    with Index.open(settings, HashingEmbedder(64)) as index:
        assert not [c for c in index.chunks if c.startswith("terms")]
        assert index.bm25_search("不可抗力", 5) == []
        assert all(not c.startswith("terms") for c, _ in index.dense_search("不可抗力导致服务中断", 7))
        assert index.dense_search("x", 5, doc_ids=["terms"]) == []
        generation = index.info
    # the removed document's vectors are gone from the stored collection too, not only from the search
    client = chroma_io.chroma_client(settings, generation.path)
    try:
        assert client.get_collection(index_layout.collection_name(generation.generation)).count() == 5
    finally:
        client.close()


def test_other_embedder_is_refused(settings):
    build_index(settings, CountingEmbedder(64), corpus())
    with pytest.raises(IndexMismatchError, match=r"hash:64.*hash:32.*legalqa ingest --rebuild"):
        Index.open(settings, HashingEmbedder(32))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        build_index(settings, CountingEmbedder(32), corpus())
    build_index(settings, CountingEmbedder(32), corpus(), rebuild=True)
    assert Index.open(settings, HashingEmbedder(32)).info.fingerprint["dimension"] == 32


def test_chunker_version_change_is_a_mismatch(settings, monkeypatch):
    build_index(settings, CountingEmbedder(), corpus())
    monkeypatch.setattr(index_build, "chunker_version", lambda: "other-chunker")
    with pytest.raises(IndexMismatchError, match="chunker"):
        Index.open(settings, HashingEmbedder(64))


def test_missing_index(settings):
    with pytest.raises(IndexMissingError, match=r"no index at .*run `legalqa ingest`"):
        Index.open(settings, HashingEmbedder(64))


def test_failed_build_keeps_previous_index_and_leaves_no_orphan(settings, monkeypatch):
    build_index(settings, CountingEmbedder(), corpus())
    live = gens(settings)
    changed = corpus(
        {"terms": ("用户协议", [("八、责任限制 第1条", "全新条款一"), ("八、责任限制 第2条", "全新条款二")])}
    )
    # a crash mid-build whose cleanup also fails (as after SIGKILL) leaves a half-written generation
    with monkeypatch.context() as m:
        m.setattr(chroma_io, "drop_generations", lambda *a, **k: None)
        m.setattr(index_build, "EMBED_BATCH", 1)  # so the first chunk is cached before the crash
        with pytest.raises(RuntimeError, match="embedder crashed"):
            build_index(settings, CountingEmbedder(fail_after=1), changed)
    assert len(gens(settings)) == 2  # the orphan exists
    with Index.open(settings, HashingEmbedder(64)) as index:  # the previous generation still answers
        assert index.info.generation == live[0] and "不可抗力" in index.chunks["terms:1"].text
        assert index.bm25_search("不可抗力", 1)[0][0] == "terms:1"
    emb = CountingEmbedder()
    report = build_index(settings, emb, changed)
    assert len(emb.calls) == 1  # the chunk embedded before the crash came from the cache
    assert set(gens(settings)) == {live[0], report.generation}  # orphan gone, previous kept for open readers


def test_disk_full_names_the_folder_and_keeps_previous(settings, monkeypatch):
    build_index(settings, CountingEmbedder(), corpus())
    live = gens(settings)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_layout, "write_chunks", full)
    with pytest.raises(LegalQAError, match=rf"{settings.index_dir}.*No space left"):
        build_index(settings, CountingEmbedder(), corpus(drop=("civil",)))
    assert gens(settings) == live
    with Index.open(settings, HashingEmbedder(64)) as index:
        assert "civil:0" in index.chunks


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = Settings(data_dir=blocker / "data")
    with pytest.raises(LegalQAError, match=rf"cannot write the index in {settings.index_dir}"):
        build_index(settings, CountingEmbedder(), corpus())


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_data_dir(settings):
    build_index(settings, CountingEmbedder(), corpus())
    for p in [settings.data_dir, *settings.data_dir.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555)
    try:
        with pytest.raises(LegalQAError, match=str(settings.data_dir)):
            build_index(settings, CountingEmbedder(), corpus(drop=("civil",)))
    finally:
        for p in [settings.data_dir, *settings.data_dir.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)


def test_read_only_index_folder_is_refused_cleanly(settings, monkeypatch):
    """Root ignores chmod, so simulate the read-only file system where the first write happens."""
    build_index(settings, CountingEmbedder(), corpus())
    real_open = open

    def read_only_open(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(index_layout, "open", read_only_open, raising=False)
    with pytest.raises(LegalQAError, match=rf"cannot write the index in {settings.index_dir}: Read-only"):
        build_index(settings, CountingEmbedder(), corpus(drop=("civil",)))


def test_open_reads_a_private_copy_when_chroma_cannot_open_in_place(settings, monkeypatch):
    """Chroma opens SQLite read-write even to read: a read-only data folder must still answer."""
    from ingest import store

    build_index(settings, CountingEmbedder(), corpus())
    real = store.chroma_client

    def refuse_in_place(s, gen_dir):
        if settings.index_dir in gen_dir.parents:
            raise RuntimeError("attempt to write a readonly database")
        return real(s, gen_dir)

    opened: list[Path] = []

    def record(s, gen_dir):
        opened.append(gen_dir)
        return refuse_in_place(s, gen_dir)

    monkeypatch.setattr(store, "chroma_client", record)
    index = Index.open(settings, HashingEmbedder(64))
    scratch = opened[-1]  # the private copy the vectors were read from
    assert settings.index_dir not in scratch.parents
    assert index.dense_search("因产品存在缺陷造成他人损害的", 1)[0][0] == "civil:1"
    assert not scratch.exists()  # vectors are in memory: the copy is gone as soon as they are read
    index.close()


def test_concurrent_ingest_is_refused(settings):
    settings.index_dir.mkdir(parents=True)
    with index_layout.ingest_lock(settings.index_dir), pytest.raises(LegalQAError, match="another"):
        build_index(settings, CountingEmbedder(), corpus())


def test_embedding_text_structure_flag():
    _, chunks = make_doc("civil", "民法典", CORPUS["civil"][1])
    c = chunks[1]
    assert (
        embedding_text(c, short_title="民法典")
        == f"《民法典》 第一编 总则 › 第2章 第一千二百零二条\n{c.text}"
    )
    assert embedding_text(c, with_structure=False) == c.text


@pytest.mark.slow
def test_sigkill_mid_build_keeps_previous_index(settings, tmp_path):
    script = tmp_path / "run_ingest.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from ingest import index_build
        try:
            from ingest.parsers import CHUNKER_VERSION
        except ImportError:
            index_build.chunker_version = lambda: "test"
        from test_store import CountingEmbedder, corpus
        from ingest.settings import Settings
        from ingest.store import build_index
        from pathlib import Path
        settings = Settings(data_dir=Path({str(settings.data_dir)!r}))
        if sys.argv[1] == "first":
            build_index(settings, CountingEmbedder(), corpus())
        else:
            class Slow(CountingEmbedder):
                def embed_documents(self, texts):
                    print("embedding", flush=True)
                    time.sleep(60)
            build_index(settings, Slow(), corpus(dict(terms=("用户协议", [("第1条", "新条款")]))))
    """)
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    subprocess.run([sys.executable, str(script), "first"], check=True, env=env, timeout=120)
    live = gens(settings)
    proc = subprocess.Popen(
        [sys.executable, str(script), "second"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "embedding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(gens(settings)) == 2  # the killed build's half-written generation
    with Index.open(settings, HashingEmbedder(64)) as index:
        assert index.info.generation == live[0] and len(index.chunks) == 7
    report = build_index(settings, CountingEmbedder(), corpus(drop=("civil",)))
    assert set(gens(settings)) == {live[0], report.generation}


@pytest.mark.slow
def test_chroma_server_mode(tmp_path):
    """LEGALQA_CHROMA_URL: one collection per generation on the server; superseded ones deleted."""
    import socket
    import urllib.request

    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.skip("chroma server command not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://localhost:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        settings = Settings(data_dir=tmp_path / "data", chroma_url=f"http://localhost:{port}")
        build_index(settings, CountingEmbedder(), corpus())
        second = build_index(settings, CountingEmbedder(), corpus(drop=("civil",)))
        third = build_index(settings, CountingEmbedder(), corpus(drop=("terms",)))
        with Index.open(settings, HashingEmbedder(64)) as index:
            assert index.dense_search("因产品存在缺陷造成他人损害的", 1)[0][0] == "civil:1"
            assert {c for c, _ in index.dense_search("提供者", 5, doc_ids=["genai"])} == {
                "genai:0",
                "genai:1",
            }
        client = chroma_io.chroma_client(settings, settings.index_dir)
        names = {c.name for c in client.list_collections()}
        assert names == {index_layout.collection_name(g) for g in (second.generation, third.generation)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_dense_search_is_exact_and_identical_after_reopening(corpus_hash_index: Settings) -> None:
    """The same question must rank the same passages every time the index is opened.

    Chroma's HNSW graph is approximate and rebuilt from its log when a process loads it: two loads of one
    generation could rank the tail of the 40 dense candidates differently (seen in tests/test_load.py as an
    answer that changed between two pipelines).  Search is exact now: equal to brute-force cosine over the
    stored vectors, read here straight from Chroma.
    """
    import json

    import numpy as np

    dev = Path(__file__).resolve().parent.parent / "evals" / "datasets" / "dev.jsonl"
    questions = [json.loads(line)["question"] for line in dev.read_text(encoding="utf-8").splitlines()][:40]
    first = Index.open(corpus_hash_index, HashingEmbedder(256))
    generation = first.info
    client = chroma_io.chroma_client(corpus_hash_index, generation.path)
    try:
        stored = client.get_collection(index_layout.collection_name(generation.generation)).get(
            include=["embeddings"]
        )
    finally:
        client.close()
    by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
    ids = list(first.chunks)  # corpus order breaks exact ties
    matrix = np.asarray([by_id[cid] for cid in ids], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    second = Index.open(corpus_hash_index, HashingEmbedder(256))
    try:
        for question in questions:
            query = np.asarray(HashingEmbedder(256).embed_query(question), dtype=np.float32)
            scores = matrix @ (query / np.linalg.norm(query))
            expected = [ids[i] for i in np.lexsort((np.arange(len(ids)), -scores))[:40]]
            got = first.dense_search(question, 40)
            assert [cid for cid, _ in got] == expected, question
            assert got == second.dense_search(question, 40), question
    finally:
        first.close()
        second.close()
