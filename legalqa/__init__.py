"""The ``legalqa`` console command: the one module above the three layers (ingest ← app ← evals)."""
