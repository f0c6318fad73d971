"""Scoring an architecture on the test split: predictions, metrics, plot data and figures.

``evaluate@<arch>`` runs a trained model over every test video of the frame store through
:mod:`actionrec.evaluate.inference` (the same input path as ``stages.predict``), and scores the
video-level probabilities; :mod:`actionrec.evaluate.ensemble` scores the combined predictions through
:func:`record` too. Both write the same files, so the ensemble, the leaderboard and the report
treat every entry alike (:class:`EvaluationPaths`, the paths dvc.yaml gives):

- ``data/predictions/<arch>.csv``: video, true label, one probability column per class;
- ``metrics/evaluate/<arch>.json``: the headline metrics (``dvc metrics``);
- ``plots/evaluate/<arch>/``: ``confusion.csv`` and ``roc.csv`` (``dvc plots``), ``report.json``
  (per-class precision/recall/F1, confusion matrix, worst confusions) and PNG figures.

Accuracy per class kind (motion, appearance) is scored where the frame store records kinds
(the synthetic set; UCF101 has none).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import models
from actionrec import config
from actionrec.data.framestore import read_manifest, read_store
from actionrec.errors import DataError
from actionrec.evaluate import metrics, plots
from actionrec.evaluate.predictions import Predictions
from actionrec.io import atomic_dir, write_json

if TYPE_CHECKING:  # inputs imports TensorFlow, which the ensemble and reporting stages never need
    from actionrec.data.inputs import Source


@dataclass(frozen=True)
class EvaluationPaths:
    """Where ``evaluate@<name>`` reads and writes (dvc.yaml passes each to stages/evaluate.py)."""

    frames: Path  # the frame store: the test videos and their class kinds
    flow: Path  # the flow store (read for two-stream models only)
    model: Path  # the trained model's directory (the ensemble's: its combined predictions)
    predictions: Path  # the test predictions written (CSV)
    metrics: Path  # the headline metrics written (JSON)
    plots: Path  # the plot data, report and figures written (a directory)


def test_rows(store: Path) -> list[dict]:
    rows = [r for r in read_manifest(store) if r["split"] == "test"]
    if not rows:
        raise DataError(f"{store}/manifest.csv: no test videos (check data.split and data.fraction)")
    return rows


def predict_test(trained, source: Source, batch_videos: int, clips: int = 1, crops: int = 1) -> tuple[Predictions, float]:
    """Video probabilities (the mean over a video's test views: ``clips`` x ``crops``) and the
    per-example accuracy (frames for frame models, clips for clip models)."""
    from actionrec.evaluate.inference import video_probabilities

    probs, correct = video_probabilities(trained.model, source, trained.sampling, trained.input_size, batch_videos, clips, crops)
    rows = source.rows
    predictions = Predictions([r["video"] for r in rows], np.array([r["label"] for r in rows]), probs, trained.classes)
    return predictions, float(correct.mean())


def latency_per_video(trained, source: Source, repeats: int, clips: int = 1, crops: int = 1) -> float:
    """Median ms for the forward pass over the test views of the source's first video (views
    already decoded), after warm-up."""
    from actionrec.evaluate.inference import predict_inputs, video_inputs

    row = source.rows[0]
    flow = (Path(source.flow_root) / row["frames"]).read_bytes() if trained.sampling.flow_stack else None
    frames = (Path(source.frames_root) / row["frames"]).read_bytes()
    inputs = video_inputs(trained, frames, row["num_frames"], row["height"], row["width"], flow, clips, crops)
    return metrics.latency_ms(lambda: predict_inputs(trained, inputs), warmup=2, repeats=repeats)["median"]


def score(
    arch: str,
    kind: str,
    pred: Predictions,
    kinds: dict[str, str] | None,
    *,
    example_accuracy: float | None,
    parameters: int,
    latency_ms: float,
) -> tuple[dict, dict]:
    """The headline metrics (for metrics/) and the detailed report (per class, confusion)."""
    summary = metrics.classification_summary(pred.labels, pred.probabilities, pred.classes)
    predicted = pred.probabilities.argmax(axis=1)
    headline = {
        "architecture": arch,
        "input": kind,
        "test_videos": len(pred.videos),
        "top1": summary["top1"],
        "top5": summary["top5"],
        "example_accuracy": example_accuracy,
        "macro_f1": summary["macro_f1"],
        "auc_macro": summary["auc_macro"],
        "auc_micro": summary["auc_micro"],
    }
    if kinds:
        for kind, value in metrics.accuracy_by_kind(pred.labels, predicted, pred.classes, kinds).items():
            headline[f"accuracy_{kind}"] = value
    headline.update(parameters=parameters, latency_ms=round(latency_ms, 3))
    report = {
        **{k: summary[k] for k in ("per_class", "confusion", "weighted_f1")},
        "classes": pred.classes,
        "kinds": kinds,
        "worst_confusions": metrics.worst_confusions(summary["confusion"], pred.classes, k=5),
    }
    if "auc_note" in summary:
        report["auc_note"] = summary["auc_note"]
    return headline, report


def write_plots(directory: Path, arch: str, pred: Predictions, report: dict) -> None:
    """DVC plot data and the matplotlib figures for one architecture, replacing ``directory`` atomically.

    Training curves are DVCLive's (``dvc plots show``) and the report's PNG.
    """
    predicted = pred.probabilities.argmax(axis=1)
    with atomic_dir(directory) as tmp:
        _write_rows(tmp / "confusion.csv", metrics.confusion_rows(pred.labels, predicted, pred.classes))
        # dvc's line templates draw one series per file: the micro-average here, every class in roc.png.
        roc = [r for r in metrics.roc_points(pred.labels, pred.probabilities, pred.classes) if r["class"] == "micro-average"]
        _write_rows(tmp / "roc.csv", [{"fpr": r["fpr"], "tpr": r["tpr"]} for r in roc])
        write_json(tmp / "report.json", report)
        plots.confusion_png(report["confusion"], pred.classes, tmp / "confusion.png", f"{arch}: confusion matrix (test videos)")
        plots.roc_png(pred.labels, pred.probabilities, pred.classes, tmp / "roc.png", f"{arch}: ROC, one vs rest")
        plots.per_class_accuracy_png(report["per_class"], tmp / "per_class_accuracy.png", f"{arch}: per-class accuracy", report["kinds"])


def _write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def evaluate(arch: str, settings: config.Evaluate, paths: EvaluationPaths) -> dict:
    """Evaluate one trained architecture on the test split (``settings``: params' ``evaluate``) and write all its outputs."""
    from actionrec.data.inputs import Source
    from actionrec.evaluate.inference import load_trained

    module = models.get(arch)
    rows = test_rows(paths.frames)
    trained = load_trained(arch, paths.model)
    store = read_store(paths.frames)
    if trained.store != {k: store[k] for k in trained.store}:
        raise DataError(
            f"{paths.model}: trained on a frame store built with {trained.store}, {paths.frames} has "
            f"{ {k: store[k] for k in trained.store} } (rerun `dvc repro train@{arch}`)"
        )
    if trained.classes != store["classes"]:
        raise DataError(f"{paths.model}: trained on other classes than {paths.frames} holds (rerun `dvc repro train@{arch}`)")
    views = settings.clips, settings.crops
    source = Source.of(paths.frames, paths.flow, rows, trained.sampling)
    pred, example_accuracy = predict_test(trained, source, settings.batch_videos, *views)
    latency = latency_per_video(trained, source, settings.latency_repeats, *views)
    parameters = int(trained.model.count_params())
    return record(
        arch, module.INPUT, pred, store["class_kinds"], paths, example_accuracy=example_accuracy, parameters=parameters, latency_ms=latency
    )


def record(
    name: str,
    kind: str,
    pred: Predictions,
    kinds: dict[str, str] | None,
    paths: EvaluationPaths,
    *,
    example_accuracy: float | None,
    parameters: int,
    latency_ms: float,
) -> dict:
    """Score test predictions and write the predictions, the plots and the metrics."""
    headline, report = score(name, kind, pred, kinds, example_accuracy=example_accuracy, parameters=parameters, latency_ms=latency_ms)
    pred.write(paths.predictions)
    write_plots(paths.plots, name, pred, report)
    write_json(paths.metrics, headline)
    return headline


def check_same_videos(pred: Predictions, rows: list[dict], path: Path, store: Path) -> None:
    if pred.videos != [r["video"] for r in rows]:
        raise DataError(f"{path}: its videos are not the test split of {store} (rerun the stage that wrote it)")
