"""The eval report's plots: metrics per system, recall@k, answer latency (PNG, matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.report import fmt
from evals.scoring import HIGHER_IS_BETTER, LABELS

PLOT_METRICS = (
    "hit_at_1",
    "hit_at_5",
    "hit_at_10",
    "recall_at_5",
    "recall_at_10",
    "mrr",
    "citation_validity",
    "citation_precision",
    "citation_recall",
    "grounding",
    "warning_rate",
    "out_of_scope_declined",
    "wrongly_declined",
    "in_scope_declined",
    "injection_ok",
)
COLORS = {"ours": "#1f77b4", "dense": "#2ca02c", "bm25": "#ff7f0e", "naive": "#7f7f7f"}
# embedder systems (named by their spec) take these in order
EXTRA_COLORS = ("#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def system_colors(systems: Sequence[str]) -> list[str]:
    extra = iter(EXTRA_COLORS * (1 + len(systems) // len(EXTRA_COLORS)))
    return [COLORS[s] if s in COLORS else next(extra) for s in systems]


def write_plots(out_dir: Path, result: Any) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    color = system_colors(result.systems)
    return [
        _save(_metrics_plot(plt, result, color), out_dir / "metrics.png"),
        _save(_recall_plot(plt, result, color), out_dir / "recall_at_k.png"),
        _save(_latency_plot(plt, result, color), out_dir / "latency.png"),
    ]


def _metrics_plot(plt: Any, result: Any, color: list[str]) -> Any:
    """Every metric per system, grouped horizontal bars."""
    systems = result.systems
    keys = [k for k in PLOT_METRICS if any(result.summary[s].get(k) is not None for s in systems)]
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(keys) * (len(systems) + 1) + 1.6))
    height = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ys = [j + i * height - 0.4 + height / 2 for j in range(len(keys))]
        vals = [result.summary[s].get(k) or 0.0 for k in keys]
        bars = ax.barh(ys, vals, height=height * 0.92, color=color[i], label=s)
        for bar, k in zip(bars, keys, strict=True):
            v = result.summary[s].get(k)
            ax.text(
                bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, fmt(k, v), va="center", fontsize=7
            )
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels(
        [LABELS[k] + ("" if HIGHER_IS_BETTER[k] else " (lower is better)") for k in keys], fontsize=9
    )
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("score (mean over applicable cases)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(systems), fontsize=9, frameon=False)
    ax.set_title("Metrics per system", pad=24)
    fig.tight_layout()
    return fig


def _recall_plot(plt: Any, result: Any, color: list[str]) -> Any:
    """Recall@k curves, k = 1 … the retrieval depth scored."""
    systems = result.systems
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, s in enumerate(systems):
        curve = result.summary[s].get("recall_curve") or []
        if curve:
            ks = list(range(1, len(curve) + 1))
            ax.plot(
                ks, [c if c is not None else float("nan") for c in curve], marker="o", color=color[i], label=s
            )
    ax.set_xlabel("k (top-k retrieved chunks)")
    ax.set_ylabel("recall@k (mean over answerable cases)")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(range(1, max(2, result.metadata.get("k", 10)) + 1))
    ax.set_title("Recall@k per system")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _latency_plot(plt: Any, result: Any, color: list[str]) -> Any:
    """Answer latency per system, box plots with the median marked."""
    systems = result.systems
    fig, ax = plt.subplots(figsize=(7, 4.5))
    data = [
        [r.metrics["latency_ms"] for r in result.rows if r.system == s and r.metrics.get("latency_ms")]
        for s in systems
    ]
    if any(data):
        box = ax.boxplot([d or [0.0] for d in data], showfliers=True, patch_artist=True, widths=0.5)
        ax.set_xticks(range(1, len(systems) + 1), systems)
        for patch, c in zip(box["boxes"], color, strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.5)
        for i, d in enumerate(data, start=1):
            if d:
                med = sorted(d)[len(d) // 2]
                ax.annotate(
                    f"p50 {med:.0f} ms",
                    (i + 0.27, med),
                    xytext=(3, 0),
                    textcoords="offset points",
                    fontsize=8,
                    va="center",
                )
        if max(max(d) for d in data if d) / max(1e-9, min(min(d) for d in data if d)) > 30:
            ax.set_yscale("log")
    ax.set_ylabel("latency per question (ms, Answer.timings.total_ms)")
    ax.set_title("Answer latency per system")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
