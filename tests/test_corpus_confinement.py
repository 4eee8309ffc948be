"""Corpus files are read only inside the corpus folder, only as regular files, only up to a size.

Before: a symlink in ``corpus/`` to a file elsewhere was ingested and quoted; a
FIFO in the corpus blocked every ``ask`` in the staleness check (and ingest);
a 50 MB single-line file became one 16-million-character chunk and ingest ran
for over 10 minutes.  Every case is now a one-line ``CorpusError`` naming the
file (ingest) or a stale document (``ask``), in well under a second.

Corpora are built in tmp folders; the project's corpus/ is never modified.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.corpus_files import MAX_DOCUMENT_BYTES, read_corpus_file
from ingest.errors import CorpusError
from ingest.manifest import load_documents, load_manifest
from ingest.parsers import parse_document
from ingest.parsers.base import MAX_CHUNK_CHARS
from ingest.settings import Settings
from tests.helpers import BLOG, GOOD_FILES, LAW, entry, good_manifest, make_corpus, sha

SECRET = "机密：这份文件在语料目录之外，不得被索引或引用。\n".encode()
BLOG_FILE = "sources/blog.txt"


def finishes(call: Callable[[], object], fifo: Path | None = None, timeout: float = 10) -> object:
    """``call()``'s result, failing (not hanging) if it blocks; a reader stuck on ``fifo`` is released after."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if fifo is not None:  # give the blocked reader an EOF so the thread ends
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still blocked after {timeout} s (reading a FIFO?)")
    assert time.monotonic() - started < timeout
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def corpus_error(call: Callable[[], object], fifo: Path | None = None) -> CorpusError:
    with pytest.raises(CorpusError) as info:
        finishes(call, fifo)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return info.value


# -- ingest: load_documents ------------------------------------------------------------


def test_symlink_to_a_file_outside_the_corpus_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    root = make_corpus(
        tmp_path / "corpus",
        {"statutes/test-law.md": LAW},
        entry("blog", "blog", BLOG_FILE, sha(SECRET))
        + entry("test-law", "statute", "statutes/test-law.md", sha(LAW), articles=1),
    )
    (root / BLOG_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / BLOG_FILE).symlink_to(outside)
    err = corpus_error(lambda: load_documents(root))
    assert err.file == str(root / BLOG_FILE)
    assert "outside the corpus folder" in str(err) and str(outside) in str(err)


def test_symlinked_folder_leading_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "blog.txt").write_bytes(SECRET)
    (tmp_path / "corpus").mkdir()
    root = make_corpus(tmp_path / "corpus", {}, entry("blog", "blog", BLOG_FILE, sha(SECRET)))
    (root / "sources").symlink_to(outside, target_is_directory=True)
    assert "outside the corpus folder" in str(corpus_error(lambda: load_documents(root)))


def test_symlinks_that_stay_inside_the_corpus_are_fine(tmp_path: Path) -> None:
    real = make_corpus(
        tmp_path / "real-corpus", {**GOOD_FILES, "raw/blog-original.txt": BLOG}, good_manifest()
    )
    (real / BLOG_FILE).unlink()
    (real / BLOG_FILE).symlink_to(Path("..") / "raw" / "blog-original.txt")
    linked = tmp_path / "corpus-link"  # the corpus folder itself may be a symlink (e.g. to a mounted volume)
    linked.symlink_to(real, target_is_directory=True)
    docs = load_documents(linked)
    assert [d.doc_id for d in docs] == ["blog", "test-law"] and docs[0].text == BLOG.decode()


def test_fifo_in_the_corpus_is_refused_without_opening_it(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {"statutes/test-law.md": LAW}, good_manifest())
    (root / "sources").mkdir()
    os.mkfifo(root / BLOG_FILE)
    err = corpus_error(lambda: load_documents(root), fifo=root / BLOG_FILE)
    assert err.file == str(root / BLOG_FILE) and "FIFO" in str(err)


def test_fifo_as_manifest_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.toml")
    err = corpus_error(lambda: load_manifest(tmp_path), fifo=tmp_path / "manifest.toml")
    assert err.file == str(tmp_path / "manifest.toml") and "FIFO" in str(err)


def test_folder_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {"statutes/test-law.md": LAW}, good_manifest())
    (root / BLOG_FILE).mkdir(parents=True)
    assert "is a folder" in str(corpus_error(lambda: load_documents(root)))


def test_document_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {"statutes/test-law.md": LAW}, good_manifest())
    (root / "sources").mkdir()
    with (root / BLOG_FILE).open("wb") as fh:
        fh.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: the size check must come before any read
    started = time.perf_counter()
    err = corpus_error(lambda: load_documents(root))
    assert time.perf_counter() - started < 2
    assert err.file == str(root / BLOG_FILE) and "over the 10.0 MB limit" in str(err)
    with pytest.raises(CorpusError, match="limit"):
        read_corpus_file(root, BLOG_FILE)


def test_single_line_document_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    long_line = (
        "生成式人工智能服务提供者应当依法承担责任，" * 2000
    ).encode()  # 42,000 characters, no sentence end
    data = "标题\n".encode() + long_line + b"\n"
    root = make_corpus(tmp_path, {BLOG_FILE: data}, entry("blog", "blog", BLOG_FILE, sha(data)))
    (doc,) = load_documents(root)
    err = corpus_error(lambda: parse_document(doc))
    assert err.file == BLOG_FILE and err.line == 2
    assert f"limit {MAX_CHUNK_CHARS:,}" in str(err) and "42,000 characters" in str(err)


def test_real_corpus_is_within_the_bounds() -> None:
    from ingest.settings import PROJECT_ROOT

    docs = load_documents(PROJECT_ROOT / "corpus")
    longest = max(len(c.text) for d in docs for c in parse_document(d).chunks)
    assert longest < MAX_CHUNK_CHARS // 10
    assert max(len(d.text.encode()) for d in docs) < MAX_DOCUMENT_BYTES // 10


@pytest.mark.slow
def test_ingest_command_refuses_a_huge_single_line_file_quickly(tmp_path: Path, run_legalqa) -> None:
    big = ("长" * (4 * 2**20)).encode()  # 12 MB, one line
    manifest = entry("blog", "blog", BLOG_FILE, sha(big)) + entry(
        "test-law", "statute", "statutes/test-law.md", sha(LAW), articles=1
    )
    root = make_corpus(tmp_path / "corpus", {BLOG_FILE: big, "statutes/test-law.md": LAW}, manifest)
    env = {
        "LEGALQA_CORPUS_DIR": str(root),
        "LEGALQA_DATA_DIR": str(tmp_path / "data"),
        "LEGALQA_EMBEDDER": "hash:64",
    }
    started = time.perf_counter()
    done = run_legalqa(["ingest", "--quiet"], env, timeout=120)
    assert time.perf_counter() - started < 60
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("legalqa ingest: ") and str(root / BLOG_FILE) in line and "MB limit" in line


# -- ask: the pipeline's staleness check -------------------------------------------------


@pytest.fixture
def corpus_copy(corpus_hash_index: Settings, index_copy, tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_hash_index.corpus_dir, corpus)
    return index_copy(corpus_dir=corpus)


@pytest.mark.slow
def test_fifo_or_outside_symlink_in_corpus_makes_documents_stale_without_blocking(
    corpus_copy: Settings, tmp_path: Path
) -> None:
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(corpus_copy)
    assert pipeline.stale_documents() == []
    corpus = Path(corpus_copy.corpus_dir)
    fifo = corpus / BLOG_FILE
    fifo.unlink()
    os.mkfifo(fifo)
    law = corpus / "statutes" / "consumer-protection-law.md"
    outside = tmp_path / "outside-copy.md"  # the same bytes, but outside the corpus: ingest would refuse it
    shutil.move(law, outside)
    law.symlink_to(outside)
    assert finishes(pipeline.stale_documents, fifo) == ["blog", "consumer-protection-law"]
    answer = finishes(lambda: pipeline.ask("消费者权益保护法第五十五条"), fifo)
    assert answer.stale == ("blog", "consumer-protection-law") and not answer.error  # type: ignore[attr-defined]
    assert "不构成法律意见" in answer.warning  # type: ignore[attr-defined]
