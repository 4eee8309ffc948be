"""Logistic regression as the shipped models apply it: standardized features, weights, a sigmoid.

The decline model, the citation filter, the learned fusion and the follow-up merge are trained with
scikit-learn and shipped as JSON; applying them must not need scikit-learn (nor numpy), and must compute
exactly what training did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class Weights:
    """What a shipped logistic model file holds, and how it is applied; a model adds its own fields after
    these and names the features its files may use (``known``)."""

    embedder: str  # the embedder whose similarities the features are (another one: no model)
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float

    known: ClassVar[tuple[str, ...]] = ()

    def logit(self, values: Mapping[str, float]) -> float:
        """The log-odds for ``values`` (every name in ``names``): what a ranking model orders by (the
        sigmoid keeps the order)."""
        return self.intercept + sum(
            c * (values[n] - m) / (s or 1.0)
            for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef, strict=True)
        )

    def probability(self, values: Mapping[str, float]) -> float:
        """P(positive) of ``values``."""
        return sigmoid(self.logit(values))

    def to_json(self) -> dict[str, object]:
        return {
            "embedder": self.embedder,
            "features": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Any:
        """The model of a parsed model file (raises ValueError/KeyError/TypeError for a broken one)."""
        return cls(**fields_from_json(data, cls.known))


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
