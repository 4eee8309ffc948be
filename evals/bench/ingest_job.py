"""Benchmark job: ingest cold, unchanged and with one document changed, ours and the naive baseline."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.bench.common import median_of
from evals.bench.processes import Runner

INGEST_KEYS = ("seconds", "process_s", "chunks_embedded", "chunks_reused", "embed_seconds", "parse_seconds",
               "peak_rss_mb", "process_peak_rss_mb")  # fmt: skip


def measure_ingest(runner: Runner, log: Callable[[str], None], spec1: dict[str, Any], nspec1: dict[str, Any],
                   edited: Path, edit_doc: str, tmp: Path, repeats: int, naive: bool) -> dict[str, Any]:  # fmt: skip
    from evals.bench.corpus import edit_document

    out: dict[str, Any] = {"ours": {}, "naive": {}}
    log("ingest: cold (empty data folder and embedding cache)")
    cold = runner.job("ingest", spec1)
    cold["chunks_per_s"] = cold["chunks"] / cold["seconds"] if cold["seconds"] else None
    cold["embed_share"] = cold["embed_seconds"] / cold["seconds"] if cold["seconds"] else None
    cold["embed_chunks_per_s"] = (
        cold["chunks_embedded"] / cold["embed_seconds"] if cold["embed_seconds"] else None
    )
    out["ours"]["cold"] = cold
    if naive:
        log("ingest: naive baseline cold")
        ncold = runner.job("naive_build", nspec1)
        ncold["chunks_per_s"] = ncold["chunks"] / ncold["seconds"] if ncold["seconds"] else None
        out["naive"]["cold"] = ncold

    log(f"ingest: unchanged corpus ×{repeats}")
    out["ours"]["unchanged"] = median_of([runner.job("ingest", spec1) for _ in range(repeats)], INGEST_KEYS)
    if naive:
        out["naive"]["unchanged"] = median_of([runner.job("naive_build", nspec1) for _ in range(repeats)],
                                               INGEST_KEYS)  # fmt: skip

    # one document changed: a copy of the x1 data folder (index + cache) against an edited corpus copy
    espec = {**spec1, "corpus_dir": str(edited), "data_dir": str(tmp / "ours-edit")}
    shutil.copytree(spec1["data_dir"], espec["data_dir"])
    nespec = {**nspec1, "corpus_dir": str(edited), "data_dir": str(tmp / "naive-edit")}
    if naive:
        shutil.copytree(nspec1["data_dir"], nespec["data_dir"], ignore=shutil.ignore_patterns("naive-work"))
    runs, nruns, edits = [], [], []
    log(f"ingest: one changed document ({edit_doc}) ×{repeats}")
    for n in range(1, repeats + 1):
        edits.append(edit_document(edited, edit_doc, n))
        runs.append(runner.job("ingest", espec))
        if naive:
            nruns.append(runner.job("naive_build", nespec))
    out["ours"]["one_changed"] = median_of(runs, INGEST_KEYS)
    out["ours"]["one_changed"]["edit"] = edits[0]
    out["ours"]["one_changed"]["changed_docs"] = runs[0].get("changed")
    if naive:
        out["naive"]["one_changed"] = median_of(nruns, INGEST_KEYS)
    shutil.rmtree(espec["data_dir"], ignore_errors=True)
    shutil.rmtree(nespec["data_dir"], ignore_errors=True)
    return out
