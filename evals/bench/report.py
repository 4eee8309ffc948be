"""The benchmark's verdicts (targets, ratios ours/naive), its table, ``bench.json`` and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.bench.common import TARGETS, dig, ratio


def finish(result: dict[str, Any]) -> None:
    """Targets (pass/miss) and ratios ours/naive."""
    cold = dig(result, ("ingest", "ours", "cold")) or {}
    if cold.get("embed_seconds") and cold.get("chunks"):
        result["notes"].append(
            f"cold ingest: {cold['chunks']} chunks, {cold['embed_seconds']:.1f} s embedding "
            f"({100 * (cold.get('embed_share') or 0):.0f} % of the ingest call)"
        )
    largest = dig(result, ("scaling", "ours", "points"))
    if largest and cold.get("embed_seconds"):
        p = largest[-1]
        per_chunk = cold["embed_seconds"] / max(1, cold.get("chunks_embedded") or cold["chunks"])
        est = p["ingest_s"] + per_chunk * p["chunks"]
        result["scaling"]["ours"]["estimated_cold_ingest_s_largest"] = est
        result["notes"].append(
            f"×{p['factor']} ingest was measured with cached vectors ({p['ingest_s']:.1f} s); with every chunk "
            f"embedded at the measured cold rate it would take about {est:.0f} s (estimate, not measured)"
        )
    targets = []
    for key, label, path, limit, unit in TARGETS:
        value = dig(result, path)
        targets.append({"key": key, "label": label, "value": value, "target": limit, "unit": unit,
                        "pass": None if value is None else bool(value <= limit)})  # fmt: skip
    result["targets"] = targets
    pairs = {
        "ingest_cold_s": (("ingest", "ours", "cold", "process_s"), ("ingest", "naive", "cold", "process_s")),
        "ingest_cold_chunks_per_s": (("ingest", "ours", "cold", "chunks_per_s"), ("ingest", "naive", "cold", "chunks_per_s")),
        "ingest_unchanged_s": (("ingest", "ours", "unchanged", "process_s"), ("ingest", "naive", "unchanged", "process_s")),
        "ingest_one_changed_s": (("ingest", "ours", "one_changed", "process_s"), ("ingest", "naive", "one_changed", "process_s")),
        "retrieve_p50_ms": (("queries", "ours", "retrieve", "p50"), ("queries", "naive", "retrieve", "p50")),
        "retrieve_p95_ms": (("queries", "ours", "retrieve", "p95"), ("queries", "naive", "retrieve", "p95")),
        "retrieve_p99_ms": (("queries", "ours", "retrieve", "p99"), ("queries", "naive", "retrieve", "p99")),
        "ask_p50_ms": (("queries", "ours", "ask", "p50"), ("queries", "naive", "ask", "p50")),
        "ask_p95_ms": (("queries", "ours", "ask", "p95"), ("queries", "naive", "ask", "p95")),
        "ask_p99_ms": (("queries", "ours", "ask", "p99"), ("queries", "naive", "ask", "p99")),
        "cold_start_cli_s": (("cold_start", "ours", "cli", "median_s"), ("cold_start", "naive", "cli", "median_s")),
        "ingest_peak_rss_mb": (("memory", "ours", "ingest_peak_rss_mb"), ("memory", "naive", "ingest_peak_rss_mb")),
        "serving_rss_mb": (("memory", "ours", "serving_rss_mb"), ("memory", "naive", "serving_rss_mb")),
        "scaling_ask_p95_ratio": (("scaling", "ours", "ask_p95_ratio_max"), ("scaling", "naive", "ask_p95_ratio_max")),
    }  # fmt: skip
    result["ratios"] = {
        name: {
            "ours": dig(result, a),
            "naive": dig(result, b),
            "ratio": ratio(dig(result, a), dig(result, b)),
        }
        for name, (a, b) in pairs.items()
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if unit == "ms" or abs(value) < 10:
            text = f"{value:.1f}" if abs(value) >= 1 or unit != "×" else f"{value:.2f}"
        else:
            text = f"{value:.0f}"
        if unit == "×":
            text = f"{value:.2f}"
        return f"{text} {unit}".strip() if unit and unit != "×" else (text + "×" if unit == "×" else text)
    return str(value)


ROWS = (  # (label, ours path, naive path, unit, target key)
    ("ingest: cold full corpus", ("ingest", "ours", "cold", "process_s"), ("ingest", "naive", "cold", "process_s"), "s", "ingest_cold"),
    ("  chunks", ("ingest", "ours", "cold", "chunks"), ("ingest", "naive", "cold", "chunks"), "", None),
    ("  chunks/s (whole ingest call)", ("ingest", "ours", "cold", "chunks_per_s"), ("ingest", "naive", "cold", "chunks_per_s"), "", None),
    ("  embedding share of ingest", ("ingest", "ours", "cold", "embed_share"), None, "", None),
    ("ingest: unchanged corpus", ("ingest", "ours", "unchanged", "process_s"), ("ingest", "naive", "unchanged", "process_s"), "s", "ingest_unchanged"),
    ("ingest: one document changed", ("ingest", "ours", "one_changed", "process_s"), ("ingest", "naive", "one_changed", "process_s"), "s", "ingest_one_changed"),
    ("retrieval p50", ("queries", "ours", "retrieve", "p50"), ("queries", "naive", "retrieve", "p50"), "ms", None),
    ("retrieval p95", ("queries", "ours", "retrieve", "p95"), ("queries", "naive", "retrieve", "p95"), "ms", "retrieve_p95"),
    ("retrieval p99", ("queries", "ours", "retrieve", "p99"), ("queries", "naive", "retrieve", "p99"), "ms", None),
    ("ask p50", ("queries", "ours", "ask", "p50"), ("queries", "naive", "ask", "p50"), "ms", None),
    ("ask p95", ("queries", "ours", "ask", "p95"), ("queries", "naive", "ask", "p95"), "ms", "ask_p95"),
    ("ask p99", ("queries", "ours", "ask", "p99"), ("queries", "naive", "ask", "p99"), "ms", None),
    ("  ask CPU time per question", ("queries", "ours", "ask", "cpu_ms_per_q"), ("queries", "naive", "ask", "cpu_ms_per_q"), "ms", None),
    ("  query embedding p50", ("queries", "ours", "embed_query", "p50"), ("queries", "naive", "embed_query", "p50"), "ms", None),
    ("cold start → answer, CLI", ("cold_start", "ours", "cli", "median_s"), ("cold_start", "naive", "cli", "median_s"), "s", "cold_start_cli"),
    ("cold start → answer, app", ("cold_start", "ours", "app", "first_answer_s"), None, "s", "cold_start_app"),
    ("  app: server ready", ("cold_start", "ours", "app", "server_ready_s"), None, "s", None),
    ("peak RSS, cold ingest", ("memory", "ours", "ingest_peak_rss_mb"), ("memory", "naive", "ingest_peak_rss_mb"), "MB", None),
    ("RSS serving, after all questions", ("memory", "ours", "serving_rss_mb"), ("memory", "naive", "serving_rss_mb"), "MB", "serving_rss"),
    ("  streamlit server after 1st answer", ("memory", "ours", "streamlit_server_rss_mb"), None, "MB", None),
    ("scaling: largest/×1 ask p95", ("scaling", "ours", "ask_p95_ratio_max"), ("scaling", "naive", "ask_p95_ratio_max"), "×", "scaling_x16"),
)  # fmt: skip


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    targets = {t["key"]: t for t in result.get("targets", [])}
    rows = []
    for label, ours_path, naive_path, unit, tkey in ROWS:
        ours = dig(result, ours_path)
        naive = dig(result, naive_path) if naive_path else None
        if label.strip().startswith("embedding share") and isinstance(ours, float):
            ours_text = f"{100 * ours:.0f} %"
        else:
            ours_text = _fmt(ours, unit)
        t = targets.get(tkey) if tkey else None
        target = f"≤ {_fmt(t['target'], unit)}" if t else ""
        verdict = "" if not t else ("—" if t["pass"] is None else ("PASS" if t["pass"] else "MISS"))
        r = ratio(ours, naive)
        rows.append(
            [label, ours_text, target, verdict, _fmt(naive, unit), f"{r:.2f}" if r is not None else ""]
        )
    return rows


def print_report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    m, v, e = result["machine"], result["versions"], result["embedder"]
    console.print(f"[bold]legalqa bench[/] — {result['meta'].get('started')}  ({result['meta'].get('seconds')} s, "
                  f"{'quick' if result['meta'].get('quick') else 'full'})")  # fmt: skip
    console.print(f"machine: {m['host']}, {m['cores']} cores, {m['cpu_model']}, {m.get('memory_gib')} GiB; "
                  f"load avg start {m.get('load_average', m.get('loadavg_start'))} end {m.get('loadavg_end')}")  # fmt: skip
    console.print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    console.print(f"embedder: {e['name']} ({e['dimension']}-d, version {e['version']}); "
                  f"{result['meta'].get('questions')} questions {result['meta'].get('question_sources')}")  # fmt: skip
    table = Table(title="ours vs naive LangChain RAG (ratio = ours / naive)")
    for col, justify in (("measure", "left"), ("ours", "right"), ("target", "right"), ("", "center"),
                         ("naive", "right"), ("ratio", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in table_rows(result):
        style = "red" if row[3] == "MISS" else ("green" if row[3] == "PASS" else None)
        table.add_row(*row, style=style)
    console.print(table)
    scaling = result.get("scaling") or {}
    if scaling.get("ours", {}).get("points"):
        st = Table(title="scaling (vectors from the embedding cache; latency measured)")
        for col in (
            "system",
            "×",
            "chunks",
            "ingest s",
            "open s",
            "retrieve p50/p95 ms",
            "ask p50/p95 ms",
            "RSS MB",
        ):
            st.add_column(col, justify="right")
        for system in ("ours", "naive"):
            for p in scaling.get(system, {}).get("points", []):
                st.add_row(system, str(p["factor"]), str(p["chunks"]), f"{p['ingest_s']:.1f}", f"{p['open_s']:.1f}",
                           f"{p['retrieve']['p50']:.1f} / {p['retrieve']['p95']:.1f}",
                           f"{p['ask']['p50']:.1f} / {p['ask']['p95']:.1f}", f"{p['serving_rss_mb']:.0f}")  # fmt: skip
        console.print(st)
    parts = dig(result, ("queries", "ours", "parts"))
    if parts:
        console.print("ours, where retrieval time goes (p50 / p95 ms): " + ", ".join(
            f"{k} {v['p50']:.1f} / {v['p95']:.1f}" for k, v in parts.items()))  # fmt: skip
    for note in result.get("notes", []):
        console.print(f"note: {note}")
    for key in ("note",):
        if scaling.get(key):
            console.print(f"scaling: {scaling[key]}")


def write_outputs(out_dir: Path, result: dict[str, Any], *, plots: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if plots:
        write_plots(out_dir, result)


def write_plots(out_dir: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _plot_latency(plt, out_dir, result)
    _plot_scaling(plt, out_dir, result)
    _plot_ingest(plt, out_dir, result)


def _plot_latency(plt: Any, out_dir: Path, result: dict[str, Any]) -> None:
    """latency.png: CDFs of warm retrieval and ask latency, ours and naive, with the p95 targets."""
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("retrieve", "ask"), strict=True):
        for system, color in (("ours", "tab:blue"), ("naive", "tab:gray")):
            samples = dig(result, ("queries", system, "samples", key))
            if samples:
                xs = np.sort(samples)
                ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=system, color=color)
        limit = {"retrieve": 50, "ask": 100}[key]
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label=f"p95 target {limit} ms")
        ax.axhline(0.95, color="k", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} latency (ms, log)")
        ax.set_ylabel("fraction of questions")
        ax.set_title(f"warm {key} latency")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=110)
    plt.close(fig)


def _plot_scaling(plt: Any, out_dir: Path, result: dict[str, Any]) -> None:
    """scaling.png: ingest time and warm ask latency against the number of chunks."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for system, color in (("ours", "tab:blue"), ("naive", "tab:gray")):
        points = dig(result, ("scaling", system, "points")) or []
        if not points:
            continue
        chunks = [p["chunks"] for p in points]
        axes[0].plot(
            chunks, [p["ingest_s"] for p in points], "o-", color=color, label=f"{system} (cached vectors)"
        )
        for p in points:
            axes[0].annotate(f"×{p['factor']}", (p["chunks"], p["ingest_s"]), fontsize=8)
        axes[1].plot(chunks, [p["ask"]["p50"] for p in points], "o-", color=color, label=f"{system} ask p50")
        axes[1].plot(chunks, [p["ask"]["p95"] for p in points], "s--", color=color, label=f"{system} ask p95")
    est = dig(result, ("scaling", "ours", "estimated_cold_ingest_s_largest"))
    pts = dig(result, ("scaling", "ours", "points"))
    if est and pts:
        axes[0].plot([pts[-1]["chunks"]], [est], "x", color="tab:red", label="ours, estimated with embedding")
    axes[0].set_xlabel("chunks in the index")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ingest seconds (log)")
    axes[0].set_title("ingest time vs corpus size")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("chunks in the index")
    axes[1].set_ylabel("ms")
    axes[1].set_title("warm ask latency vs corpus size")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scaling.png", dpi=110)
    plt.close(fig)


def _plot_ingest(plt: Any, out_dir: Path, result: dict[str, Any]) -> None:
    """ingest.png: cold, unchanged and one-changed ingest seconds, ours and naive, with the targets."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = ["cold", "unchanged", "one_changed"]
    width = 0.38
    for i, (system, color) in enumerate((("ours", "tab:blue"), ("naive", "tab:gray"))):
        vals = [dig(result, ("ingest", system, name, "process_s")) or 0 for name in labels]
        ax.bar(np.arange(3) + (i - 0.5) * width, vals, width, label=system, color=color)
    for x, limit in zip(range(3), (60, 3, 10), strict=True):
        ax.hlines(limit, x - 0.45, x + 0.45, colors="tab:red", linestyles="--", lw=1)
    ax.set_xticks(range(3), ["cold full corpus", "unchanged", "one doc changed"])
    ax.set_yscale("log")
    ax.set_ylabel("seconds, process start to exit (log)")
    ax.set_title("ingest (red: targets)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "ingest.png", dpi=110)
    plt.close(fig)
