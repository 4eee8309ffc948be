"""Faults: the real ingest SIGKILLed at random points, a corpus file edited after indexing, a full disk.

* SIGKILL: ``legalqa ingest`` runs in a subprocess on a copy of the session index; it is killed at
  points drawn at random within each phase (start-up/parsing, embedding, writing Chroma, BM25 and
  commit, anywhere).  After every kill the live index answers exactly as before, and the next ingest
  completes and leaves no orphan generation, temporary file or broken cache behind.  The seed is
  printed; LEGALQA_FAULT_SEED=<n> replays a run.
* Stale corpus: ``legalqa verify`` flags citations of an edited file, ``Pipeline.stale_documents()``
  names it and every answer carries it in ``Answer.stale`` (and a note in text/Markdown) until the
  next ingest.
* Full disk: ``RLIMIT_FSIZE`` in the ingest subprocess (a real EFBIG from the kernel, no mocks):
  one clear line naming the index folder, exit 1, previous index untouched, nothing left behind.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.answer import Answer
from app.pipeline import build_pipeline
from app.render import to_markdown, to_text
from app.warning import WARNING
from ingest import index_layout
from ingest.cli import ingest
from ingest.manifest import load_manifest, sha256_bytes
from ingest.settings import Settings
from tests.helpers import clean_env, settings_env

QUESTIONS = ("民法典第1202条是怎么规定的？", "经营者有欺诈行为，消费者能要求几倍赔偿？")

DRIVER = textwrap.dedent(
    """
    import sys
    from ingest import cli
    from ingest.settings import Settings

    class Progress:  # the real ingest, reporting its stages on stdout so the test can aim its kill
        def __call__(self, stage, done, total):
            print(f"{stage} {done} {total}", flush=True)

        def close(self):
            pass

    cli._progress_bar = Progress
    print("start", flush=True)
    cli.ingest(Settings.from_env(), rebuild=sys.argv[1] == "rebuild", show_progress=True)
    print("done", flush=True)
    """
)


def fault_rng() -> tuple[random.Random, int]:
    seed = int(os.environ.get("LEGALQA_FAULT_SEED") or random.SystemRandom().randrange(1, 10**6))
    return random.Random(seed), seed


class IngestRun:
    """The real ingest in a subprocess whose stages (start, embed n/N, write n/N, done) we can wait for."""

    def __init__(self, settings: Settings, tmp_path: Path, *, rebuild: bool) -> None:
        self.settings = settings
        script = tmp_path / "ingest_driver.py"
        script.write_text(DRIVER, encoding="utf-8")
        self.before = index_layout.read_current(settings.index_dir)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr = (tmp_path / "ingest-stderr.log").open("w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "rebuild" if rebuild else "update"],
            env=clean_env(**settings_env(settings)),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, predicate, timeout: float = 120) -> str | None:  # noqa: ANN001
        """The first stage line matching ``predicate``; None if the ingest ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None or line == "done":
                return None
            if predicate(line):
                return line
        raise TimeoutError("the ingest subprocess did not reach the expected stage")

    def kill_at(self, point: str, delay: float = 0.0) -> str:
        """SIGKILL at ``point`` (start | embed | write | after-write | time) + ``delay`` seconds; the phase hit."""
        matchers = {
            "start": lambda line: line == "start",
            "embed": lambda line: line.startswith("embed "),
            "write": lambda line: line.startswith("write "),
            "after-write": lambda line: line.startswith("write ") and line.split()[1] == line.split()[2],
        }
        reached = True
        if point != "time":
            reached = self.wait_for(matchers[point]) is not None
        time.sleep(delay)
        if not reached or self.proc.poll() is not None:
            self.proc.wait(timeout=120)
            return "finished before the kill"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.stderr.close()
        return self.phase()

    def phase(self) -> str:
        index_dir = self.settings.index_dir
        current = index_layout.read_current(index_dir)
        if current != self.before:
            return "after the commit (new generation live)"
        if any(
            g.name != current and index_layout.read_manifest(g) is None for g in index_layout.generations(index_dir)
        ):
            return "mid-build (half-written generation left)"
        return "before the build started"

    def complete(self, timeout: float = 300) -> None:
        rc = self.proc.wait(timeout=timeout)
        self.stderr.seek(0)
        assert rc == 0, self.stderr.read()
        self.stderr.close()


def answer_signature(settings: Settings) -> tuple:
    """What the live index answers (text + cited chunks) to QUESTIONS, from a freshly opened pipeline."""
    pipeline = build_pipeline(settings)
    try:
        answers = [pipeline.ask(q) for q in QUESTIONS]
    finally:
        pipeline.index.close()
    for a in answers:
        assert not a.error, a.error
        assert a.warning == WARNING and a.citations
    return tuple((a.text, tuple(c.chunk_id for c in a.citations)) for a in answers)


def check_index_sound(settings: Settings, *, max_generations: int) -> set[str]:
    """CURRENT names a complete generation; at most ``max_generations`` generation folders exist."""
    index_dir = settings.index_dir
    current = index_layout.read_current(index_dir)
    assert current is not None and index_layout.read_manifest(index_dir / current) is not None
    gens = {g.name for g in index_layout.generations(index_dir)}
    assert current in gens and len(gens) <= max_generations, gens
    return gens


def check_clean(settings: Settings) -> set[str]:
    """After a completed ingest: exactly current + previous, both complete; no temp files; cache intact."""
    gens = check_index_sound(settings, max_generations=2)
    assert all(index_layout.read_manifest(settings.index_dir / g) is not None for g in gens)
    assert not list(settings.index_dir.glob(".*.tmp"))
    cache = settings.data_dir / "cache" / "embeddings.sqlite3"
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return gens


@pytest.mark.slow
def test_sigkill_at_random_points_keeps_the_index_and_next_ingest_cleans_up(index_copy, tmp_path: Path) -> None:
    settings = index_copy()
    baseline = answer_signature(settings)
    rng, seed = fault_rng()
    print(f"fault seed {seed} (replay: LEGALQA_FAULT_SEED={seed})")
    plan = [
        ("start", rng.uniform(0.0, 1.5)),  # imports, manifest, parsing
        ("write", rng.uniform(0.0, 0.3)),  # Chroma collection being written
        ("after-write", rng.uniform(0.0, 1.5)),  # BM25 build
        ("after-write", rng.uniform(1.0, 3.0)),  # BM25, chunks, manifest, CURRENT switch, cleanup
        ("time", rng.uniform(0.5, 7.0)),  # anywhere
    ]
    rows = []
    for point, delay in plan:
        run = IngestRun(settings, tmp_path, rebuild=True)
        phase = run.kill_at(point, delay)
        print(f"kill at {point}+{delay:.2f}s: {phase}")
        assert answer_signature(settings) == baseline, f"seed {seed}: wrong answers after a kill {phase}"
        gens = check_index_sound(settings, max_generations=3)
        rows.append((f"{point}+{delay:.2f}s", phase, len(gens)))
    IngestRun(settings, tmp_path, rebuild=True).complete()
    check_clean(settings)
    assert answer_signature(settings) == baseline
    print(f"\nSIGKILL during `legalqa ingest --rebuild` (seed {seed}; replay with LEGALQA_FAULT_SEED={seed}):")
    for when, phase, n in rows:
        print(f"  kill at {when:<18} {phase:<45} generations on disk: {n}  -> index answered correctly")
    print("  next ingest: completed; current + previous generation only, no temp files, cache integrity ok")
    assert sum("mid-build" in r[1] for r in rows) >= 1, "no kill landed inside the build; adjust the plan"


@pytest.mark.slow
def test_sigkill_during_first_ingest_then_recovery(corpus_hash_index: Settings, tmp_path: Path, run_legalqa) -> None:
    """No index yet, no cache: killed while embedding; ask says to run ingest (with the warning); the
    next ingest completes and reuses the vectors embedded before the kill."""
    settings = replace(corpus_hash_index, data_dir=tmp_path / "fresh")
    rng, seed = fault_rng()
    print(f"fault seed {seed} (replay: LEGALQA_FAULT_SEED={seed})")
    run = IngestRun(settings, tmp_path, rebuild=False)
    phase = run.kill_at("embed", rng.uniform(0.0, 0.5))
    assert index_layout.read_current(settings.index_dir) is None, phase
    cli = run_legalqa(["ask", QUESTIONS[0]], settings_env(settings))
    assert cli.returncode == 2 and WARNING in cli.stdout and "legalqa ingest" in cli.stderr
    report = ingest(settings, show_progress=False)
    assert report.chunks_reused > 0  # the cache committed before the kill survived it
    check_clean(settings)
    assert len(index_layout.generations(settings.index_dir)) == 1
    answer_signature(settings)
    print(
        f"\nfirst ingest SIGKILLed while embedding (seed {seed}): {phase}; "
        f"next ingest reused {report.chunks_reused} cached vectors, embedded {report.chunks_embedded}"
    )


@pytest.mark.slow
def test_sigkill_ingest_in_server_mode_leaves_no_orphan_collections(
    corpus_hash_index: Settings, chroma_server, tmp_path: Path
) -> None:
    """LEGALQA_CHROMA_URL: SIGKILL while writing to the server; the next ingest cleans up server and disk."""
    server_settings = replace(corpus_hash_index, data_dir=tmp_path / "data", chroma_url=chroma_server.url)
    (server_settings.data_dir / "cache").mkdir(parents=True)
    shutil.copy2(corpus_hash_index.data_dir / "cache" / "embeddings.sqlite3", server_settings.data_dir / "cache")
    ingest(server_settings, show_progress=False)
    baseline = answer_signature(server_settings)
    rng, seed = fault_rng()
    print(f"fault seed {seed} (replay: LEGALQA_FAULT_SEED={seed})")
    seen: set[str] = set()
    phases = []
    for point, delay in (("write", rng.uniform(0.0, 0.3)), ("after-write", rng.uniform(0.0, 3.0))):
        run = IngestRun(server_settings, tmp_path, rebuild=True)
        phases.append(run.kill_at(point, delay))
        print(f"kill at {point}+{delay:.2f}s: {phases[-1]}")
        assert answer_signature(server_settings) == baseline, f"seed {seed}: {phases[-1]}"
        seen |= check_index_sound(server_settings, max_generations=3)
    IngestRun(server_settings, tmp_path, rebuild=True).complete()
    gens = check_clean(server_settings)
    ours = {index_layout.collection_name(g) for g in seen | gens}
    assert chroma_server.collections() & ours == {index_layout.collection_name(g) for g in gens}
    assert answer_signature(server_settings) == baseline
    print(f"\nserver mode SIGKILL (seed {seed}): {phases}; no orphan collection or generation after the next ingest")


@pytest.fixture
def corpus_copy(corpus_hash_index: Settings, index_copy, tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_hash_index.corpus_dir, corpus)
    return index_copy(corpus_dir=corpus)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.slow
def test_edited_corpus_file_is_flagged_by_verify_and_pipeline(corpus_copy: Settings, tmp_path: Path, run_legalqa) -> None:
    settings = corpus_copy
    pipeline = build_pipeline(settings)
    question = QUESTIONS[1]  # answered from 《消费者权益保护法》第五十五条
    fresh = pipeline.ask(question)
    assert pipeline.stale_documents() == [] and fresh.stale == ()
    assert "consumer-protection-law" in {c.doc_id for c in fresh.citations}
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(fresh.to_dict(), ensure_ascii=False), encoding="utf-8")
    env = settings_env(settings)
    ok = run_legalqa(["verify", str(saved)], env)
    assert ok.returncode == 0 and "BAD" not in ok.stdout and WARNING in ok.stdout

    statute = settings.corpus_dir / "statutes" / "consumer-protection-law.md"
    _edit(statute, "三倍", "五倍")  # someone edits the statute after indexing (manifest not updated)

    assert pipeline.stale_documents() == ["consumer-protection-law"]
    later = pipeline.ask(question)
    assert later.stale == ("consumer-protection-law",)
    assert (later.text, later.citations) == (fresh.text, fresh.citations)  # a note; nothing removed
    for view in (to_text(later), to_markdown(later)):
        assert "consumer-protection-law" in view and "legalqa ingest" in view and WARNING in view
    assert Answer.from_dict(json.loads(json.dumps(later.to_dict()))).stale == later.stale

    bad = run_legalqa(["verify", str(saved)], env)
    assert bad.returncode == 1 and WARNING in bad.stdout
    flagged = [line for line in bad.stdout.splitlines() if line.startswith("[") and "BAD" in line]
    cited_statute = [c for c in fresh.citations if c.doc_id == "consumer-protection-law"]
    assert len(flagged) == len(cited_statute) and all("sha256" in line for line in flagged)
    assert sum(" OK " in line for line in bad.stdout.splitlines()) == len(fresh.citations) - len(flagged)

    # the manifest catches up but the index does not: still stale; after the next ingest: fresh again
    old_sha = next(m.sha256 for m in load_manifest(settings.corpus_dir) if m.doc_id == "consumer-protection-law")
    _edit(settings.corpus_dir / "manifest.toml", old_sha, sha256_bytes(statute.read_bytes()))
    assert pipeline.stale_documents() == ["consumer-protection-law"]

    report = ingest(settings, show_progress=False)
    assert report.changed == ["consumer-protection-law"]
    assert not pipeline.index.is_current()  # the UI reopens on this
    pipeline.index.close()
    reopened = build_pipeline(settings)
    assert reopened.stale_documents() == [] and reopened.ask(question).stale == ()
    assert "五倍" in " ".join(c.quote for c in reopened.ask(question).citations)
    reopened.index.close()
    print("\nstale corpus: verify flagged", len(flagged), "citation(s); Answer.stale =", later.stale)


def test_missing_corpus_file_and_unreadable_manifest_count_as_stale_not_errors(corpus_copy: Settings) -> None:
    pipeline = build_pipeline(corpus_copy)
    (corpus_copy.corpus_dir / "sources" / "blog.txt").unlink()
    (corpus_copy.corpus_dir / "manifest.toml").write_text("this is [not toml", encoding="utf-8")
    assert pipeline.stale_documents() == ["blog"]
    answer = pipeline.ask(QUESTIONS[0])
    assert not answer.error and answer.stale == ("blog",) and answer.citations
    pipeline.index.close()


FSIZE_DRIVER = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, like ENOSPC
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from legalqa.cli import main
    sys.exit(main(["ingest", "--rebuild", "--quiet"]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [64 * 1024, 2_000_000, 6_000_000])
def test_full_disk_during_ingest_is_one_clear_line_and_changes_nothing(index_copy, tmp_path: Path, limit: int) -> None:
    """RLIMIT_FSIZE makes every write past ``limit`` bytes fail in the kernel (EFBIG), wherever it happens:
    SQLite in Chroma, its HNSW files, BM25, chunks."""
    settings = index_copy()
    baseline = answer_signature(settings)
    before = {g.name for g in index_layout.generations(settings.index_dir)}
    current = index_layout.read_current(settings.index_dir)
    script = tmp_path / "fsize_driver.py"
    script.write_text(FSIZE_DRIVER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), str(limit)],
        env=clean_env(**settings_env(settings)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"cannot write the index in {settings.index_dir}" in lines[0]
    assert "disk full or read-only?" in lines[0] and "previous index is unchanged" in lines[0]
    assert index_layout.read_current(settings.index_dir) == current
    assert {g.name for g in index_layout.generations(settings.index_dir)} == before  # nothing half-written left
    assert answer_signature(settings) == baseline
    print(f"\nfull disk at {limit} bytes: {lines[0][:160]}")
