"""Dense optical flow between consecutive stored frames, for the two-stream model's temporal stream.

Each video with n stored frames has ``max(n - 1, 1)`` fields (a one-frame video gets one field
of zero motion). As in Simonyan & Zisserman, each field's mean is subtracted (a crude camera
motion compensation). A component is quantised to uint8 with an exact code for zero motion::

    code = 128 + clip(round(f * 127 / bound), -127, 127)        f = (code - 128) * bound / 127

so zero is 128, a horizontal flip is ``code -> 256 - code`` (zero stays zero) and the step is
``bound / 127`` px. Fields are stored like the frames: a grayscale JPEG per component, packed
in one file per video in the order x0, y0, x1, y1, ... (``data/flow/videos/<Class>/<stem>.jpgs``).
A flat region of 128 is exact in JPEG (its DCT is zero after the level shift). The mean
subtraction removes a whole-frame pan entirely; around a moving object on a still background
it shifts the background by minus the field's mean, so the stream sees relative motion.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from actionrec.data.framestore import decode_pack, encode_jpeg, pack, read_manifest
from actionrec.io import atomic_dir, file_digest, write_bytes, write_json

ZERO = 128  # the code of zero motion
LEVELS = 127  # codes per bound on each side of ZERO


def _flow_fn(method: str):
    if method == "farneback":
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return lambda prev, nxt: dis.calc(prev, nxt, None)


def compute_flow(frames: np.ndarray, method: str, bound: float) -> np.ndarray:
    """``frames`` (n, H, W, 3) uint8 RGB -> (max(n-1, 1), H, W, 2) uint8 codes, consecutive pairs."""
    flow_fn = _flow_fn(method)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    if len(gray) < 2:
        return np.full((1, *gray[0].shape, 2), ZERO, np.uint8)
    fields = np.stack([flow_fn(a, b) for a, b in zip(gray[:-1], gray[1:])])
    fields -= fields.mean(axis=(1, 2), keepdims=True)  # each field's mean: camera motion
    return quantize(fields, bound)


def quantize(flow: np.ndarray, bound: float) -> np.ndarray:
    return (ZERO + np.clip(np.rint(flow * (LEVELS / bound)), -LEVELS, LEVELS)).astype(np.uint8)


def pack_flow(codes: np.ndarray, quality: int) -> bytes:
    """(F, H, W, 2) codes -> a pack of 2F grayscale JPEGs: x0, y0, x1, y1, ..."""
    return pack([encode_jpeg(np.ascontiguousarray(field[..., c]), quality) for field in codes for c in (0, 1)])


def unpack_flow(data: bytes, name: str = "flow pack") -> np.ndarray:
    """The inverse of :func:`pack_flow` (up to JPEG's loss): (F, H, W, 2) uint8 codes."""
    images = decode_pack(data, gray=True, name=name)
    return np.stack([images[0::2], images[1::2]], axis=-1)


def flow_of_pack(frames_pack: bytes, method: str, bound: float, quality: int, name: str = "pack") -> bytes:
    """A video's frame pack -> its flow pack (the flow stage, and predict for a new video)."""
    return pack_flow(compute_flow(decode_pack(frames_pack, name=name), method, bound), quality)


def _flow_one(args) -> None:
    src, dst, method, bound, quality = args
    write_bytes(Path(dst), flow_of_pack(Path(src).read_bytes(), method, bound, quality, name=src))


def _init_worker() -> None:
    cv2.setNumThreads(1)


def build_flow_store(frames_store: Path, out: Path, *, method: str, bound: float, quality: int, workers: int) -> dict:
    rows = read_manifest(frames_store)
    with atomic_dir(out) as tmp:
        jobs = [(str(Path(frames_store) / r["frames"]), str(tmp / r["frames"]), method, bound, quality) for r in rows]
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for _ in tqdm(pool.imap_unordered(_flow_one, jobs, chunksize=4), total=len(jobs), desc="flow", unit="video"):
                pass
        total = sum((tmp / r["frames"]).stat().st_size for r in rows)
        fields = sum(max(r["num_frames"] - 1, 1) for r in rows)
        summary = {
            "method": method,
            "bound": bound,
            "quality": quality,
            "videos": len(rows),
            "fields": fields,
            "bytes": total,
            "bytes_per_field": round(total / max(fields, 1), 1),
            "encoding": "grayscale JPEG per component, x0 y0 x1 y1 ...: f = (code - 128) * bound / 127",
            # Ties this store to the frame store it came from: a stage that depends on data/flow
            # alone (two_stream) re-runs whenever data/frames changes, even where flow would not.
            "frame_store": {name: file_digest(Path(frames_store) / name) for name in ("store.json", "manifest.csv")},
        }
        write_json(tmp / "flow.json", summary)
    return summary
