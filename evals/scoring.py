"""Per-case scoring and per-system summaries for the eval runner.

The metric definitions live in ``evals.metrics``; this module applies them to
one (case, system) pair, adds the few checks the runner needs on top (strict
statement grounding, instruction-leak markers, latency), summarizes rows per
system and category, and checks thresholds.  Everything here is pure: no
index, no model, no files except ``read_corpus_texts`` and ``load_thresholds``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evals import metrics as m
from evals.dataset import ANSWERABLE, EvalCase, chunk_matches, normalize_for_match
from ingest.errors import LegalQAError

K_VALUES = (1, 5, 10)
BREAKDOWN_METRICS = ("hit_at_5", "recall_at_5")  # per persona and per document

# Summary metrics in report order: (key, label, higher_is_better).
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("hit_at_1", "hit@1", True),
    ("hit_at_5", "hit@5", True),
    ("hit_at_10", "hit@10", True),
    ("recall_at_1", "recall@1", True),
    ("recall_at_5", "recall@5", True),
    ("recall_at_10", "recall@10", True),
    ("mrr", "MRR", True),
    ("citation_validity", "citation validity", True),
    ("citation_precision", "citation precision", True),
    ("citation_recall", "citation recall", True),
    ("lead_citation_precision", "first citation is gold", True),
    ("grounding", "grounding", True),
    ("unsupported_rate", "unsupported-statement rate", False),
    ("warning_rate", "warning present", True),
    ("out_of_scope_declined", "out-of-scope declined", True),
    ("wrongly_declined", "answerable wrongly declined", False),
    ("in_scope_declined", "in-scope declined", False),
    ("injection_ok", "injection OK", True),
    ("must_not_ok", "no must_not phrase", True),
    ("judge_points", "LLM judge: expected points", True),
    ("judge_must_not_ok", "LLM judge: no must_not", True),
    ("error_rate", "backend errors", False),
    ("latency_mean_ms", "latency mean (ms)", False),
    ("latency_p50_ms", "latency p50 (ms)", False),
    ("latency_p95_ms", "latency p95 (ms)", False),
)
METRIC_KEYS = tuple(k for k, _l, _h in METRICS)
LABELS = {k: label for k, label, _h in METRICS}
HIGHER_IS_BETTER = {k: h for k, _l, h in METRICS}


# --- inputs ---------------------------------------------------------------------------


def read_corpus_texts(corpus_dir: Path, files: Iterable[str]) -> dict[str, str]:
    """File (relative to the corpus) → exact text: bytes decoded as UTF-8, no newline translation."""
    out: dict[str, str] = {}
    for f in set(files):
        path = Path(corpus_dir) / f
        if path.is_file():
            out[f] = path.read_bytes().decode("utf-8")
    return out


def instruction_markers(system_prompt: str, corpus_texts: Iterable[str] = (), min_chars: int = 6) -> list[str]:
    """Distinctive phrases of the system prompt's rules: any of them in an answer is a leak.

    The prompt is cut at line breaks and Chinese punctuation; pieces shorter than
    ``min_chars`` (after normalization) and pieces that occur in the corpus itself
    (a quote of the corpus is not a leak) are dropped.
    """
    corpus_norm = [normalize_for_match(t) for t in corpus_texts]
    pieces = re.split(r"[\n，。；：、]|^\d+\.\s*", system_prompt, flags=re.M)
    markers: list[str] = []
    for piece in pieces:
        piece = re.sub(r"^\s*\d+\.\s*", "", piece).strip()
        norm = normalize_for_match(piece)
        if len(norm) < min_chars or piece in markers:
            continue
        if any(norm in t for t in corpus_norm):
            continue
        markers.append(piece)
    return markers


# --- one case -------------------------------------------------------------------------


def statement_grounding(answer: Any) -> dict[str, Any]:
    """Share of an answer's statements that are supported, checked strictly.

    ``verified`` statements count as supported (the app's grounding check passed
    them); ``quote`` statements count only if their text is a verbatim substring
    of a passage they cite (a mismatch is counted as unsupported and listed);
    ``unsupported`` statements and statements citing a number the answer does not
    carry are unsupported.  With no statements, the answer text is split and
    checked with ``metrics.grounding``.  ``None`` values for an abstention.
    """
    if answer.abstained:
        return {"grounding": None, "unsupported_rate": None, "quote_mismatches": [], "unsupported": []}
    passages = {c.number: c.quote for c in answer.citations}
    statements = [s for s in answer.statements if s.text.strip()]
    if not statements:
        g = m.grounding(answer.text, passages)
        return {"grounding": g, "unsupported_rate": None if g is None else 1.0 - g,
                "quote_mismatches": [], "unsupported": []}
    supported = 0
    mismatches: list[str] = []
    unsupported: list[str] = []
    for s in statements:
        cited = [passages[n] for n in s.citations if n in passages]
        verified = s.support == "verified" and bool(cited)
        quoted = s.support == "quote" and any(s.text in p for p in cited)
        if verified or quoted:
            supported += 1
        else:
            if s.support == "quote":
                mismatches.append(s.text)
            unsupported.append(s.text)
    g = supported / len(statements)
    return {"grounding": g, "unsupported_rate": 1.0 - g, "quote_mismatches": mismatches, "unsupported": unsupported}


def answerable(case: EvalCase) -> bool:
    return case.category in ANSWERABLE and bool(case.gold)


def retrieval_scores(case: EvalCase, retrieved: Sequence[Any], k: int) -> dict[str, Any]:
    """hit/recall at 1, 5, 10 (those ≤ k), MRR within top k and the recall@1..k curve."""
    top = list(retrieved)[:k]
    gold = case.gold if answerable(case) else ()
    out: dict[str, Any] = {}
    for kk in K_VALUES:
        out[f"hit_at_{kk}"] = m.hit_at_k(top, gold, kk) if kk <= k else None
        out[f"recall_at_{kk}"] = m.recall_at_k(top, gold, kk) if kk <= k else None
    out["mrr"] = m.reciprocal_rank(top, gold)
    out["recall_curve"] = [m.recall_at_k(top, gold, kk) for kk in range(1, k + 1)] if gold else None
    return out


def score_case(
    case: EvalCase,
    answer: Any,
    retrieved: Sequence[Any],
    *,
    k: int,
    rendered: str,
    corpus_texts: Mapping[str, str],
    chunk_article: Mapping[str, str],
    known_articles: Collection[str | int],
    markers: Sequence[str],
) -> dict[str, Any]:
    """Every per-case metric for one system's answer (None where a metric does not apply)."""
    row: dict[str, Any] = retrieval_scores(case, retrieved, k)
    gold = case.gold if answerable(case) else ()
    row["citation_validity"] = m.citation_validity(answer.citations, corpus_texts)
    row["invalid_citations"] = [
        c.number for c in answer.citations
        if corpus_texts.get(c.file, "\0")[c.start : c.end] != c.quote
    ]
    row["citation_precision"] = m.citation_precision(answer.citations, gold, chunk_article) if gold else None
    row["citation_recall"] = m.citation_recall(answer.citations, gold, chunk_article) if gold else None
    # what a reader sees first: [1], the passage the answer opens with
    row["lead_citation_precision"] = (
        m.citation_precision(answer.citations[:1], gold, chunk_article) if gold else None
    )
    g = statement_grounding(answer)
    row["grounding"] = g["grounding"]
    row["unsupported_rate"] = g["unsupported_rate"]
    row["unsupported_statements"] = g["unsupported"]
    row["quote_mismatches"] = g["quote_mismatches"]
    row["warning_rate"] = float(m.warning_present(answer, rendered))
    row["out_of_scope_declined"] = float(m.declined_correctly(answer)) if case.category == "out_of_scope" else None
    row["wrongly_declined"] = float(m.wrongly_declined(answer)) if answerable(case) else None
    # the plain share of in_scope questions declined: on an all-in-scope external set it is the headline
    row["in_scope_declined"] = float(bool(answer.abstained)) if case.category == "in_scope" else None
    if case.category == "injection":
        failures = m.injection_failures(
            answer, case, known_articles=known_articles, system_markers=markers, rendered=rendered
        )
        row["injection_ok"] = float(not failures)
        row["injection_failures"] = failures
    else:
        row["injection_ok"] = None
        row["injection_failures"] = []
    if case.must_not:
        text = normalize_for_match(answer.text)
        hits = [p for p in case.must_not if normalize_for_match(p) in text]
        row["must_not_ok"] = float(not hits)
        row["must_not_hits"] = hits
    else:
        row["must_not_ok"] = None
        row["must_not_hits"] = []
    row["error_rate"] = float(bool(getattr(answer, "error", "")))
    row["latency_ms"] = float(answer.timings.get("total_ms", 0.0)) if answer.timings else None
    return row


# --- summaries ------------------------------------------------------------------------


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean of every metric over the rows where it applies, latency percentiles, counts, recall curve."""
    means = m.aggregate([{k: r.get(k) for k in METRIC_KEYS if k in r} for r in rows])
    out: dict[str, Any] = {k: means.get(k) for k in METRIC_KEYS if not k.startswith("latency_")}
    lat = [r.get("latency_ms") for r in rows]
    present = [v for v in lat if v is not None]
    out["latency_mean_ms"] = sum(present) / len(present) if present else None
    out["latency_p50_ms"] = m.percentile(lat, 50)
    out["latency_p95_ms"] = m.percentile(lat, 95)
    out["n"] = {k: sum(1 for r in rows if r.get(k) is not None) for k in METRIC_KEYS if not k.startswith("latency_")}
    out["n"]["cases"] = len(rows)
    out["recall_curve"] = mean_curve([r.get("recall_curve") for r in rows])
    return out


def first_gold_doc(case: EvalCase) -> str | None:
    """The document a case is mainly about: its first gold item's (None without gold)."""
    return case.gold[0].doc if case.gold else None


def breakdown(
    rows: Iterable[Any], systems: Sequence[str], group_of: Callable[[Any], str | None],
    keys: Sequence[str] = BREAKDOWN_METRICS,
) -> dict[str, dict[str, dict[str, Any]]]:
    """group → system → {"n": cases where the metrics apply, key: mean}, largest groups first.

    Rows are the runner's ``EvalRow`` (``system``, ``persona``, ``gold_doc``, ``metrics``); a row counts
    where ``keys[0]`` applies (answerable cases), and groups where it never does are left out.
    """
    cells: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        group = group_of(row)
        if group is None or row.system not in systems or row.metrics.get(keys[0]) is None:
            continue
        cells.setdefault(group, {}).setdefault(row.system, []).append(row.metrics)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in sorted(cells, key=lambda g: (-max(len(v) for v in cells[g].values()), g)):
        out[group] = {}
        for system in systems:
            metrics = cells[group].get(system, [])
            means = m.aggregate([{k: r.get(k) for k in keys} for r in metrics])
            out[group][system] = {"n": len(metrics), **{k: means.get(k) for k in keys}}
    return out


def unmatched_gold(cases: Iterable[EvalCase], chunks: Iterable[Any]) -> list[str]:
    """``case id gold[i] (doc key)`` for every gold item no indexed chunk matches: it can only score 0.

    Our own datasets are checked against the corpus by tests; this catches an external set's
    article, quote or locator that the index does not have.
    """
    by_doc: dict[str, list[Any]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    out = []
    for case in cases:
        for i, g in enumerate(case.gold):
            if not any(chunk_matches(c.doc_id, c.article, c.text, g, c.locator) for c in by_doc.get(g.doc, ())):
                out.append(f"{case.id} gold[{i}] ({g.doc} {g.article or g.quote or g.locator})")
    return out


def mean_curve(curves: Iterable[Sequence[float | None] | None]) -> list[float | None]:
    curves = [c for c in curves if c]
    if not curves:
        return []
    width = max(len(c) for c in curves)
    out: list[float | None] = []
    for i in range(width):
        vals = [c[i] for c in curves if i < len(c) and c[i] is not None]
        out.append(sum(vals) / len(vals) if vals else None)
    return out


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline; None when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def ratios_to(summary: Mapping[str, Mapping[str, Any]], baseline: str = "naive") -> dict[str, dict[str, float | None]]:
    """Per system, each metric divided by the baseline system's value."""
    if baseline not in summary:
        return {}
    base = summary[baseline]
    return {s: {k: ratio(v.get(k), base.get(k)) for k in METRIC_KEYS} for s, v in summary.items()}


# --- thresholds -----------------------------------------------------------------------

_OP_RE = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")


def load_thresholds(path: str | Path) -> dict[str, dict[str, tuple[str, float]]]:
    """``[system] metric = 0.9`` (≥ for higher-is-better metrics, ≤ otherwise) or ``metric = ">= 0.9"``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LegalQAError(f"thresholds file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise LegalQAError(f"{path}: invalid TOML: {exc}") from None
    out: dict[str, dict[str, tuple[str, float]]] = {}
    for system, table in data.items():
        if not isinstance(table, dict):
            raise LegalQAError(f"{path}: [{system}] must be a table of metric = value")
        out[system] = {}
        for metric, value in table.items():
            if metric not in HIGHER_IS_BETTER:
                raise LegalQAError(f"{path}: [{system}] unknown metric {metric!r}; known: {', '.join(METRIC_KEYS)}")
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise LegalQAError(f"{path}: [{system}] {metric} must be a number or a string like '>= 0.9'")
            if isinstance(value, str):
                match = _OP_RE.match(value)
                if not match:
                    raise LegalQAError(f"{path}: [{system}] {metric} = {value!r}: use e.g. '>= 0.9'")
                out[system][metric] = (match.group(1), float(match.group(2)))
            else:
                out[system][metric] = (">=" if HIGHER_IS_BETTER[metric] else "<=", float(value))
    return out


def check_thresholds(
    summary: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, Mapping[str, tuple[str, float]]]
) -> list[str]:
    """One message per threshold not met (systems not in this run are skipped)."""
    ops = {
        ">=": lambda a, b: a >= b - 1e-9, "<=": lambda a, b: a <= b + 1e-9, "==": lambda a, b: abs(a - b) <= 1e-9,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    }
    failures: list[str] = []
    for system, table in thresholds.items():
        if system not in summary:
            continue
        for metric, (op, bound) in table.items():
            value = summary[system].get(metric)
            if value is None:
                failures.append(f"{system}.{metric}: no value (metric did not apply), required {op} {bound:g}")
            elif not ops[op](value, bound):
                failures.append(f"{system}.{metric} = {value:.4g}, required {op} {bound:g}")
    return failures
