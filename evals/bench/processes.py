"""Running benchmark jobs and commands in fresh processes: wall time, peak RSS, a clean environment."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any developer ``LEGALQA_*`` setting, this checkout first on
    ``PYTHONPATH``, telemetry off, plus ``extra``: for every subprocess the bench and the tests start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGALQA_")}
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + path if path else "")
    return {**env, "ANONYMIZED_TELEMETRY": "False", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **extra}


def wait_until_healthy(url: str, proc: subprocess.Popen[Any], timeout: float, poll: float = 0.3) -> bool:
    """Poll a ``legalqa serve`` server's health endpoint: True once it answers 200, False when its
    process exits or ``timeout`` seconds pass first (the caller reports that with its log)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            if r.status == 200:
                return True
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(poll)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a server the caller starts next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Runner:
    """Runs ``evals.bench.worker`` jobs in fresh processes (or in-process for the smoke test)."""

    def __init__(
        self, tmp: Path, *, inprocess: bool, log: Callable[[str], None], timeout: float = 3600
    ) -> None:
        self.tmp = tmp
        self.inprocess = inprocess
        self.log = log
        self.timeout = timeout
        self.count = 0

    def job(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        load = os.getloadavg()
        if self.inprocess:
            from evals.bench import worker as bench_worker

            started = time.perf_counter()
            result = bench_worker.JOBS[kind](spec)
            result["process_s"] = time.perf_counter() - started  # no interpreter start in-process
            result["process_peak_rss_mb"] = result.get("peak_rss_mb")
        else:
            spec_path = self.tmp / f"job-{self.count}.json"
            out_path = self.tmp / f"job-{self.count}.out.json"
            spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
            cmd = [sys.executable, "-m", "evals.bench.worker", kind, str(spec_path), str(out_path)]
            run = timed_process(cmd, env=clean_env(), cwd=self.tmp, timeout=self.timeout)
            if run["returncode"] != 0 or not out_path.is_file():
                raise LegalQAError(
                    f"bench job {kind} failed (exit {run['returncode']}):\n{run['output'][-3000:]}"
                )
            result = json.loads(out_path.read_text(encoding="utf-8"))
            result["process_s"] = run["seconds"]
            result["process_peak_rss_mb"] = run["peak_rss_mb"]
        result["loadavg"] = [round(x, 2) for x in (*load[:1], os.getloadavg()[0])]
        return result


def timed_process(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Run ``cmd``: wall seconds from spawn to exit, its peak RSS (wait4), exit code, output."""
    with tempfile.TemporaryFile(mode="w+b") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                seconds = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                seconds = float("nan")
                break
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {"seconds": seconds, "returncode": proc.returncode, "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,
            "output": text}  # fmt: skip


def process_tree_rss_mb(pid: int) -> float | None:
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 1e6
    except Exception:  # noqa: BLE001 - best effort
        return None
