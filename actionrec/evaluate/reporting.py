"""The leaderboard of the nine architectures and the ensemble, and the full report of the selected one (``model``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from actionrec.evaluate import ensemble, entries, plots
from actionrec.evaluate.predictions import Predictions
from actionrec.io import atomic_dir, read_json, write_json

# Columns of the leaderboard, in order; the motion/appearance columns exist for the synthetic set only.
HEADLINE = ["top1", "top5", "macro_f1", "auc_macro", "accuracy_motion", "accuracy_appearance"]
# Validation (held-out training groups): what models are chosen and tuned on; the test columns only report.
VALIDATION = {"val_video_accuracy": "val_top1", "val_accuracy_motion": "val_motion", "val_accuracy_appearance": "val_appearance"}


def leaderboard_rows(*, trained: Path, evaluated: Path, ensemble_dir: Path) -> list[dict]:
    """One row per evaluated entry (the nine architectures and the ensemble), best validation top-1 first,
    from ``<evaluated>/<name>.json`` (test metrics), ``<trained>/<name>.json`` (training summaries)
    and the ensemble's summary in ``ensemble_dir``."""

    def training_summary(name: str) -> dict:
        return read_json(Path(trained) / f"{name}.json", f"train@{name}")

    rows = []
    for name in entries.SCORED:
        test = read_json(Path(evaluated) / f"{name}.json", f"evaluate@{name}")
        row = {"architecture": name, "input": test["input"]}
        row.update({k: test[k] for k in HEADLINE if k in test})
        row.update(parameters=test["parameters"], latency_ms=test["latency_ms"])
        if name == entries.ENSEMBLE:  # trained = its members trained
            built = ensemble.read_summary(ensemble_dir)
            row["train_seconds"] = round(sum(training_summary(m)["train_seconds"] for m in built["members"]), 1)
        else:
            built = training_summary(name)
            row["train_seconds"] = built["train_seconds"]
        row.update({column: built[key] for key, column in VALIDATION.items() if key in built})
        rows.append(row)
    return sorted(rows, key=lambda r: -r.get("val_top1", r["top1"]))  # ranked on validation, as models are chosen


def write_leaderboard(rows: list[dict], *, out: Path, metrics_file: Path) -> None:
    """``leaderboard.{csv,md,png}`` in the directory ``out``, and the rows as DVC metrics in ``metrics_file``."""
    table = pd.DataFrame(rows)
    with atomic_dir(out) as tmp:
        table.to_csv(tmp / "leaderboard.csv", index=False, float_format="%.4f")
        (tmp / "leaderboard.md").write_text(markdown_table(table) + "\n")
        metrics = [m for m in HEADLINE if m in table.columns]
        plots.leaderboard_png(rows, metrics, tmp / "leaderboard.png", "Test-split metrics of the ten architectures")
    write_json(metrics_file, {r["architecture"]: {k: v for k, v in r.items() if k not in ("architecture", "input")} for r in rows})


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table: scores to 3 decimals, latency to 1, seconds whole, counts with separators."""
    digits = {"latency_ms": 1, "train_seconds": 0}
    floatfmt = [f",.{digits.get(c, 3)}f" for c in table.columns]
    cells = table.astype(object).where(table.notna(), None)  # tabulate leaves None blank (missingval), not NaN
    return cells.to_markdown(index=False, floatfmt=floatfmt, intfmt=",", missingval="", numalign="right", stralign="left")


def write_report(arch: str, *, model_dir: Path, predictions: Path, test_metrics: Path, report: Path, out: Path, metrics_file: Path) -> dict:
    """Everything about the selected architecture: figures and tables in the directory ``out``, its
    metrics in ``metrics_file``; read from its model directory (the training history, if any), its test
    predictions, test metrics and evaluation report."""
    entries.check_scored(arch)
    headline = read_json(test_metrics, f"evaluate@{arch}")
    report_file, report = report, read_json(report, f"evaluate@{arch}")
    pred = Predictions.read(predictions)
    history_file = Path(model_dir) / "history.json"
    classes = report["classes"]
    with atomic_dir(out) as tmp:
        if history_file.is_file():
            plots.training_curves_png(json.loads(history_file.read_text()), tmp / "training_curves.png", f"{arch}: training curves")
        plots.confusion_png(report["confusion"], classes, tmp / "confusion.png", f"{arch}: confusion matrix (test videos)")
        plots.roc_png(pred.labels, pred.probabilities, classes, tmp / "roc.png", f"{arch}: ROC, one vs rest")
        plots.per_class_accuracy_png(report["per_class"], tmp / "per_class_accuracy.png", f"{arch}: per-class accuracy", report["kinds"])
        worst_confusions(report).to_csv(tmp / "worst_confusions.csv", index=False)
        shutil.copy(report_file, tmp / "report.json")
        (tmp / "report.md").write_text(report_markdown(arch, headline, report))
    selected = {"model": arch, **{k: v for k, v in headline.items() if k != "architecture"}}
    write_json(metrics_file, selected)
    return selected


def worst_confusions(report: dict) -> pd.DataFrame:
    return pd.DataFrame(report["worst_confusions"], columns=["true", "predicted", "count", "rate"])


def report_markdown(arch: str, headline: dict, report: dict) -> str:
    kinds = report.get("kinds") or {}
    values = [(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in headline.items() if k != "architecture"]
    per_class = pd.DataFrame(
        [(name, kinds.get(name, ""), c["precision"], c["recall"], c["f1"], c["support"]) for name, c in report["per_class"].items()],
        columns=["class", "kind", "precision", "recall", "F1", "videos"],
    )
    sections = [
        f"# {arch}",
        pd.DataFrame(values, columns=["metric", "value"]).to_markdown(index=False, colalign=("left", "right")),
        "## Worst-confused class pairs",
        worst_confusions(report)
        .rename(columns={"count": "videos", "rate": "share of the true class"})
        .to_markdown(index=False, floatfmt=".2f"),
        "## Per class",
        per_class.to_markdown(index=False, floatfmt=".3f"),
        "Figures: training_curves.png, confusion.png, roc.png, per_class_accuracy.png.",
    ]
    return "\n\n".join(sections) + "\n"
