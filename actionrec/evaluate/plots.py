"""Figures as PNG: the dataset (sample frames, videos per class and split) and the evaluation
(training curves, confusion matrix, ROC, per-class accuracy, leaderboard).

Every function writes its PNG atomically (temporary sibling, then rename) and creates parent folders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run on servers
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import auc

from actionrec.errors import DataError
from actionrec.evaluate.metrics import roc_curves
from actionrec.io import atomic_file

ANNOTATE_MAX_CLASSES = 30  # beyond this, per-cell numbers in a confusion matrix are unreadable
LEGEND_MAX_CLASSES = 15  # beyond this, per-class ROC curves are drawn unlabelled


@contextmanager
def _figure(
    path: Path, figsize: tuple[float, float], ncols: int = 1, nrows: int = 1, dpi: int = 100
) -> Iterator[tuple[plt.Figure, np.ndarray]]:
    """Yield (figure, axes: a row, or a grid when ``nrows > 1``); on success save it to ``path``
    through a temporary file, always close it."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    try:
        yield fig, axes[0] if nrows == 1 else axes
        fig.tight_layout()
        with atomic_file(path, ".tmp.png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")  # keeps outside legends
    finally:
        plt.close(fig)


def training_curves_png(history: list[dict], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, train and validation, side by side."""
    if not history:
        raise DataError(f"no training history to plot for {title!r}")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    with _figure(path, (10, 4), ncols=2) as (fig, axes):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for key, label in ((metric, "train"), (f"val_{metric}", "val")):
                values = [row.get(key) for row in history]
                if any(v is not None for v in values):
                    ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o", ms=3, label=label)
            ax.set(xlabel="epoch", ylabel=metric, title=metric)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        fig.suptitle(title)


def confusion_png(confusion, classes: Sequence[str], path: Path, title: str, normalize: bool = True, annotate: bool | None = None) -> None:
    """Heatmap, rows = true class, columns = predicted; row-normalized unless ``normalize=False``.

    ``annotate`` (per-cell values) defaults to on for up to ANNOTATE_MAX_CLASSES classes.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 2 or cm.shape != (len(classes), len(classes)):
        raise DataError(f"confusion must be {len(classes)}x{len(classes)} for {len(classes)} classes, got shape {cm.shape}")
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    n = len(classes)
    size = max(5.0, 0.4 * n + 2)
    with _figure(path, (size + 1, size)) as (fig, (ax,)):
        image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ticks = np.arange(n)
        ax.set_xticks(ticks, classes, rotation=90, fontsize=8)
        ax.set_yticks(ticks, classes, fontsize=8)
        ax.set(xlabel="predicted", ylabel="true", title=title)
        if annotate if annotate is not None else n <= ANNOTATE_MAX_CLASSES:
            threshold = (1 if normalize else cm.max()) / 2
            for (i, j), value in np.ndenumerate(cm):
                text = f"{value:.2f}" if normalize else f"{int(value)}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if value > threshold else "black")


def roc_png(labels, probabilities, classes: Sequence[str], path: Path, title: str) -> None:
    """One-vs-rest ROC curve per class present (AUC in the legend), micro-average and chance diagonal."""
    curves = roc_curves(labels, probabilities, classes)
    micro = curves.pop("micro-average", None)
    labelled = len(curves) <= LEGEND_MAX_CLASSES
    with _figure(path, (7, 6)) as (fig, (ax,)):
        for name, (fpr, tpr) in curves.items():
            if labelled:
                ax.plot(fpr, tpr, lw=1, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
            else:
                ax.plot(fpr, tpr, lw=0.5, color="tab:gray", alpha=0.4)
        if micro is not None:
            ax.plot(*micro, lw=2.5, color="black", label=f"micro-average (AUC {auc(*micro):.3f})")
        ax.plot([0, 1], [0, 1], ls="--", lw=1, color="tab:red", label="chance")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
        ax.set_title(title if labelled else f"{title} ({len(curves)} classes in grey)")
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(alpha=0.3)


def per_class_accuracy_png(per_class: dict, path: Path, title: str, kinds: dict | None = None) -> None:
    """Horizontal bar per class (``per_class[name]["accuracy"]`` or a number), coloured by kind if given."""
    if not per_class:
        raise DataError(f"no per-class accuracy to plot for {title!r}")
    names = list(per_class)
    values = [float(v["accuracy"] if isinstance(v, dict) else v) for v in per_class.values()]
    kind_names = list(dict.fromkeys((kinds or {}).get(n, "other") for n in names)) if kinds else []
    palette = {kind: plt.get_cmap("tab10")(i % 10) for i, kind in enumerate(kind_names)}
    colors = [palette[kinds.get(n, "other")] for n in names] if kinds else "tab:blue"
    with _figure(path, (7, max(3.0, 0.28 * len(names) + 1.5))) as (fig, (ax,)):
        ax.barh(np.arange(len(names)), values, color=colors)
        ax.set_yticks(np.arange(len(names)), names, fontsize=8)
        ax.invert_yaxis()  # first class on top
        ax.set(xlim=(0, 1), xlabel="accuracy", title=title)
        ax.grid(axis="x", alpha=0.3)
        if kinds:
            ax.legend(
                handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()],
                labels=list(palette),
                loc="upper left",
                bbox_to_anchor=(1.01, 1),
            )


def leaderboard_png(rows: list[dict], metrics: list[str], path: Path, title: str) -> None:
    """Grouped horizontal bars: one group per ``row["architecture"]``, one bar per metric in [0, 1]."""
    if not rows or not metrics:
        raise DataError(f"nothing to plot for {title!r}: {len(rows)} rows, {len(metrics)} metrics")
    names = [str(row["architecture"]) for row in rows]
    height = 0.8 / len(metrics)
    with _figure(path, (8, max(3.0, 0.25 * len(rows) * len(metrics) + 1.5))) as (fig, (ax,)):
        positions = np.arange(len(rows))
        for m, metric in enumerate(metrics):
            values = [np.nan if row.get(metric) is None else float(row[metric]) for row in rows]
            bars = ax.barh(positions + (m - (len(metrics) - 1) / 2) * height, values, height, label=metric)
            ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.3f}" for v in values], fontsize=7, padding=2)
        ax.set_yticks(positions, names)
        ax.invert_yaxis()  # first row (the leader, when sorted) on top
        ax.set(xlim=(0, 1.1), xlabel="score", title=title)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)


def samples_png(samples: dict[str, list[np.ndarray]], path: Path, title: str) -> None:
    """One row of frames per class (``{class: [RGB frame, ...]}``, in row order)."""
    if not samples:
        raise DataError(f"nothing to plot for {title!r}: no classes")
    cols = max(1, max(len(frames) for frames in samples.values()))
    with _figure(path, (1.6 * cols, 1.3 * len(samples) + 0.4), ncols=cols, nrows=len(samples), dpi=80) as (fig, axes):
        for row, (name, frames) in zip(axes, samples.items()):
            for col, ax in enumerate(row):
                ax.axis("off")
                if col < len(frames):
                    ax.imshow(frames[col])
            row[0].set_title(name, fontsize=8, loc="left")
        fig.suptitle(title, fontsize=9)


def class_distribution_png(counts, path: Path, title: str) -> None:
    """Bars of a (class x split) table of video counts (a pandas DataFrame)."""
    with _figure(path, (max(6, 0.35 * len(counts)), 4)) as (fig, (ax,)):
        counts.plot.bar(ax=ax, width=0.8)
        ax.set(ylabel="videos", xlabel="", title=title)
