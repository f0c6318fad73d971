"""The ensemble: not a model but a combination of trained members' predictions.

The ``ensemble`` stage combines the members' test predictions (:func:`build`): ``mean`` averages
their class probabilities, ``weighted`` weighs each member by its video-level validation
accuracy (from training, never from the test split). ``evaluate@ensemble`` then scores the
combination like any architecture (:func:`evaluate`), so that the leaderboard and the report
rank it beside the nine architectures (:mod:`actionrec.evaluate.entries`).
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np

import models
from actionrec import config
from actionrec.data.framestore import read_store
from actionrec.errors import DataError, ParamError
from actionrec.evaluate import evaluation, metrics
from actionrec.evaluate.entries import ENSEMBLE
from actionrec.evaluate.evaluation import EvaluationPaths
from actionrec.evaluate.predictions import Predictions
from actionrec.io import atomic_dir, read_json, write_json

INPUT = "predictions"
METHODS = get_args(config.EnsembleMethod)


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


def build(
    settings: config.Ensemble | None, *, predictions: Path, models_dir: Path, trained: Path, evaluated: Path, frames: Path, out: Path
) -> dict:
    """Combine the members' test predictions into ``out``; returns its summary.

    A member's files are ``<predictions>/<name>.csv`` (test), ``<models_dir>/<name>/val_predictions.csv``,
    ``<trained>/<name>.json`` and ``<evaluated>/<name>.json`` (its training and test metrics);
    ``frames`` is the frame store, for the class kinds.
    """
    if settings is None:
        raise ParamError("ensemble", None, "a mapping with members and method")
    names, method = settings.members, settings.method
    for name in names:
        if name not in models.ARCHITECTURES:
            raise ParamError("ensemble.members", name, "trained architectures from " + ", ".join(models.ARCHITECTURES))
    test_files = [Path(predictions) / f"{m}.csv" for m in names]
    preds = [Predictions.read(path) for path in test_files]
    for path, p in zip(test_files[1:], preds[1:]):
        if p.videos != preds[0].videos or p.classes != preds[0].classes:
            raise DataError(f"{path}: other videos or classes than {test_files[0]} (rerun evaluate)")
    trained = {m: read_json(Path(trained) / f"{m}.json", f"train@{m}") for m in names}
    evaluated = {m: read_json(Path(evaluated) / f"{m}.json", f"evaluate@{m}") for m in names}
    weights = [float(trained[m]["val_video_accuracy"]) for m in names]
    combined = combine([p.probabilities for p in preds], method, weights)
    # The same combination of the members' validation predictions: the ensemble's own validation
    # score, comparable with every member's (model selection never looks at the test split).
    val_files = [Path(models_dir) / m / "val_predictions.csv" for m in names]
    val = [Predictions.read(path) for path in val_files]
    for path, p in zip(val_files[1:], val[1:]):
        if p.videos != val[0].videos:
            raise DataError(f"{path}: other validation videos than {names[0]}'s (retrain with one train.val_groups and seed)")
    val_combined = combine([p.probabilities for p in val], method, weights)
    kinds = read_store(frames)["class_kinds"]
    validation = metrics.video_accuracy(val[0].labels, val_combined, val[0].classes, kinds, prefix="val_")
    summary = {
        "members": names,
        "method": method,
        "weights": dict(zip(names, weights)) if method == "weighted" else {m: 1.0 for m in names},
        "parameters": sum(int(trained[m]["parameters"]) for m in names),
        # Running the ensemble means running every member: its latency is the sum of theirs.
        "latency_ms": round(sum(float(evaluated[m]["latency_ms"]) for m in names), 3),
        **validation,
    }
    with atomic_dir(out) as tmp:
        Predictions(preds[0].videos, preds[0].labels, combined, preds[0].classes).write(tmp / "predictions.csv")
        write_json(tmp / "ensemble.json", summary)
    return summary


def read_summary(directory: Path) -> dict:
    """What :func:`build` recorded in ``directory``: members, method, weights, parameters, latency, validation scores."""
    return read_json(Path(directory) / "ensemble.json", ENSEMBLE)


def evaluate(paths: EvaluationPaths) -> dict:
    """``evaluate@ensemble``: score the combined test predictions (in ``paths.model``) and write the
    same files as every architecture."""
    summary = read_summary(paths.model)
    path = paths.model / "predictions.csv"
    pred = Predictions.read(path)
    evaluation.check_same_videos(pred, evaluation.test_rows(paths.frames), path, paths.frames)
    kinds = read_store(paths.frames)["class_kinds"]
    return evaluation.record(
        ENSEMBLE, INPUT, pred, kinds, paths, example_accuracy=None, parameters=summary["parameters"], latency_ms=summary["latency_ms"]
    )
