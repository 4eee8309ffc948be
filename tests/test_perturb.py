"""The perturbation suite (evals/perturb.py): generated from the real corpus, reproducible, and the
LLM grounding check meets its targets on it — every unfaithful statement removed, at most 10% of
the faithful ones."""

from __future__ import annotations

import re

import pytest

import evals.perturb as perturb
from evals.perturb import (
    CATCH_TARGET,
    FALSE_REMOVAL_TARGET,
    PerturbationReport,
    generate_suite,
    perturbation_report,
)

UNFAITHFUL_KINDS = {"multiplier", "amount", "percentage", "time limit", "limit", "role", "modality", "negation", "article", "clause", "law"}
FAITHFUL_KINDS = {"reordered", "synonyms", "shortened", "combined", "named source", "paraphrased"}


@pytest.fixture(scope="module")
def report() -> PerturbationReport:
    return perturbation_report(seed=0)


def test_suite_is_large_enough_and_covers_every_kind():
    suite = generate_suite(0)
    assert len(suite.unfaithful) >= 300 and len(suite.faithful) >= 150
    assert {c.kind for c in suite.unfaithful} >= UNFAITHFUL_KINDS
    assert {c.kind for c in suite.faithful} >= FAITHFUL_KINDS
    assert all(c.kind for c in (*suite.unfaithful, *suite.faithful))


def test_statements_come_from_the_corpus_and_change_what_they_say():
    suite = generate_suite(0)
    for case in (*suite.unfaithful, *suite.faithful):
        claim = re.sub(r"\[\d+\]", "", case.statement).rstrip("。")
        assert case.passages and all(p.source for p in case.passages)  # statute articles, with their law
        assert all(part in "".join(p.text for p in case.passages) for part in case.original.split(" / "))
        assert claim != case.original and case.change
        assert re.sub(r"\s+", "", claim) not in re.sub(r"\s+", "", case.passages[0].text)  # never a verbatim quote
    assert all(c.statement.endswith("[1][2]") and len(c.passages) == 2 for c in suite.faithful if c.kind == "combined")


def test_suite_is_reproducible_from_its_seed():
    first = generate_suite(0)
    assert generate_suite(0) == first
    assert generate_suite(1) != first


def test_grounding_check_meets_the_targets(report: PerturbationReport):
    assert report.unfaithful >= 300 and report.faithful >= 150
    missed = "\n".join(f"[{c.kind}] {c.statement} ({c.change})" for c in report.misses)
    assert report.catch_rate >= CATCH_TARGET, f"kept although unfaithful:\n{missed}"
    removed = "\n".join(f"[{c.kind}] {c.statement}" for c in report.false_removals)
    assert report.false_removal_rate <= FALSE_REMOVAL_TARGET, f"faithful but removed:\n{removed}"
    assert all(k.rate == 1.0 for k in report.kinds if not k.faithful)
    assert report.meets_targets()


def test_the_changed_fact_check_does_the_catching(report: PerturbationReport):
    """Term overlap alone passed most of these: the fact check must be what removes them."""
    by_facts = sum(k.by_facts for k in report.kinds if not k.faithful)
    assert by_facts >= 0.95 * report.unfaithful


def test_report_is_easy_to_consume(report: PerturbationReport, monkeypatch, capsys):
    data = report.to_dict()
    assert data["catch_rate"] == report.catch_rate and data["meets_targets"] is True
    assert set(data["per_kind"]) >= UNFAITHFUL_KINDS | FAITHFUL_KINDS
    monkeypatch.setattr(perturb, "perturbation_report", lambda seed=0, corpus_dir=None: report)
    assert perturb.main(["--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "targets met" in out and "catch rate (unfaithful)" in out and "false removals (faithful)" in out
