# `make help` lists the targets.  `make check` is exactly what CI runs.
PY := .venv/bin/python
PORT ?= 8501

.PHONY: help setup setup-dev app ingest serve test check lint eval eval-ci bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup:  ## create .venv and install the app
	@scripts/setup.sh

setup-dev:  ## create .venv and install the app with test tools (and chromium)
	@scripts/setup.sh dev

ingest: setup  ## build or update the index from corpus/
	$(PY) -m app ingest

app: ingest  ## set up, index the corpus and start the browser app
	$(PY) -m app serve --port $(PORT)

lint: setup-dev  ## ruff
	.venv/bin/ruff check ingest app evals tests legalqa

test: setup-dev  ## fast tests only
	$(PY) -m pytest -q -m "not slow and not browser"

check: setup-dev  ## set up and run everything CI runs: lint, index, all tests, CI eval gate
	.venv/bin/ruff check ingest app evals tests legalqa
	$(PY) -m app ingest --quiet
	$(PY) -m pytest -q --durations=20
	$(MAKE) --no-print-directory eval-ci

eval-ci:  ## eval gate on the CI subset (thresholds in evals/thresholds.toml)
	$(PY) -m app eval --dataset evals/datasets/ci.jsonl --systems ours,dense,bm25 --out evals/results/ci --thresholds evals/thresholds.toml --quiet

eval: ingest  ## full eval on the dev, held-out and external LawBench 3-8 sets with all systems
	$(PY) -m app eval --dataset evals/datasets/dev.jsonl --out evals/results/dev
	$(PY) -m app eval --dataset evals/datasets/holdout.jsonl --out evals/results/holdout
	$(PY) -m app eval --dataset ../shared/evals/lawbench-3-8.jsonl --out evals/results/lawbench
	$(PY) -m evals.multiturn

bench: ingest  ## performance benchmark
	$(PY) -m app bench

clean:  ## remove the index and caches (not the venv)
	rm -rf data .pytest_cache
