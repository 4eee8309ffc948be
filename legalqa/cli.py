"""``legalqa`` command: one entry point, subcommands dispatched lazily by module.

This module sits above the three layers (``ingest`` ← ``app`` ← ``evals``), so it may name
all of them; no layer names it back except ``app/__main__.py`` (``python -m app``).
Heavy libraries (torch, chromadb, streamlit) are imported only by the subcommand that
needs them, so ``legalqa config`` and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ingest.errors import LegalQAError

SUBCOMMANDS = {
    "ingest": ("ingest.cli", "build or update the index from corpus/"),
    "add": ("ingest.cli_docs", "add your own document (agreement, statute, paper, blog) and index it"),
    "remove": ("ingest.cli_docs", "remove a user-added document and update the index"),
    "docs": ("ingest.cli_docs", "list the corpus documents (bundled or user-added, chunks, effective date)"),
    "ask": ("app.cli_ask", "answer a question with numbered citations"),
    "chat": ("app.cli_chat", "a conversation in the terminal: follow-up questions are read against earlier ones"),
    "verify": ("app.cli_ask", "re-check the citations of a saved answer (JSON)"),
    "serve": ("app.cli_serve", "start the browser app"),
    "api": ("app.api.cli", "start the HTTP API (OpenAI-compatible chat completions)"),
    "config": ("app.cli_config", "print the effective settings"),
    "eval": ("evals.cli", "score answers on an eval dataset and write a report"),
    "bench": ("evals.bench", "benchmark ingest, latency, memory and scaling"),
    "train": ("evals.train.cli", "fine-tune the bundled embedder on the training questions"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in SUBCOMMANDS:
        parser = argparse.ArgumentParser(
            prog="legalqa", description="生成式AI服务民事责任 法律问答（仅供参考，不构成法律意见）"
        )
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name, (_module, help_text) in SUBCOMMANDS.items():
            sub.add_parser(name, help=help_text, add_help=False)
        if argv and argv[0] not in {"-h", "--help"}:
            parser.error(f"unknown command {argv[0]!r}")
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    module = importlib.import_module(SUBCOMMANDS[command][0])
    try:
        return int(module.run(command, rest) or 0)
    except LegalQAError as exc:
        print(f"legalqa {command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
