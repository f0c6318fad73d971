"""Shared fixtures: small real video files written with OpenCV, in UCF101 layout."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from actionrec.data import ucf101

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


def write_lists_for(root: Path) -> list[str]:
    """Split lists (and classInd) for whatever videos lie under ``root``; classes are the folders, sorted."""
    videos = ucf101.find_videos(root)
    ucf101.write_lists(root, sorted({v.split("/")[0] for v in videos}), videos)
    return videos


def single_video_dataset(root: Path, video: Path, rel: str = "Alpha/v_Alpha_g01_c01.avi") -> str:
    """A one-class, one-video dataset at ``root`` holding a copy of ``video`` (group 1: a test video)."""
    target = Path(root) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(Path(video).read_bytes())
    write_lists_for(root)
    return rel


def read_video(path: Path) -> np.ndarray:
    """Every frame of ``path`` as OpenCV decodes it, (n, H, W, 3) RGB: the ground truth a store is checked against."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def save_tiny_model(
    models_dir: Path,
    arch: str,
    classes,
    *,
    input_size: int,
    sampling: dict,
    store: dict,
    flow: dict | None = None,
    params: dict | None = None,
):
    """A small untrained model saved the way actionrec.train.training saves one (model.keras + classes.json).

    ``sampling`` is the classes.json entry (``Sampling.as_dict()``: segments, or clip_len and
    frame_interval, plus flow_stack for two-stream).
    """
    import keras

    import models
    from actionrec.io import write_json

    keras.utils.set_random_seed(0)
    kind = models.get(arch).INPUT
    spec = models.InputSpec(
        frames=1 if kind == "frames" else sampling["clip_len"],
        height=input_size,
        width=input_size,
        flow_stack=sampling.get("flow_stack", 0),
    )
    model = models.build(arch, len(classes), spec, params)
    out = Path(models_dir) / arch
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    meta = {"classes": list(classes), "input": kind, "input_size": input_size, "sampling": dict(sampling), "store": dict(store)}
    if flow is not None:
        meta["flow"] = dict(flow)
    write_json(out / "classes.json", meta)
    return model
