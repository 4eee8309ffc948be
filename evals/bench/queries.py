"""Benchmark job: warm retrieval and ``ask`` latency over the benchmark questions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.bench.common import combine_passes, percentiles
from evals.bench.processes import Runner


def measure_queries(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                    questions: list[str], passes: int, naive: bool) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"questions": len(questions), "passes": passes}
    for system, spec in (("ours", spec1), ("naive", nspec1)):
        if system == "naive" and not naive:
            continue
        log(f"queries: {system}, {len(questions)} questions × {passes} passes (retrieve, then ask)")
        raw = runner.job("query", {**spec, "system": system, "questions": questions, "passes": passes})
        entry: dict[str, Any] = {
            "retrieve": combine_passes(raw["passes"], "retrieve"),
            "ask": combine_passes(raw["passes"], "ask"),
            "embed_query": combine_passes(raw["passes"], "embed_query"),
            "build_s": raw["build_s"],
            "chunks": raw["chunks"],
            "abstained_of_50": raw.get("abstained_of_50"),
            "errors": len(raw.get("errors", [])),
            "rss_mb": raw["rss_mb"],
            "peak_rss_mb": raw["peak_rss_mb"],
            "loadavg": [p["loadavg_before"][0] for p in raw["passes"]]
            + [raw["passes"][-1]["loadavg_after"][0]],
            "samples": {k: [round(x, 3) for x in raw["passes"][0][k]] for k in ("retrieve", "ask")},
        }
        if raw.get("parts"):
            entry["parts"] = {k: percentiles(v) for k, v in raw["parts"].items()}
        out[system] = entry
    return out
