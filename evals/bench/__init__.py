"""``legalqa bench``: ingest, query latency, cold start, memory and scaling — ours against the naive baseline.

Every figure is measured in a fresh subprocess (``evals.bench.worker``) on a
temporary copy of the corpus and a temporary data folder, so the project's
``data/`` is never touched and each process' peak RSS is its own.  The naive
LangChain RAG baseline (``evals.baseline``: RecursiveCharacterTextSplitter over
the raw files + Chroma top-k, same embedder, same answerer) is measured the
same way in the same run, and every comparable figure gets a ratio ours/naive.

What is measured (see ``--help`` for the knobs):

* ingest: cold (empty data folder AND empty embedding cache), re-ingest of the
  unchanged corpus, re-ingest after one statute article changed;
* queries: warm latency of retrieval and of the full ``ask`` (default extractive
  answerer) over 200+ questions (``evals.bench.questions``), p50/p95/p99;
* cold start: ``python -m app ask "…"`` from process start to printed answer, and
  ``python -m app serve`` from process start to the first answer on screen in
  headless Chromium (or, without a browser, server-ready time plus the first
  pipeline build and answer measured separately — the output says which);
* memory: peak RSS of the cold ingest, RSS of a serving process after all questions;
* scaling: the corpus replicated ×1, ×4, ×16 with new doc ids; the copies embed
  to identical texts, so their vectors come from the embedding cache (stated in
  the output): ingest time there is everything but the model, and the query
  latency is the real one against the larger index.

Targets are reported as pass/miss; they are never asserted by tests.

One module per job: ``ingest_job``, ``queries``, ``cold_start``, ``scaling`` (and memory);
``worker`` runs a job in its own process, ``processes`` starts and times those processes,
``corpus`` and ``questions`` prepare the inputs, ``report`` turns the result into verdicts,
a table, ``bench.json`` and plots; ``cli`` is the command.  Where the numbers came from
(machine, library versions, embedder) is ``evals.provenance``, shared with ``legalqa eval``.
"""

from evals.bench.cli import build_parser, run
from evals.bench.common import SECTIONS, TARGETS

__all__ = ["SECTIONS", "TARGETS", "build_parser", "run"]
