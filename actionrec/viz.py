"""Dataset plots (the original project's ``visualize`` command): sample frames and class balance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run on servers
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from actionrec.framestore import load_frames, read_manifest


def sample_grid(store: Path, out_png: Path, samples_per_class: int, seed: int) -> None:
    """Rows: classes; columns: the middle frame of randomly chosen videos (same choice for a seed)."""
    manifest = pd.DataFrame(read_manifest(store))
    classes = sorted(manifest["class_name"].unique(), key=lambda c: manifest.loc[manifest.class_name == c, "label"].iloc[0])
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), samples_per_class, figsize=(1.6 * samples_per_class, 1.3 * len(classes)), squeeze=False)
    for row, name in enumerate(classes):
        rows = manifest[manifest.class_name == name].to_dict("records")
        picks = rng.choice(len(rows), size=min(samples_per_class, len(rows)), replace=False)
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col < len(picks):
                frames = load_frames(store, rows[picks[col]])
                ax.imshow(frames[len(frames) // 2])
        axes[row][0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=80)
    plt.close(fig)


def class_distribution(store: Path, out_png: Path, out_csv: Path) -> None:
    """Videos per class and split, as a bar chart and as a CSV for ``dvc plots``."""
    manifest = pd.DataFrame(read_manifest(store))
    counts = manifest.groupby(["class_name", "split"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["train", "test"], fill_value=0)
    counts.reset_index().to_csv(out_csv, index=False)
    ax = counts.plot.bar(figsize=(max(6, 0.35 * len(counts)), 4), width=0.8)
    ax.set_ylabel("videos")
    ax.set_xlabel("")
    ax.set_title("Videos per class and split")
    plt.tight_layout()
    plt.savefig(out_png, dpi=80)
    plt.close("all")
