"""Video decoding with OpenCV: every frame, short side resized with the aspect ratio kept.

One code path for every consumer: the extract stage, the benchmark and prediction on a new
video all call :func:`decode_video`, so training and inference see identical frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
class DecodedVideo:
    frames: list[Any]  # what ``encode`` made of each kept frame (by default the RGB array)
    frames_found: int  # frames decoded from the file (before the frame-rate cap)
    native_fps: float
    fps: float  # frame rate of ``frames`` (native, or the cap)
    width: int  # original size
    height: int
    stored_width: int
    stored_height: int


def stored_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side ``short_side`` and the aspect ratio kept: 320x240 -> 171x128."""
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def kept_frames(native_fps: float, cap: float | None):
    """A predicate on frame indices that subsamples ``native_fps`` to at most ``cap`` frames per second.

    Keeps the first frame at or after each multiple of 1/cap seconds, so a 60 fps video capped at
    25 keeps 25 evenly spread frames per second; ``None`` (or a video at or below the cap) keeps all.
    """
    if cap is None or native_fps <= 0 or native_fps <= cap:
        return lambda index: True
    state = {"next": 0.0}

    def keep(index: int) -> bool:
        if index / native_fps + 1e-9 >= state["next"]:
            state["next"] += 1.0 / cap
            return True
        return False

    return keep


def resize_rgb(frame_bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """BGR frame -> RGB at ``size`` (w, h): area averaging when shrinking 2x or more, else bilinear.

    Bilinear is what MMAction2's Resize and TSN's dense_flow use; OpenCV's area averaging at a
    non-integer ratio such as 320x240 -> 171x128 costs 4x as much (bench/extract.py).
    """
    if (frame_bgr.shape[1], frame_bgr.shape[0]) != size:
        interpolation = cv2.INTER_AREA if frame_bgr.shape[1] >= 2 * size[0] else cv2.INTER_LINEAR
        frame_bgr = cv2.resize(frame_bgr, size, interpolation=interpolation)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def decode_video(
    path: Path,
    short_side: int,
    fps_cap: float | None = None,
    encode: Callable[[np.ndarray], Any] | None = None,
    threads: int = 0,
) -> DecodedVideo:
    """Decode every frame of ``path`` (capped at ``fps_cap``), resized to ``short_side``.

    ``encode`` is applied to each RGB frame as soon as it is decoded (the extract stage passes
    the JPEG encoder), so a long video never sits in memory as raw pixels. ``threads``: FFmpeg's
    decoding threads (0: its default, one per core; the extract stage's workers use 1 each).
    Raises :class:`UnreadableVideo` for files that cannot be opened, hold no frames or are truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableVideo(path, "file not found")
    if path.stat().st_size == 0:
        raise UnreadableVideo(path, "empty file (0 bytes)")
    encode = encode or (lambda frame: frame)
    cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, threads])
    try:
        if not cap.isOpened():
            raise UnreadableVideo(path, "OpenCV cannot open it (not a video, or an unsupported codec)")
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        native_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        keep = kept_frames(native_fps, fps_cap)
        frames, found, size, original = [], 0, None, (0, 0)
        # grab() demuxes and decodes; only kept frames pay for retrieve() (conversion and copy).
        while cap.grab():
            if keep(found):
                ok, frame = cap.retrieve()
                if ok:
                    if size is None:
                        original = (frame.shape[1], frame.shape[0])
                        size = stored_size(*original, short_side)
                    frames.append(encode(resize_rgb(frame, size)))
            found += 1
    finally:
        cap.release()
    if not frames:
        raise UnreadableVideo(path, "no decodable frames")
    if reported > 0 and found < reported * (1 - TRUNCATION_TOLERANCE):
        raise UnreadableVideo(path, f"truncated: header says {reported} frames, only {found} decode")
    fps = native_fps if fps_cap is None or native_fps <= fps_cap else float(fps_cap)
    return DecodedVideo(frames, found, native_fps, fps, *original, *size)
