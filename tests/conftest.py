"""Shared fixtures: small real video files written with OpenCV, in UCF101 layout."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from actionrec import ucf101

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_video(path: Path, n_frames: int, size=(64, 48), fps: int = 25, fourcc: str = "MJPG", seed: int = 0) -> Path:
    """A real video whose frame i carries brightness 4*i (so tests can tell which frame was sampled)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), path
    rng = np.random.default_rng(seed)
    for i in range(n_frames):
        frame = np.full((size[1], size[0], 3), 4 * i % 256, np.uint8)
        frame[: size[1] // 4, : size[0] // 4] = rng.integers(0, 255, 3, dtype=np.uint8)
        writer.write(frame)
    writer.release()
    return path


def make_dataset(root: Path, classes=("Alpha", "Beta", "Gamma"), groups: int = 8, clips: int = 1, n_frames: int = 12) -> list[str]:
    videos = []
    for c in classes:
        for g in range(1, groups + 1):
            for k in range(1, clips + 1):
                rel = f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi"
                write_video(root / rel, n_frames, seed=hash((c, g, k)) % 1000)
                videos.append(rel)
    ucf101.write_lists(root, list(classes), videos)
    return videos


@pytest.fixture
def small_dataset(tmp_path) -> Path:
    root = tmp_path / "raw"
    make_dataset(root)
    return root
