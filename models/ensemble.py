"""Ensemble of trained members: combines their per-video class probabilities.

Not a Keras model: the ``ensemble`` stage loads each member's predictions and calls
``combine``. ``mean`` averages the members' probabilities; ``weighted`` weighs each member,
e.g. by its validation accuracy (weights are normalised to sum to 1).
"""

from __future__ import annotations

import numpy as np

from actionrec.errors import ParamError
from models import InputSpec

INPUT = "predictions"
DEFAULTS: dict = {}
METHODS = ("mean", "weighted")


def min_frames(params: dict) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, params: dict):
    raise ParamError(
        "architecture",
        "ensemble",
        "a trainable architecture (the ensemble is built by the `ensemble` stage from the trained members' predictions)",
    )


def combine(probabilities: list[np.ndarray], method: str = "mean", weights: list[float] | None = None) -> np.ndarray:
    """(videos, classes) probabilities of each member -> their (weighted) mean, same shape."""
    if not probabilities:
        raise ParamError("ensemble.members", [], "at least one trained member")
    arrays = [np.asarray(p, dtype=np.float64) for p in probabilities]
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) != 1 or arrays[0].ndim != 2:
        raise ParamError("ensemble.members", shapes, "members with predictions of one (videos, classes) shape (same videos, same classes)")
    if method not in METHODS:
        raise ParamError("ensemble.method", method, "one of " + ", ".join(METHODS))
    if method == "mean":
        return np.mean(arrays, axis=0)
    if not isinstance(weights, (list, tuple, np.ndarray)) or len(weights) != len(arrays):
        raise ParamError("ensemble.weights", weights, f"one weight per member ({len(arrays)})")
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        w = np.array([np.nan])
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ParamError("ensemble.weights", list(weights), "non-negative numbers with a positive sum")
    return np.tensordot(w / w.sum(), np.stack(arrays), axes=1)
