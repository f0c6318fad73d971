"""The frame store: one uint8 ``.npy`` array per video plus a CSV manifest.

Layout of ``data/frames/``::

    store.json       count, size, split, classes (the contract readers check)
    manifest.csv     one row per usable video (see MANIFEST_COLUMNS)
    skipped.json     videos that could not be used, each with its reason
    videos/<Class>/<stem>.npy   (count, height, width, 3) uint8 RGB

Why per-video ``.npy`` and not TFRecord shards: a clip is read whole, with one file read and
no decode step (tf.io.read_file + decode_raw in the input graph, or np.load(mmap_mode="r")),
any subset (a split, a class, a rank's shard) is just a list of paths, and a skipped or added
video never forces re-writing a shard. The price is more files and raw size on disk
(16 x 112 x 112 x 3 = 600 kB per video); ``bench/extract.py`` measures both read paths.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from actionrec import ucf101
from actionrec.errors import DataError
from actionrec.io import atomic_dir, save_array, write_json
from actionrec.video import UnreadableVideo, sample_frames

MANIFEST_COLUMNS = [
    "video", "class_name", "label", "group", "clip", "split", "frames", "frames_found",
    "padded", "fps", "width", "height",
]  # fmt: skip


@dataclass
class ExtractJob:
    src: str  # absolute video path
    rel: str  # "<Class>/<file>" relative to the dataset root
    out: str  # absolute .npy path
    count: int
    size: tuple[int, int]


def frames_path(store: Path, rel: str) -> Path:
    """``<Class>/v_x.avi`` -> ``<store>/videos/<Class>/v_x.npy``."""
    return Path(store) / "videos" / Path(rel).with_suffix(".npy")


def _extract_one(job: ExtractJob) -> dict:
    try:
        sampled = sample_frames(Path(job.src), job.count, job.size)
    except UnreadableVideo as err:
        return {"skipped": err.reason}
    save_array(Path(job.out), sampled.frames)
    return {
        "frames_found": sampled.frames_found,
        "padded": sampled.padded,
        "fps": round(sampled.fps, 3),
        "width": sampled.width,
        "height": sampled.height,
    }


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one decoding thread per process: parallelism comes from the pool


def extract(
    raw: Path, out: Path, *, split: int, count: int, size: tuple[int, int], workers: int, strict: bool
) -> dict:
    """Build the frame store for ``raw`` (UCF101 layout) at ``out``; returns a summary.

    Rows are written as results arrive, so memory stays flat in the number of videos.
    """
    raw = Path(raw)
    videos = ucf101.index_dataset(raw, split)
    classes = ucf101.read_class_index(raw / ucf101.LISTS_DIR)
    if not videos:
        raise DataError(f"{raw}: split {split} lists no videos")
    skipped: list[dict] = []
    per_class = dict.fromkeys(classes, 0)
    with atomic_dir(out) as tmp:
        jobs = [
            ExtractJob(str(raw / v.path), v.path, str(frames_path(tmp, v.path)), count, size) for v in videos
        ]
        with open(tmp / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                results = pool.imap(_extract_one, jobs, chunksize=4)
                for video, result in tqdm(zip(videos, results), total=len(jobs), desc="extract", unit="video"):
                    if "skipped" in result:
                        skipped.append({"video": video.path, "reason": result["skipped"]})
                        continue
                    per_class[video.class_name] += 1
                    writer.writerow(
                        {
                            "video": video.path, "class_name": video.class_name, "label": video.label,
                            "group": video.group, "clip": video.clip, "split": video.split,
                            "frames": frames_path(Path("."), video.path).as_posix(),
                            **result,
                        }
                    )  # fmt: skip
        write_json(tmp / "skipped.json", skipped)
        for item in skipped:
            print(f"skipped {item['video']}: {item['reason']}")
        if skipped and strict:
            raise DataError(
                f"{len(skipped)} unreadable videos and frames.strict is true; first: "
                f"{skipped[0]['video']}: {skipped[0]['reason']}"
            )
        empty = [name for name, n in per_class.items() if n == 0]
        if empty:
            raise DataError(f"no usable videos left for classes: {', '.join(empty)} (see the skipped list above)")
        summary = {
            "split": split, "count": count, "size": list(size), "classes": classes,
            "videos": sum(per_class.values()), "skipped": len(skipped),
        }  # fmt: skip
        write_json(tmp / "store.json", summary)
    return summary


def read_manifest(store: Path) -> list[dict]:
    store = Path(store)
    path = store / "manifest.csv"
    if not path.is_file():
        raise DataError(f"{path}: frame store manifest not found (run `dvc repro extract`)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("label", "group", "clip", "frames_found", "padded", "width", "height"):
            row[key] = int(row[key])
    return rows


def load_frames(store: Path, row: dict) -> np.ndarray:
    return np.load(Path(store) / row["frames"])
