"""What every benchmark job shares: the result's sections, the targets, statistics over samples."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SECTIONS = ("meta", "machine", "versions", "embedder", "ingest", "queries", "cold_start", "memory", "scaling",
            "targets", "ratios", "notes")  # fmt: skip


COLD_QUESTION = "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？"


# Debian's chromium, never a downloaded browser; flags that keep it off the (closed) network.
# The browser tests launch it the same way (tests/helpers.py imports these).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


# (key, label, path into the result, "<=", limit, unit)
TARGETS = (
    ("ask_p95", "warm ask p95", ("queries", "ours", "ask", "p95"), 100.0, "ms"),
    ("retrieve_p95", "retrieval p95", ("queries", "ours", "retrieve", "p95"), 50.0, "ms"),
    (
        "cold_start_cli",
        "cold start → first answer (CLI)",
        ("cold_start", "ours", "cli", "median_s"),
        5.0,
        "s",
    ),
    (
        "cold_start_app",
        "cold start → first answer (app)",
        ("cold_start", "ours", "app", "first_answer_s"),
        5.0,
        "s",
    ),
    ("ingest_cold", "cold full-corpus ingest", ("ingest", "ours", "cold", "process_s"), 60.0, "s"),
    (
        "ingest_unchanged",
        "re-ingest, unchanged corpus",
        ("ingest", "ours", "unchanged", "process_s"),
        3.0,
        "s",
    ),
    (
        "ingest_one_changed",
        "re-ingest, one document changed",
        ("ingest", "ours", "one_changed", "process_s"),
        10.0,
        "s",
    ),
    ("serving_rss", "serving RSS after all questions", ("memory", "ours", "serving_rss_mb"), 800.0, "MB"),
    ("scaling_x16", "×16 corpus ask p95 / ×1", ("scaling", "ours", "ask_p95_ratio_max"), 2.0, "×"),
)


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    import numpy as np

    if not ms:
        return {"n": 0}
    a = np.asarray(ms, dtype=float)
    return {
        "n": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def combine_passes(passes: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Percentiles per pass; the reported figure is the median over passes (raw samples kept)."""
    per = [percentiles(p[key]) for p in passes if p.get(key)]
    if not per:
        return {"n": 0}
    out: dict[str, Any] = {
        s: statistics.median(x[s] for x in per) for s in ("p50", "p95", "p99", "mean", "min", "max")
    }
    out["n"] = per[0]["n"]
    out["passes"] = len(per)
    out["per_pass"] = [{s: round(x[s], 2) for s in ("p50", "p95", "p99")} for x in per]
    cpu = [p.get(f"{key}_cpu_ms_per_q") for p in passes if p.get(f"{key}_cpu_ms_per_q") is not None]
    if cpu:
        out["cpu_ms_per_q"] = statistics.median(cpu)
    return out


def dig(data: dict[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return float(a) / float(b)
    return None


def count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def median_of(runs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values:
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    out["per_run"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k in keys}
                      for r in runs]  # fmt: skip
    return out
