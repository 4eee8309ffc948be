"""Logistic regression as the shipped models apply it: standardized features, weights, a sigmoid.

The decline model and the citation filter are both trained with scikit-learn and shipped as JSON;
applying them must not need scikit-learn (nor numpy), and must compute exactly what training did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def probability(
    values: Mapping[str, float],
    names: Sequence[str],
    mean: Sequence[float],
    scale: Sequence[float],
    coef: Sequence[float],
    intercept: float,
    extra: float = 0.0,
) -> float:
    """P(positive) of ``values`` (every name in ``names``); ``extra`` is added to the logit (e.g. the
    decline model's weights on the question's embedding)."""
    z = logit(values, names, mean, scale, coef, intercept) + extra
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def logit(
    values: Mapping[str, float],
    names: Sequence[str],
    mean: Sequence[float],
    scale: Sequence[float],
    coef: Sequence[float],
    intercept: float,
) -> float:
    """The model's log-odds for ``values``: what a ranking model orders by (the sigmoid keeps the order)."""
    return intercept + sum(
        c * (values[n] - m) / (s or 1.0) for n, m, s, c in zip(names, mean, scale, coef, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Weights:
    """What a shipped logistic model file holds; a model adds its own fields after these."""

    embedder: str  # the embedder whose similarities the features are (another one: no model)
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float


def to_json(model: Weights) -> dict[str, object]:
    return {
        "embedder": model.embedder,
        "features": list(model.names),
        "mean": list(model.mean),
        "scale": list(model.scale),
        "coef": list(model.coef),
        "intercept": model.intercept,
        "threshold": model.threshold,
    }


def fields_from_json(data: Mapping[str, object], known: Sequence[str]) -> dict[str, Any]:
    """The ``Weights`` fields of a model file (raises ValueError/KeyError/TypeError for a broken one,
    or one naming a feature outside ``known``)."""
    features = data["features"]
    if not isinstance(features, list):
        raise ValueError("features must be a list")
    names = tuple(str(n) for n in features)
    unknown = set(names) - set(known)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}")
    mean, scale, coef = floats(data, "mean"), floats(data, "scale"), floats(data, "coef")
    if not len(names) == len(mean) == len(scale) == len(coef):
        raise ValueError("features, mean, scale and coef must have one entry each")
    return {
        "embedder": str(data["embedder"]),
        "names": names,
        "mean": mean,
        "scale": scale,
        "coef": coef,
        "intercept": float(data["intercept"]),  # type: ignore[arg-type]
        "threshold": float(data["threshold"]),  # type: ignore[arg-type]
    }


def floats(data: Mapping[str, object], key: str) -> tuple[float, ...]:
    """A list of numbers of a model file (raises ValueError/KeyError/TypeError when it is not one)."""
    values = data[key]
    if not isinstance(values, list):
        raise ValueError(f"{key} must be a list of numbers")
    return tuple(float(x) for x in values)


def load_shipped(cls: Any, path: Path, embedder: str = "") -> Any:
    """``cls.from_json`` of the model file at ``path`` when it was trained for ``embedder`` (any embedder
    when ""), else None: a missing, unreadable, malformed or foreign file means the model's fallback,
    never a failed question."""
    try:
        model = cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return model if not embedder or model.embedder == embedder else None
