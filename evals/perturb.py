"""Perturbation suite for the LLM grounding check: real statute sentences with exactly one fact changed.

The sentences are generated from the corpus on every run (seeded, deterministic), never stored: a
change to the corpus or the parsers shows up here.  Unfaithful statements change one number,
multiplier, amount, percentage, time limit or limit, one party, one modality, one negation, one
article, 款 or 项, or the law; faithful ones reorder clauses, use synonyms, shorten, combine two
cited passages, name the right law and article, or do two of these at once (paraphrased).  Each statement goes through ``grounding.ground``
exactly as an LLM answer does, with the passage it was made from as its citation.

``perturbation_report()`` is what ``legalqa eval`` can call; ``python -m evals.perturb`` prints it.
Targets: every unfaithful statement removed, at most 10% of faithful ones.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.facts import Passage, changed_facts
from app.grounding import ground
from evals.perturb_edits import FAITHFUL, UNFAITHFUL, Edit, Source, synonyms
from ingest.manifest import load_documents
from ingest.parsers import parse_document
from ingest.settings import Settings

CATCH_TARGET = 1.0
FALSE_REMOVAL_TARGET = 0.10
UNFAITHFUL_QUOTAS = {
    "multiplier": 25, "amount": 30, "percentage": 10, "time limit": 30, "limit": 25, "number": 8,
    "role": 45, "modality": 45, "negation": 45, "article": 35, "clause": 30, "law": 30,
}
FAITHFUL_QUOTAS = {"reordered": 40, "synonyms": 45, "shortened": 40, "combined": 35, "named source": 30, "paraphrased": 30}
PER_PASSAGE = 2  # at most this many statements of one kind from one article, so no article dominates
_HEADING = re.compile(r"^第[零一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?[\s　]+")


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    faithful: bool
    statement: str  # with its [n] markers
    passages: tuple[Passage, ...]
    original: str  # the corpus sentence it was made from
    change: str


@dataclass(frozen=True, slots=True)
class KindRate:
    kind: str
    faithful: bool
    total: int
    flagged: int  # removed by the grounding check
    by_facts: int  # of those, flagged by the changed-fact check itself

    @property
    def rate(self) -> float:
        return self.flagged / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class PerturbationReport:
    seed: int
    kinds: tuple[KindRate, ...]
    misses: tuple[Case, ...]  # unfaithful statements the check kept
    false_removals: tuple[Case, ...]  # faithful statements it removed

    def _sum(self, faithful: bool, field: str) -> int:
        return sum(getattr(k, field) for k in self.kinds if k.faithful == faithful)

    @property
    def unfaithful(self) -> int:
        return self._sum(False, "total")

    @property
    def faithful(self) -> int:
        return self._sum(True, "total")

    @property
    def catch_rate(self) -> float:
        return self._sum(False, "flagged") / max(1, self.unfaithful)

    @property
    def false_removal_rate(self) -> float:
        return self._sum(True, "flagged") / max(1, self.faithful)

    def meets_targets(self) -> bool:
        return self.catch_rate >= CATCH_TARGET and self.false_removal_rate <= FALSE_REMOVAL_TARGET

    def to_dict(self) -> dict[str, Any]:
        """Flat numbers for an eval report."""
        return {
            "seed": self.seed,
            "unfaithful": self.unfaithful,
            "catch_rate": self.catch_rate,
            "faithful": self.faithful,
            "false_removal_rate": self.false_removal_rate,
            "meets_targets": self.meets_targets(),
            "per_kind": {k.kind: {"faithful": k.faithful, "total": k.total, "rate": k.rate} for k in self.kinds},
        }

    def table(self) -> str:
        rows = [("kind", "statements", "removed", "rate", "by fact check")]
        for faithful, title in ((False, "unfaithful (target: all removed)"), (True, "faithful (target: <= 10% removed)")):
            rows.append((f"— {title}", "", "", "", ""))
            rows += [(k.kind, str(k.total), str(k.flagged), f"{k.rate:.3f}", str(k.by_facts)) for k in self.kinds if k.faithful == faithful]
        rows.append(("catch rate (unfaithful)", str(self.unfaithful), str(self._sum(False, "flagged")), f"{self.catch_rate:.3f}", ""))
        rows.append(("false removals (faithful)", str(self.faithful), str(self._sum(True, "flagged")), f"{self.false_removal_rate:.3f}", ""))
        widths = [max(_width(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        verdict = "targets met" if self.meets_targets() else "TARGETS MISSED"
        return "\n".join([f"perturbation suite (seed {self.seed}): {verdict}", *lines])


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


# --- the corpus, as sources and sentences ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Article:
    key: str  # chunk id
    doc_id: str
    ordinal: int
    source: Source
    passage: Passage
    sentences: tuple[str, ...]


@lru_cache(maxsize=4)
def _articles(corpus_dir: str) -> tuple[_Article, ...]:
    """Every statute article of the corpus, parsed by the project's own parsers."""
    documents = [d for d in load_documents(corpus_dir) if d.meta.kind == "statute"]
    laws = [d.meta.short_title for d in documents]
    out = []
    for doc in documents:
        others = tuple(law for law in laws if law != doc.meta.short_title)
        for chunk in parse_document(doc).chunks:
            if not chunk.article_no or chunk.article.count("之"):
                continue
            source = Source(chunk.text, doc.meta.short_title, chunk.article_no, others)
            passage = Passage(chunk.text, f"{chunk.doc_title} {chunk.locator}")
            out.append(_Article(chunk.chunk_id, doc.doc_id, chunk.ordinal, source, passage, _sentences(chunk.text)))
    return tuple(out)


def _sentences(text: str) -> tuple[str, ...]:
    body = _HEADING.sub("", text)
    parts = (s.strip() for s in re.split(r"[。；\n]", body))
    return tuple(s for s in parts if 10 <= len(s) <= 150 and not s.startswith("（") and "：" not in s)


# --- generation -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suite:
    unfaithful: tuple[Case, ...]
    faithful: tuple[Case, ...]


def generate_suite(seed: int = 0, corpus_dir: str | Path | None = None) -> Suite:
    """The unfaithful and faithful statements for ``seed`` (same seed and corpus: same statements)."""
    articles = _articles(str(corpus_dir or Settings.from_env().corpus_dir))
    rng = random.Random(seed)
    unfaithful = _pick(_candidates(articles, UNFAITHFUL, faithful=False), UNFAITHFUL_QUOTAS, rng)
    faithful_pool = _candidates(articles, FAITHFUL, faithful=True)
    faithful_pool["combined"] = _combined(articles)
    faithful = _pick(faithful_pool, FAITHFUL_QUOTAS, rng)
    return Suite(tuple(unfaithful), tuple(faithful))


def _candidates(
    articles: Sequence[_Article], edits: Sequence[Callable[[str, Source], list[Edit]]], *, faithful: bool
) -> dict[str, dict[str, list[Case]]]:
    """kind -> article -> cases, every edit of every sentence that is not a verbatim slice.

    An unfaithful edit also comes reworded (a synonym elsewhere in the sentence), so the check is
    tested on paraphrases that change a fact, not only on near-quotes that do.
    """
    pool: dict[str, dict[str, list[Case]]] = defaultdict(lambda: defaultdict(list))
    for art in articles:
        flat = re.sub(r"\s+", "", art.source.text)
        seen: set[str] = set()
        for sentence in art.sentences:
            found = [e for fn in edits for e in fn(sentence, art.source)]
            if not faithful:
                found += [
                    Edit(e.kind, s.text, f"{e.change}；{s.change}") for e in found for s in synonyms(e.text, art.source)[:1]
                ]
            for edit in found:
                text = edit.text.strip("，")
                if text == sentence or text in seen or re.sub(r"\s+", "", text) in flat:
                    continue
                seen.add(text)
                case = Case(edit.kind, faithful, f"{text}。[1]", (art.passage,), sentence, edit.change)
                pool[edit.kind][art.key].append(case)
    return pool


def _combined(articles: Sequence[_Article]) -> dict[str, list[Case]]:
    """Two neighbouring articles of one law, one sentence of each, in one statement citing both."""
    out: dict[str, list[Case]] = defaultdict(list)
    for a, b in zip(articles, articles[1:], strict=False):
        if a.doc_id != b.doc_id or not a.sentences or not b.sentences:
            continue
        first, second = a.sentences[0], b.sentences[0]
        if len(first) + len(second) <= 110:
            statement = f"{first}，{second}。[1][2]"
            out[a.key].append(Case("combined", True, statement, (a.passage, b.passage), f"{first} / {second}", "两条合为一句"))
    return out


def _pick(pool: dict[str, dict[str, list[Case]]], quotas: dict[str, int], rng: random.Random) -> list[Case]:
    """Up to ``quota`` cases per kind, at most PER_PASSAGE from one article, chosen by ``rng``."""
    picked = []
    for kind, quota in quotas.items():
        by_article = pool.get(kind, {})
        spread = []
        for key in sorted(by_article):
            cases = by_article[key]
            spread += rng.sample(cases, min(PER_PASSAGE, len(cases)))
        picked += rng.sample(spread, min(quota, len(spread)))
    return picked


# --- the report -----------------------------------------------------------------------------------


def is_removed(case: Case) -> bool:
    """Does the LLM answerer's grounding check remove (or mark) this statement?"""
    return ground(case.statement, case.passages).unsupported > 0


def perturbation_report(seed: int = 0, corpus_dir: str | Path | None = None) -> PerturbationReport:
    """Catch rate on the unfaithful statements, false-removal rate on the faithful ones, per kind."""
    suite = generate_suite(seed, corpus_dir)
    tallies: dict[tuple[bool, str], list[int]] = {}
    misses, false_removals = [], []
    for case in (*suite.unfaithful, *suite.faithful):
        removed = is_removed(case)
        by_facts = removed and bool(changed_facts(case.statement, case.passages))
        tally = tallies.setdefault((case.faithful, case.kind), [0, 0, 0])
        tally[0] += 1
        tally[1] += removed
        tally[2] += by_facts
        if case.faithful and removed:
            false_removals.append(case)
        elif not case.faithful and not removed:
            misses.append(case)
    order = [*UNFAITHFUL_QUOTAS, *FAITHFUL_QUOTAS]
    kinds = tuple(
        KindRate(kind, faithful, *tally)
        for (faithful, kind), tally in sorted(tallies.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1])))
    )
    return PerturbationReport(seed, kinds, tuple(misses), tuple(false_removals))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.perturb", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=10, help="misses and false removals to print (default 10)")
    args = parser.parse_args(argv)
    report = perturbation_report(args.seed)
    print(report.table())
    for title, cases in (("missed (kept although unfaithful)", report.misses), ("falsely removed", report.false_removals)):
        if cases and args.show:
            print(f"\n{title}:")
            for case in cases[: args.show]:
                print(f"  [{case.kind}] {case.statement}   ({case.change}; 原句：{case.original})")
    return 0 if report.meets_targets() else 1


if __name__ == "__main__":
    raise SystemExit(main())


def perturbation_summary(corpus_dir: Path) -> dict[str, Any]:
    """Catch and false-removal rates of the grounding check on the perturbation suite (seconds to run), printed
    and returned for an eval report's metadata."""
    report = perturbation_report(corpus_dir=corpus_dir)
    print(f"grounding check on the perturbation suite: catch rate {report.catch_rate:.3f} of {report.unfaithful} "
          f"unfaithful, false removals {report.false_removal_rate:.3f} of {report.faithful} faithful")  # fmt: skip
    return {
        "seed": report.seed,
        "unfaithful": report.unfaithful,
        "faithful": report.faithful,
        "catch_rate": round(report.catch_rate, 4),
        "false_removal_rate": round(report.false_removal_rate, 4),
        "kinds": [{"kind": k.kind, "faithful": k.faithful, "total": k.total, "flagged": k.flagged, "rate": round(k.rate, 4)}
                  for k in report.kinds],  # fmt: skip
    }
