"""Evaluation: datasets, metrics, runner, report and benchmark (top layer; calls app only)."""
