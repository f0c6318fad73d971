"""Video decoding and uniform frame sampling with OpenCV.

One code path for every consumer: the extract stage, the benchmark and (later) prediction on a
new video all call :func:`sample_frames`, so training and inference see identical frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actionrec.errors import DataError

# Containers sometimes report one or two frames more than they hold; a shortfall larger than
# this fraction of the reported count means the file is truncated.
TRUNCATION_TOLERANCE = 0.05


class UnreadableVideo(DataError):
    """A video that cannot be used; ``reason`` is what goes into skipped.json."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass
class SampledVideo:
    frames: np.ndarray  # (count, height, width, 3) uint8 RGB
    frames_found: int  # frames actually decoded from the file
    padded: int  # sampled positions filled by repeating a frame (video shorter than count)
    fps: float
    width: int  # original size
    height: int


def sample_indices(total: int, count: int) -> np.ndarray:
    """Centre of ``count`` equal segments of ``total`` frames (TSN-style uniform sampling).

    With fewer frames than ``count`` the indices repeat, which pads a short video by repeating
    frames evenly rather than only the last one.
    """
    return np.minimum(((np.arange(count) + 0.5) * total / count).astype(np.int64), total - 1)


def _resize_rgb(frame_bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    interpolation = cv2.INTER_AREA if frame_bgr.shape[1] > size[0] else cv2.INTER_LINEAR
    return cv2.cvtColor(cv2.resize(frame_bgr, size, interpolation=interpolation), cv2.COLOR_BGR2RGB)


def sample_frames(path: Path, count: int, size: tuple[int, int]) -> SampledVideo:
    """Decode ``path`` once and return ``count`` uniformly sampled RGB frames resized to ``size`` (w, h).

    Frames that are not sampled are only ``grab()``-ed (demuxed and decoded, never converted or
    copied to Python), which is what makes this faster than ``read()``-ing every frame.
    Raises :class:`UnreadableVideo` for files that cannot be opened, hold no frames or are truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableVideo(path, "file not found")
    if path.stat().st_size == 0:
        raise UnreadableVideo(path, "empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UnreadableVideo(path, "OpenCV cannot open it (not a video, or an unsupported codec)")
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if reported > 0:
            frames, found = _sample_known_length(cap, reported, count, size)
            if found < reported * (1 - TRUNCATION_TOLERANCE):
                raise UnreadableVideo(path, f"truncated: header says {reported} frames, only {found} decode")
        else:  # length unknown (some streams): keep every frame, then sample
            frames, found = _sample_unknown_length(cap, count, size)
            if found == 0:
                raise UnreadableVideo(path, "no decodable frames")
    finally:
        cap.release()
    padded = count - len(np.unique(sample_indices(found, count)))
    return SampledVideo(np.stack(frames), found, padded, fps, width, height)


def _sample_known_length(cap, reported: int, count: int, size) -> tuple[list[np.ndarray], int]:
    targets = sample_indices(reported, count)
    wanted = set(targets.tolist())
    picked: dict[int, np.ndarray] = {}
    found = 0
    last = None
    while found < reported and cap.grab():
        if found in wanted:
            ok, frame = cap.retrieve()
            if ok:
                last = picked[found] = _resize_rgb(frame, size)
        found += 1
    if last is None:
        return [], 0
    # Positions past a slightly short stream (within the tolerance) reuse the last sampled frame.
    out, previous = [], None
    for index in targets.tolist():
        previous = picked.get(index, previous if previous is not None else last)
        out.append(previous)
    return out, found


def _sample_unknown_length(cap, count: int, size) -> tuple[list[np.ndarray], int]:
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(_resize_rgb(frame, size))
    if not frames:
        return [], 0
    return [frames[i] for i in sample_indices(len(frames), count)], len(frames)
