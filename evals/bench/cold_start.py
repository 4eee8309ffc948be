"""Benchmark job: cold start to the first answer, in the CLI and in the browser app."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.bench.common import CHROMIUM, CHROMIUM_ARGS, COLD_QUESTION
from evals.bench.processes import (
    Runner,
    clean_env,
    free_port,
    process_tree_rss_mb,
    timed_process,
    wait_until_healthy,
)
from ingest.errors import LegalQAError


def measure_cold_start(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                       tmp: Path, repeats: int, naive: bool, args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"ours": {}, "naive": {}, "question": COLD_QUESTION}
    if args.inprocess:
        out["skipped"] = "in-process run: cold start needs fresh processes"
        return out
    env = clean_env(LEGALQA_CORPUS_DIR=spec1["corpus_dir"], LEGALQA_DATA_DIR=spec1["data_dir"],
                    LEGALQA_EMBEDDER=spec1["embedder"])  # fmt: skip
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    log(f"cold start: `python -m app ask` ×{repeats}")
    runs = [timed_process([sys.executable, "-m", "app", "ask", COLD_QUESTION], env=env, cwd=cwd, timeout=300)
            for _ in range(repeats)]  # fmt: skip
    bad = [r for r in runs if r["returncode"] != 0]
    cli: dict[str, Any] = {
        "command": f'python -m app ask "{COLD_QUESTION}"',
        "median_s": statistics.median(r["seconds"] for r in runs),
        "runs_s": [round(r["seconds"], 3) for r in runs],
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "answered": all("不构成法律意见" in r["output"] for r in runs) and not bad,
    }
    imp = timed_process([sys.executable, "-X", "importtime", "-m", "app", "ask", COLD_QUESTION], env=env, cwd=cwd,
                        timeout=300)  # fmt: skip
    cli["import_top"] = import_top(imp["output"])
    out["ours"]["cli"] = cli
    if naive:
        log(f"cold start: naive baseline (process start → build from its cache → first answer) ×{repeats}")
        nruns = [runner.job("first_answer", {**nspec1, "system": "naive", "question": COLD_QUESTION})
                 for _ in range(repeats)]  # fmt: skip
        out["naive"]["cli"] = {
            "median_s": statistics.median(r["process_s"] for r in nruns),
            "runs_s": [round(r["process_s"], 3) for r in nruns],
            "build_s": statistics.median(r["build_s"] for r in nruns),
            "note": "no persistent index: every process rebuilds its Chroma collection from the embedding cache",
        }
    if not args.no_serve:
        log("cold start: `python -m app serve` → first answer")
        try:
            out["ours"]["app"] = serve_cold_start(env, cwd, use_browser=not args.no_browser, runner=runner,
                                                  spec=spec1, log=log)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - report, do not lose the rest of the run
            out["ours"]["app"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def import_top(stderr: str, n: int = 12) -> list[dict[str, Any]]:
    """Top-level imports by cumulative time from ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2]
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:
            rows.append({"module": name.strip(), "cumulative_ms": int(parts[1]) / 1000})
    return sorted(rows, key=lambda r: -r["cumulative_ms"])[:n]


def serve_cold_start(env: dict[str, str], cwd: Path, *, use_browser: bool, runner: Runner, spec: dict[str, Any],
                     log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """``legalqa serve`` from process start to the first answer on screen (or server-ready + pipeline).

    One function on purpose: the server process, the optional browser and the clean-up in
    ``finally`` share one lifetime, and the timings are all relative to one ``started``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"command": f"python -m app serve --port {port}", "question": COLD_QUESTION}
    browser_cm: Any = contextlib.nullcontext(None)
    if use_browser:
        try:
            from playwright.sync_api import sync_playwright

            if not CHROMIUM.exists():
                raise FileNotFoundError(str(CHROMIUM))
            browser_cm = sync_playwright()
        except Exception as exc:  # noqa: BLE001
            out["browser_unavailable"] = f"{type(exc).__name__}: {exc}"
            use_browser = False
    with browser_cm as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS) if pw else None
        log_file = (cwd / "serve.log").open("w+", encoding="utf-8")
        started = time.perf_counter()  # the browser is already up: not part of the app's cold start
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port), "--address", "127.0.0.1"],
                                env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            if not wait_until_healthy(url, proc, timeout=180, poll=0.02):
                log_file.seek(0)
                raise LegalQAError(f"server did not start (exit {proc.poll()}): {log_file.read()[-2000:]}")
            out["server_ready_s"] = time.perf_counter() - started
            out["rss_ready_mb"] = process_tree_rss_mb(proc.pid)
            if browser is not None:
                out.update(_first_answer_in_browser(browser, url, started))
            else:
                out["method"] = ("no browser: server-ready time (health endpoint) + the UI's pipeline build and first "
                                 "answer measured in a separate fresh process; first_answer_s is their sum")  # fmt: skip
            out["rss_after_first_answer_mb"] = process_tree_rss_mb(proc.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            log_file.close()
            if browser is not None:
                browser.close()
    if "first_answer_s" not in out:
        first = runner.job("first_answer", {**spec, "system": "ours", "question": COLD_QUESTION})
        out["pipeline_build_s"] = first["build_s"]
        out["pipeline_first_ask_s"] = first["ask_s"]
        out["first_answer_s"] = out["server_ready_s"] + first["total_s"]
    return out


def _first_answer_in_browser(browser: Any, url: str, started: float) -> dict[str, Any]:
    """Open the app, ask the cold question, wait for the answer and its first citation card."""
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page.set_default_timeout(180_000)
    page.goto(url + "/")
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for()
    out: dict[str, Any] = {"page_ready_s": time.perf_counter() - started}
    box.fill(COLD_QUESTION)
    submitted = time.perf_counter()
    box.press("Enter")
    page.locator(".answer-body").first.wait_for(state="visible")
    page.locator(".cite-card").first.wait_for(state="visible")
    out["first_answer_s"] = time.perf_counter() - started
    out["submit_to_answer_s"] = time.perf_counter() - submitted
    out["method"] = "headless Chromium (Playwright): process start → answer and citation card on screen"
    page.close()
    return out
