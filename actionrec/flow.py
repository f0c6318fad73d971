"""Dense optical flow between consecutive sampled frames, stored as uint8 for the two-stream model.

Each video's flow is ``(count - 1, height, width, 2)`` uint8 under ``data/flow/videos/``, mirroring
the frame store; ``u8 = round((clip(f, -bound, bound) + bound) * 255 / (2 * bound))``, so
``f = u8 * 2 * bound / 255 - bound``. Quantisation step: 2 * bound / 255 px (0.16 px at bound 20),
below what Farneback/DIS resolve on low-resolution frames.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from actionrec.framestore import read_manifest
from actionrec.io import atomic_dir, file_digest, save_array, write_json

METHODS = ("farneback", "dis")


def _flow_fn(method: str):
    if method == "farneback":
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return lambda prev, nxt: dis.calc(prev, nxt, None)


def compute_flow(frames: np.ndarray, method: str, bound: float) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8 RGB -> (T-1, H, W, 2) uint8 quantised flow."""
    flow_fn = _flow_fn(method)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    flows = np.stack([flow_fn(a, b) for a, b in zip(gray[:-1], gray[1:])])
    return quantize(flows, bound)


def quantize(flow: np.ndarray, bound: float) -> np.ndarray:
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantize(flow_u8: np.ndarray, bound: float) -> np.ndarray:
    return flow_u8.astype(np.float32) * (2 * bound / 255.0) - bound


def _flow_one(args) -> None:
    src, dst, method, bound = args
    save_array(Path(dst), compute_flow(np.load(src), method, bound))


def _init_worker() -> None:
    cv2.setNumThreads(1)


def build_flow_store(frames_store: Path, out: Path, *, method: str, bound: float, workers: int) -> dict:
    rows = read_manifest(frames_store)
    with atomic_dir(out) as tmp:
        jobs = [(str(Path(frames_store) / r["frames"]), str(tmp / r["frames"]), method, bound) for r in rows]
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for _ in tqdm(pool.imap_unordered(_flow_one, jobs, chunksize=4), total=len(jobs), desc="flow", unit="video"):
                pass
        summary = {
            "method": method, "bound": bound, "videos": len(rows), "encoding": "uint8: f = u8 * 2 * bound / 255 - bound",
            # Ties this store to the frame store it came from: a stage that depends on data/flow
            # alone (two_stream) re-runs whenever data/frames changes, even where flow would not.
            "frame_store": {name: file_digest(Path(frames_store) / name) for name in ("store.json", "manifest.csv")},
        }  # fmt: skip
        write_json(tmp / "flow.json", summary)
    return summary
