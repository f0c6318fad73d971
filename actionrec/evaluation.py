"""Scoring an architecture on the test split: predictions, metrics, plot data and figures.

``evaluate@<arch>`` runs a trained model over every test video of the frame store through
:mod:`actionrec.inference` (the same input path as ``stages.predict``), and scores the
video-level probabilities; ``evaluate@ensemble`` scores the predictions the ``ensemble``
stage combined. Both write the same files, so the ensemble, the leaderboard and the report
treat every architecture alike:

- ``data/predictions/<arch>.csv``: video, true label, one probability column per class;
- ``metrics/evaluate/<arch>.json``: the headline metrics (``dvc metrics``);
- ``plots/evaluate/<arch>/``: ``confusion.csv`` and ``roc.csv`` (``dvc plots``), ``report.json``
  (per-class precision/recall/F1, confusion matrix, worst confusions) and PNG figures.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

import models
from actionrec import metrics, plots, synthetic
from actionrec.errors import DataError, ParamError, PipelineError
from actionrec.framestore import read_manifest, read_store
from actionrec.inference import Predictions
from actionrec.io import atomic_dir, write_json

FRAMES, FLOW, MODELS_DIR = Path("data/frames"), Path("data/flow"), Path("data/models")
PREDICTIONS, METRICS_DIR, PLOTS_DIR = Path("data/predictions"), Path("metrics/evaluate"), Path("plots/evaluate")
TRAIN_METRICS = Path("metrics/train")


def evaluation_settings(params: dict) -> dict:
    from actionrec import config

    return {
        "batch_videos": config.positive_int(params, "evaluate.batch_videos"),
        "clips": config.positive_int(params, "evaluate.clips"),
        "crops": config.choice(params, "evaluate.crops", (1, 3)),
        "latency_repeats": config.positive_int(params, "evaluate.latency_repeats"),
    }


def test_rows(store: Path = FRAMES) -> list[dict]:
    rows = [r for r in read_manifest(store) if r["split"] == "test"]
    if not rows:
        raise DataError(f"{store}/manifest.csv: no test videos (check data.split and data.fraction)")
    return rows


def predict_test(trained, rows: list[dict], batch_videos: int, clips: int = 1, crops: int = 1) -> tuple[Predictions, float]:
    """Video probabilities (the mean over a video's test views: ``clips`` x ``crops``) and the
    per-example accuracy (frames for frame models, clips for clip models)."""
    from actionrec.inference import video_probabilities
    from actionrec.inputs import Source

    source = Source(FRAMES, rows, FLOW if trained.sampling.flow_stack else None)
    probs, correct = video_probabilities(trained.model, source, trained.sampling, trained.input_size, batch_videos, clips, crops)
    predictions = Predictions([r["video"] for r in rows], np.array([r["label"] for r in rows]), probs, trained.classes)
    return predictions, float(correct.mean())


def latency_per_video(trained, row: dict, repeats: int, clips: int = 1, crops: int = 1) -> float:
    """Median ms for one video's forward pass over its test views (views already decoded), after warm-up."""
    from actionrec.inference import predict_inputs, video_inputs

    flow = (FLOW / row["frames"]).read_bytes() if trained.sampling.flow_stack else None
    inputs = video_inputs(
        trained, (FRAMES / row["frames"]).read_bytes(), row["num_frames"], row["height"], row["width"], flow, clips, crops
    )
    return metrics.latency_ms(lambda: predict_inputs(trained, inputs), warmup=2, repeats=repeats)["median"]


def score(arch: str, pred: Predictions, *, example_accuracy: float | None, parameters: int, latency_ms: float) -> tuple[dict, dict]:
    """The headline metrics (for metrics/) and the detailed report (per class, confusion)."""
    summary = metrics.classification_summary(pred.labels, pred.probabilities, pred.classes)
    predicted = pred.probabilities.argmax(axis=1)
    headline = {
        "architecture": arch,
        "input": models.get(arch).INPUT,
        "test_videos": len(pred.videos),
        "top1": summary["top1"],
        "top5": summary["top5"],
        "example_accuracy": example_accuracy,
        "macro_f1": summary["macro_f1"],
        "auc_macro": summary["auc_macro"],
        "auc_micro": summary["auc_micro"],
    }
    kinds = synthetic.class_kinds(pred.classes)
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


def evaluate(arch: str, params: dict) -> dict:
    """Evaluate one architecture (the ensemble included) and write all its outputs."""
    module = models.get(arch)
    settings = evaluation_settings(params)
    rows = test_rows()
    if module.INPUT == "predictions":
        ensemble = read_ensemble()
        pred = Predictions.read(MODELS_DIR / arch / "predictions.csv")
        _check_same_videos(pred, rows, MODELS_DIR / arch / "predictions.csv")
        example_accuracy, parameters, latency = None, ensemble["parameters"], ensemble["latency_ms"]
    else:
        from actionrec.inference import load_trained

        trained = load_trained(arch, MODELS_DIR)
        store = read_store(FRAMES)
        if trained.store != {k: store[k] for k in trained.store}:
            raise DataError(
                f"{MODELS_DIR / arch}: trained on a frame store built with {trained.store}, data/frames has "
                f"{ {k: store[k] for k in trained.store} } (rerun `dvc repro train@{arch}`)"
            )
        if trained.classes != store["classes"]:
            raise DataError(f"{MODELS_DIR / arch}: trained on other classes than data/frames holds (rerun `dvc repro train@{arch}`)")
        views = settings["clips"], settings["crops"]
        pred, example_accuracy = predict_test(trained, rows, settings["batch_videos"], *views)
        parameters = int(trained.model.count_params())
        latency = latency_per_video(trained, rows[0], settings["latency_repeats"], *views)
    headline, report = score(arch, pred, example_accuracy=example_accuracy, parameters=parameters, latency_ms=latency)
    pred.write(PREDICTIONS / f"{arch}.csv")
    write_plots(PLOTS_DIR / arch, arch, pred, report)
    write_json(METRICS_DIR / f"{arch}.json", headline)
    return headline


def _check_same_videos(pred: Predictions, rows: list[dict], path: Path) -> None:
    if pred.videos != [r["video"] for r in rows]:
        raise DataError(f"{path}: its videos are not the test split of data/frames (rerun the stage that wrote it)")


# --- ensemble ----------------------------------------------------------------------------------

ENSEMBLE_DIR = MODELS_DIR / "ensemble"


def read_ensemble() -> dict:
    path = ENSEMBLE_DIR / "ensemble.json"
    if not path.is_file():
        raise PipelineError(f"{path}: not found (run `dvc repro ensemble`)")
    return json.loads(path.read_text())


def ensemble_members(params: dict) -> tuple[list[str], str]:
    from actionrec import config

    members = config.get(params, "ensemble.members")
    if not isinstance(members, list) or not members:
        raise ParamError("ensemble.members", members, "a non-empty list of trained architectures")
    for name in members:
        if name not in models.ARCHITECTURES or name == "ensemble":
            trainable = [a for a in models.ARCHITECTURES if a != "ensemble"]
            raise ParamError("ensemble.members", name, "trained architectures from " + ", ".join(trainable))
    if len(set(members)) != len(members):
        raise ParamError("ensemble.members", members, "each architecture at most once")
    return members, config.choice(params, "ensemble.method", models.get("ensemble").METHODS)


def build_ensemble(params: dict) -> dict:
    """Combine the members' test predictions; weights = each member's video-level validation accuracy.

    Validation accuracy comes from training (held-out training groups), never from the test
    split the ensemble is scored on.
    """
    members, method = ensemble_members(params)
    preds = [Predictions.read(PREDICTIONS / f"{m}.csv") for m in members]
    for member, p in zip(members[1:], preds[1:]):
        if p.videos != preds[0].videos or p.classes != preds[0].classes:
            raise DataError(f"{PREDICTIONS / member}.csv: other videos or classes than {PREDICTIONS / members[0]}.csv (rerun evaluate)")
    trained = {m: _read_json(TRAIN_METRICS / f"{m}.json", f"train@{m}") for m in members}
    evaluated = {m: _read_json(METRICS_DIR / f"{m}.json", f"evaluate@{m}") for m in members}
    weights = [float(trained[m]["val_video_accuracy"]) for m in members]
    combined = models.get("ensemble").combine([p.probabilities for p in preds], method, weights)
    # The same combination of the members' validation predictions: the ensemble's own validation
    # score, comparable with every member's (model selection never looks at the test split).
    val = [Predictions.read(MODELS_DIR / m / "val_predictions.csv") for m in members]
    for member, p in zip(members[1:], val[1:]):
        if p.videos != val[0].videos:
            raise DataError(
                f"{MODELS_DIR / member}/val_predictions.csv: other validation videos than {members[0]}'s (retrain with one train.val_groups and seed)"
            )
    val_combined = models.get("ensemble").combine([p.probabilities for p in val], method, weights)
    validation = metrics.video_accuracy(val[0].labels, val_combined, val[0].classes, synthetic.class_kinds(val[0].classes), prefix="val_")
    summary = {
        "members": members,
        "method": method,
        "weights": dict(zip(members, weights)) if method == "weighted" else {m: 1.0 for m in members},
        "parameters": sum(int(trained[m]["parameters"]) for m in members),
        # Running the ensemble means running every member: its latency is the sum of theirs.
        "latency_ms": round(sum(float(evaluated[m]["latency_ms"]) for m in members), 3),
        **validation,
    }
    with atomic_dir(ENSEMBLE_DIR) as tmp:
        Predictions(preds[0].videos, preds[0].labels, combined, preds[0].classes).write(tmp / "predictions.csv")
        write_json(tmp / "ensemble.json", summary)
    return summary


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise PipelineError(f"{path}: not found (run `dvc repro {stage}`)")
    return json.loads(path.read_text())
