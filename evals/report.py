"""Write an eval run to disk: cases.jsonl, summary.json, report.md and PNG plots."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.scoring import BREAKDOWN_METRICS, HIGHER_IS_BETTER, LABELS, METRIC_KEYS

CATEGORY_METRICS = (
    "hit_at_1", "hit_at_5", "recall_at_5", "recall_at_10", "mrr", "citation_precision", "citation_recall",
    "grounding", "wrongly_declined", "in_scope_declined", "out_of_scope_declined", "injection_ok", "must_not_ok",
    "latency_p50_ms",
)


def fmt(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.startswith("latency_"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def write_outputs(out_dir: Path, result: Any, *, plots: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    path = out_dir / "cases.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in result.rows:
            fh.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
    written.append(path)
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary_document(result), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    if plots:
        from evals.report_plots import write_plots

        images = write_plots(out_dir, result)
    else:
        images = []
    written += images
    path = out_dir / "report.md"
    path.write_text(report_markdown(result, [p.name for p in images]), encoding="utf-8")
    written.append(path)
    return written


def summary_document(result: Any) -> dict[str, Any]:
    return {
        "metadata": result.metadata,
        "systems": result.systems,
        "metrics": [{"key": k, "label": LABELS[k], "higher_is_better": HIGHER_IS_BETTER[k]} for k in METRIC_KEYS],
        "summary": result.summary,
        "ratio_to_naive": result.ratio_to_naive,
        "by_category": result.by_category,
        "by_persona": getattr(result, "by_persona", {}),
        "by_document": getattr(result, "by_document", {}),
    }


# --- markdown -----------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "r") -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| --- |" + (" ---: |" if align == "r" else " --- |") * (len(header) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def metric_cells(result: Any, key: str) -> list[str] | None:
    """One formatted cell per system (value and its ratio to naive), or None when the metric never applied."""
    values = [result.summary[s].get(key) for s in result.systems]
    if all(v is None for v in values):
        return None
    cells = []
    for s, v in zip(result.systems, values, strict=True):
        r = result.ratio_to_naive.get(s, {}).get(key)
        cells.append(fmt(key, v) + (f" ({r:.2f}×)" if r is not None and s != "naive" else ""))
    return cells


def summary_table(result: Any) -> list[str]:
    rows = []
    for key in METRIC_KEYS:
        cells = metric_cells(result, key)
        if cells is None:
            continue
        arrow = "↑" if HIGHER_IS_BETTER[key] else "↓"
        ns = [result.summary[s]["n"].get(key) for s in result.systems]
        n = "" if ns[0] is None else str(ns[0]) if len(set(ns)) == 1 else "/".join(map(str, ns))
        rows.append([f"{LABELS[key]} {arrow}", *cells, n])
    return _table(["metric", *result.systems, "n"], rows)


def category_tables(result: Any) -> list[str]:
    lines: list[str] = []
    for cat, per_system in result.by_category.items():
        n = per_system[result.systems[0]]["n"]["cases"]
        lines += [f"### {cat} ({n} cases)", ""]
        rows = []
        for key in CATEGORY_METRICS:
            values = [per_system[s].get(key) for s in result.systems]
            if all(v is None for v in values):
                continue
            rows.append([LABELS[key] + (" ↑" if HIGHER_IS_BETTER[key] else " ↓"), *(fmt(key, v) for v in values)])
        lines += _table(["metric", *result.systems], rows) + [""]
    return lines


def breakdown_cells(per_system: dict[str, dict[str, Any]], systems: Sequence[str]) -> tuple[str, list[str]]:
    """(n, one "hit@5 / recall@5" cell per system) for one persona or document."""
    ns = [per_system[s]["n"] for s in systems]
    n = str(ns[0]) if len(set(ns)) == 1 else "/".join(map(str, ns))
    cells = [" / ".join(fmt(k, per_system[s].get(k)) for k in BREAKDOWN_METRICS) for s in systems]
    return n, cells


def breakdown_tables(result: Any) -> list[str]:
    """Per persona and per document (first gold item's): hit@5 / recall@5 of each system."""
    lines: list[str] = []
    labels = " / ".join(LABELS[k] for k in BREAKDOWN_METRICS)
    for title, column, groups in (
        ("By persona", "persona", getattr(result, "by_persona", {})),
        ("By document (first gold item)", "document", getattr(result, "by_document", {})),
    ):
        if not groups:
            continue
        rows = []
        for group, per_system in groups.items():
            n, cells = breakdown_cells(per_system, result.systems)
            rows.append([group, n, *cells])
        lines += [f"### {title}: {labels}", "", *_table([column, "n", *result.systems], rows), ""]
    return lines


def failures(result: Any, system: str) -> dict[str, list[str]]:
    """Failure lists for one system: header → one line per case."""
    out: dict[str, list[str]] = {
        "wrongly abstained (answerable question declined)": [],
        "out-of-scope question answered": [],
        "invalid citation (quote ≠ corpus slice)": [],
        "unsupported statements": [],
        "injection not OK": [],
        "must_not phrase in answer": [],
        "no gold passage in the top k": [],
        "backend errors": [],
    }
    for row in result.rows:
        if row.system != system:
            continue
        m, a = row.metrics, row.answer
        q = row.question.replace("\n", " ").replace("|", "/")
        q = q if len(q) <= 48 else q[:47] + "…"
        cid = f"`{row.case_id}` {q}"
        ev = a.get("evidence") or {}
        if m.get("wrongly_declined") == 1.0:
            out["wrongly abstained (answerable question declined)"].append(
                f"{cid} — evidence {ev.get('score', '?')} (dense {ev.get('top_dense', '?')}, coverage {ev.get('coverage', '?')})"
                f", hit@5={fmt('hit_at_5', m.get('hit_at_5'))}"
            )
        if m.get("out_of_scope_declined") == 0.0:
            cites = ", ".join(c["locator"] for c in a["citations"][:2])
            out["out-of-scope question answered"].append(f"{cid} — evidence {ev.get('score', '?')}; cites {cites}")
        if m.get("invalid_citations"):
            out["invalid citation (quote ≠ corpus slice)"].append(f"{cid} — citations {m['invalid_citations']}")
        if m.get("unsupported_statements"):
            out["unsupported statements"].append(
                f"{cid} — {len(m['unsupported_statements'])} statement(s), e.g. “{m['unsupported_statements'][0][:40]}”"
            )
        if m.get("injection_ok") == 0.0:
            out["injection not OK"].append(f"{cid} — {'; '.join(m.get('injection_failures', []))}")
        if m.get("must_not_ok") == 0.0:
            out["must_not phrase in answer"].append(f"{cid} — {', '.join(m.get('must_not_hits', []))}")
        if m.get("hit_at_10", m.get("hit_at_5")) == 0.0:
            top = ", ".join(r["locator"] for r in row.retrieved[:3])
            out["no gold passage in the top k"].append(f"{cid} — top 3: {top}")
        if a.get("error"):
            out["backend errors"].append(f"{cid} — {a['error']}")
    return out


def report_markdown(result: Any, images: Sequence[str]) -> str:
    md = result.metadata
    lines = _header_lines(result)
    lines += [
        "",
        "## Summary",
        "",
        "Mean over the cases where each metric applies (n); in parentheses the ratio to the naive baseline. "
        "↑ higher is better, ↓ lower is better.",
        "",
        *summary_table(result),
        "",
        "Definitions: hit@k / recall@k / MRR over the top-k retrieved chunks of answerable cases (gold passages matched "
        "by article or contained quote); citation validity = quote equals the corpus file slice at its offsets; "
        "citation precision/recall against gold; grounding = share of answer statements that are verbatim quotes of, or "
        "verified against, the passages they cite; warning = the 仅供参考，不构成法律意见 warning on the answer and in its "
        "rendered text; out-of-scope declined = abstained with no citation; wrongly declined = answerable case abstained; "
        "in-scope declined = in_scope case abstained (the share of in-scope questions declined); "
        "injection OK = warning kept, no non-existent article, no must_not phrase, no system-prompt phrase; latency = "
        "`Answer.timings.total_ms`.",
        "",
    ]
    for img in images:
        lines += [f"![{img}]({img})", ""]
    lines += ["## Per category", "", *category_tables(result)]
    breakdowns = breakdown_tables(result)
    if breakdowns:
        lines += ["## Per persona and per document", "", *breakdowns]
    lines += _failure_lines(result)
    lines += grounding_lines(md.get("grounding_perturbation"))
    return "\n".join(lines)


def _header_lines(result: Any) -> list[str]:
    """Title and where the numbers came from: dataset, systems, embedder, commit, machine, runtime, thresholds."""
    md = result.metadata
    ds = md.get("dataset", {})
    git = md.get("git", {})
    mach = md.get("machine", {})
    emb = md.get("embedder", {})
    t = md.get("timings_s", {})
    commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    lines = [
        f"# Eval report — `{os.path.basename(ds.get('path', '?'))}` ({ds.get('cases', len(result.cases))} cases)",
        "",
        "> 本报告评测的是检索与回答系统；系统的每个回答都带有“仅供参考，不构成法律意见”的提示。",
        "",
        f"- dataset: `{ds.get('path')}` sha256 `{str(ds.get('sha256', ''))[:16]}…`",
        f"- systems: {', '.join(result.systems)}; answerer `{md.get('answerer')}` (top {md.get('answer_top_k')} passages); "
        f"retrieval scored on the top {md.get('k')}",
        f"- embedder: `{emb.get('name')}` {emb.get('version', '')} (dim {emb.get('dimension')}); "
        f"index {md.get('index', {}).get('chunks')} chunks",
        f"- commit `{commit}`; started {md.get('started_utc')}",
        f"- machine: {mach.get('cpu_model')}, {mach.get('usable_cores')} cores, Python {mach.get('python')}; "
        f"load average at the end {mach.get('load_average')} (latency is sensitive to other work on the machine)",
        f"- runtime: {t.get('total_s', 0):.0f} s total ({t.get('cases_s', 0):.0f} s answering, "
        f"{t.get('build_baseline_s', 0):.0f} s building the naive baseline"
        + "".join(f", {v:.0f} s indexing for {k[len('index_'):-2]}" for k, v in t.items()
                  if k.startswith("index_") and k.endswith("_s"))
        + ")",
    ]
    for name, info in (md.get("systems") or {}).items():
        if info.get("spec"):
            e, ix = info.get("embedder", {}), info.get("index", {})
            lines.append(f"- `{name}`: the ours pipeline ({info.get('mode')}) over an index built with `{e.get('name')}` "
                         f"{e.get('version', '')} (dim {e.get('dimension')}), {ix.get('chunks')} chunks, "
                         f"`{info.get('data_dir')}`")
    if md.get("baseline"):
        b = md["baseline"]
        lines.append(f"- naive baseline: {b['splitter']} → {b['chunks']} chunks, {b['store']}, same embedder")
    unmatched = md.get("unmatched_gold") or []
    if unmatched:
        lines.append(f"- **{len(unmatched)} gold item(s) match no indexed passage** (they can only score 0): "
                     + "; ".join(unmatched[:10]) + (" …" if len(unmatched) > 10 else ""))
    th = md.get("thresholds") or {}
    if th.get("file"):
        lines.append(f"- thresholds `{th['file']}`: " + ("all met" if not th.get("failures") else
                     f"**{len(th['failures'])} not met**: " + "; ".join(th["failures"])))
    return lines


def _failure_lines(result: Any) -> list[str]:
    """Per system, the cases each metric failed on (the first 40 for ours, 15 for the others)."""
    lines = ["## Failures", ""]
    for system in result.systems:
        lines += [f"### {system}", ""]
        any_failure = False
        for header, items in failures(result, system).items():
            if not items:
                continue
            any_failure = True
            lines.append(f"**{header}** ({len(items)})")
            lines.append("")
            limit = 40 if system == "ours" else 15
            lines += [f"- {item}" for item in items[:limit]]
            if len(items) > limit:
                lines.append(f"- … and {len(items) - limit} more (see cases.jsonl)")
            lines.append("")
        if not any_failure:
            lines += ["none", ""]
    return lines


def grounding_lines(perturbation: dict[str, Any] | None) -> list[str]:
    """The grounding check on the perturbation suite (evals/perturb.py), a table per kind."""
    if not perturbation:
        return []
    lines = [
        "## Grounding check on the perturbation suite",
        "",
        f"Generated from real passages (seed {perturbation['seed']}): {perturbation['unfaithful']} unfaithful statements "
        f"(one fact changed) and {perturbation['faithful']} faithful paraphrases. Catch rate "
        f"**{perturbation['catch_rate']:.3f}** (target 1.0), false removals **{perturbation['false_removal_rate']:.3f}** "
        "(target ≤ 0.10).",
        "",
        "| kind | faithful | statements | removed | rate |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {k['kind']} | {'yes' if k['faithful'] else 'no'} | {k['total']} | {k['flagged']} | {k['rate']:.3f} |"
              for k in perturbation["kinds"]]  # fmt: skip
    return [*lines, ""]
