"""Helpers the tests share (fixtures stay in ``conftest.py``): paths, subprocess environments,
the served app, a loopback Chroma server.

``clean_env``, ``free_port`` and the Chromium binary and flags are the benchmark's own
(``evals.bench``), imported here, so each exists once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from evals.bench.common import CHROMIUM, CHROMIUM_ARGS
from evals.bench.processes import clean_env, free_port, wait_until_healthy
from ingest.settings import Settings

__all__ = [
    "BLOG", "CHROMIUM", "CHROMIUM_ARGS", "GOOD_FILES", "LAW", "PROJECT_CACHE", "ROOT", "TEST_KNOBS", "ChromaServer", "clean_env", "entry",
    "free_port", "good_manifest", "make_corpus", "serve_app", "settings_env", "sha",
]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent
PROJECT_CACHE = ROOT / "data" / "cache" / "embeddings.sqlite3"
# LEGALQA_* variables that steer the tests themselves, not the app: isolated_env keeps them (replays).
TEST_KNOBS = frozenset({"LEGALQA_FAULT_SEED", "LEGALQA_BROWSER_EMBEDDER"})


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
            if not wait_until_healthy(url, proc, timeout):
                log.seek(0)
                pytest.fail(f"server did not start (exit {proc.poll()}):\n{log.read()}")
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


# --- tiny corpora (manifest and confinement tests) ----------------------------------------


BLOG = "标题\r\n小节\r\n正文。\r\n".encode()
LAW = "# 法\n\n第一条　正文。\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(doc_id: str, kind: str, file: str, digest: str, **extra: object) -> str:
    lines = [
        "[[documents]]",
        f'doc_id = "{doc_id}"',
        f'title = "{doc_id} title"',
        f'short_title = "{doc_id}"',
        f'kind = "{kind}"',
        f'file = "{file}"',
        f'sha256 = "{digest}"',
    ]
    lines += [
        f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"'
        for key, value in extra.items()
    ]
    return "\n".join(lines) + "\n\n"


def make_corpus(root: Path, files: dict[str, bytes], manifest: str) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "manifest.toml").write_text(manifest, encoding="utf-8")
    return root


def good_manifest() -> str:
    return entry("blog", "blog", "sources/blog.txt", sha(BLOG)) + entry(
        "test-law", "statute", "statutes/test-law.md", sha(LAW), articles=1, effective="2024-01-01"
    )


GOOD_FILES = {"sources/blog.txt": BLOG, "statutes/test-law.md": LAW}


def linear_model(cls: type, features: Sequence[str], embedder: str, **coef: float) -> Any:
    """A shipped ranking model (``app.logistic.Weights`` subclass ``cls``) with unscaled features and
    the given weights, every other weight 0: orders by exactly what a test says."""
    return cls(
        embedder=embedder,
        names=tuple(features),
        mean=(0.0,) * len(features),
        scale=(1.0,) * len(features),
        coef=tuple(coef.get(n, 0.0) for n in features),
        intercept=0.0,
        threshold=0.0,
    )
