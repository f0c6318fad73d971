"""Video-level predictions as a CSV file: what evaluation writes and the ensemble, the leaderboard
and the report read (``video,label,<one probability column per class>``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionrec.errors import DataError, PipelineError
from actionrec.io import atomic_file


@dataclass
class Predictions:
    """Video-level class probabilities of one architecture on a split (test; validation for model selection)."""

    videos: list[str]
    labels: np.ndarray  # (videos,) int
    probabilities: np.ndarray  # (videos, classes)
    classes: list[str]

    def write(self, path: Path) -> None:
        with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "label", *self.classes])
            for video, label, row in zip(self.videos, self.labels, self.probabilities):
                writer.writerow([video, int(label), *(f"{p:.6g}" for p in row)])

    @classmethod
    def read(cls, path: Path) -> Predictions:
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
