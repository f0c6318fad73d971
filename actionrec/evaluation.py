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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import models
from actionrec import metrics, plots, synthetic
from actionrec.errors import DataError, ParamError, PipelineError
from actionrec.framestore import read_manifest, read_store
from actionrec.io import atomic_dir, write_json

FRAMES, FLOW, MODELS_DIR = Path("data/frames"), Path("data/flow"), Path("data/models")
PREDICTIONS, METRICS_DIR, PLOTS_DIR = Path("data/predictions"), Path("metrics/evaluate"), Path("plots/evaluate")
TRAIN_METRICS = Path("metrics/train")


@dataclass
class Predictions:
    """Video-level class probabilities of one architecture on the test split."""

    videos: list[str]
    labels: np.ndarray  # (videos,) int
    probabilities: np.ndarray  # (videos, classes)
    classes: list[str]

    def write(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "label", *self.classes])
            for video, label, row in zip(self.videos, self.labels, self.probabilities):
                writer.writerow([video, int(label), *(f"{p:.6g}" for p in row)])
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> "Predictions":
        path = Path(path)
        if not path.is_file():
            raise PipelineError(f"{path}: predictions not found (run `dvc repro evaluate@{path.stem}`)")
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if len(rows) < 2 or rows[0][:2] != ["video", "label"]:
            raise DataError(f"{path}: not a predictions file (expected a header video,label,<classes> and one row per video)")
        classes = rows[0][2:]
        try:
            labels = np.array([int(r[1]) for r in rows[1:]])
            probs = np.array([[float(x) for x in r[2:]] for r in rows[1:]])
        except (ValueError, IndexError) as error:
            raise DataError(f"{path}: malformed row ({error})") from None
        if probs.shape != (len(rows) - 1, len(classes)):
            raise DataError(f"{path}: rows do not all have {len(classes)} probabilities")
        return cls([r[0] for r in rows[1:]], labels, probs, classes)


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


def class_kinds(classes: list[str]) -> dict[str, str] | None:
    """Motion/appearance kind of each class, for the synthetic diagnostic set (None for other data)."""
    return {c: synthetic.CLASSES[c] for c in classes} if set(classes) <= set(synthetic.CLASSES) else None


def predict_test(trained, rows: list[dict], batch_videos: int, clips: int = 1, crops: int = 1) -> tuple[Predictions, float]:
    """Video probabilities (the mean over a video's test views: ``clips`` x ``crops``) and the
    per-example accuracy (frames for frame models, clips for clip models)."""
    from actionrec.inputs import Source, video_dataset

    source = Source(FRAMES, rows, FLOW if trained.sampling.flow_stack else None)
    views = video_dataset(source, trained.sampling, input_size=trained.input_size, clips=clips, crops=crops)
    probs, correct = [], []
    for inputs, labels in views.batch(batch_videos).prefetch(1).as_numpy_iterator():
        # (videos, examples, ...) -> one batch of examples for the model, then back per video.
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in inputs.items()} if isinstance(inputs, dict) else inputs.reshape(-1, *inputs.shape[2:])
        out = np.asarray(trained.model.predict_on_batch(flat), np.float64)
        out = out.reshape(len(labels), -1, out.shape[-1])
        correct.append(out.argmax(-1) == labels[:, None])
        probs.append(out.mean(axis=1))
    predictions = Predictions([r["video"] for r in rows], np.array([r["label"] for r in rows]), np.concatenate(probs), trained.classes)
    return predictions, float(np.concatenate([c.ravel() for c in correct]).mean())


def latency_per_video(trained, row: dict, repeats: int, clips: int = 1, crops: int = 1) -> float:
    """Median ms for one video's forward pass over its test views (views already decoded), after warm-up."""
    from actionrec.inference import predict_inputs, video_inputs

    flow = (FLOW / row["frames"]).read_bytes() if trained.sampling.flow_stack else None
    inputs = video_inputs(trained, (FRAMES / row["frames"]).read_bytes(), row["num_frames"], row["height"], row["width"], flow, clips, crops)
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
    kinds = class_kinds(pred.classes)
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
            raise DataError(f"{MODELS_DIR / arch}: trained on a frame store built with {trained.store}, data/frames has "
                            f"{ {k: store[k] for k in trained.store} } (rerun `dvc repro train@{arch}`)")  # fmt: skip
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
    """Combine the members' test predictions; weights = each member's validation accuracy.

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
    weights = [float(trained[m]["val_accuracy"]) for m in members]
    combined = models.get("ensemble").combine([p.probabilities for p in preds], method, weights)
    summary = {
        "members": members,
        "method": method,
        "weights": dict(zip(members, weights)) if method == "weighted" else {m: 1.0 for m in members},
        "parameters": sum(int(trained[m]["parameters"]) for m in members),
        # Running the ensemble means running every member: its latency is the sum of theirs.
        "latency_ms": round(sum(float(evaluated[m]["latency_ms"]) for m in members), 3),
    }
    with atomic_dir(ENSEMBLE_DIR) as tmp:
        Predictions(preds[0].videos, preds[0].labels, combined, preds[0].classes).write(tmp / "predictions.csv")
        write_json(tmp / "ensemble.json", summary)
    return summary


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise PipelineError(f"{path}: not found (run `dvc repro {stage}`)")
    return json.loads(path.read_text())
