"""The dense frame store: every frame of every video, JPEG-compressed, one file per video.

Layout of ``data/frames/``::

    store.json       short_side, fps, quality, split, classes, class_kinds (the contract readers check)
    manifest.csv     one row per usable video (see MANIFEST_COLUMNS)
    skipped.json     videos that could not be used, each with its reason
    videos/<Class>/<stem>.jpgs   every frame of the video as a JPEG pack (see pack())

Why JPEG packs: a dense store must be small (UCF101 has 2.5 M frames) and each training
example reads only a few frames of a video, decoded inside the tf.data graph
(``tf.io.decode_and_crop_jpeg`` decodes just the crop). One file per video, not per frame,
because DVC slows down badly with millions of files; any subset (a split, a class, a rank's
shard) is still just a list of paths. ``bench/extract.py`` measures the bytes per frame.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from actionrec import config
from actionrec.data import ucf101
from actionrec.data.video import UnreadableVideo, decode_video
from actionrec.errors import DataError
from actionrec.io import atomic_dir, write_bytes, write_json

MANIFEST_COLUMNS = [
    "video",
    "class_name",
    "label",
    "group",
    "clip",
    "split",
    "frames",
    "num_frames",
    "fps",
    "width",
    "height",
    "frames_found",
    "native_fps",
    "original_width",
    "original_height",
]
INT_COLUMNS = ("label", "group", "clip", "num_frames", "width", "height", "frames_found", "original_width", "original_height")
STORE_KEYS = ("short_side", "fps", "quality")  # the frames.* params a store is built with
PACK_MAGIC = b"JPK1"
PACK_SUFFIX = ".jpgs"


# --- the pack: n JPEG images in one file ------------------------------------------------------
# b"JPK1", uint32 n, uint32 offsets[n + 1] (from the start of the file), then the images.
# Hand-written because no container both keeps compressed images addressable by index and
# parses inside a TensorFlow graph (examples.py reads the header with decode_raw).


def pack(images: list[bytes]) -> bytes:
    sizes = np.array([len(b) for b in images], np.int64)
    header = len(PACK_MAGIC) + 4 + 4 * (len(images) + 1)
    offsets = header + np.concatenate([[0], np.cumsum(sizes)])
    if offsets[-1] >= 2**31:
        raise DataError(f"a pack of {len(images)} images is over 2 GiB; lower frames.short_side or frames.quality")
    return PACK_MAGIC + struct.pack("<I", len(images)) + offsets.astype("<u4").tobytes() + b"".join(images)


def unpack(data: bytes, name: str = "pack") -> list[bytes]:
    rebuild = "rebuild the store with `dvc repro extract`"
    if len(data) < 8 or data[:4] != PACK_MAGIC:
        raise DataError(f"{name}: not a frame pack ({rebuild})")
    (n,) = struct.unpack("<I", data[4:8])
    header = 8 + 4 * (n + 1)
    if len(data) < header:
        raise DataError(f"{name}: truncated frame pack, its header lists {n} images ({rebuild})")
    offsets = np.frombuffer(data, "<u4", n + 1, 8).astype(np.int64)
    if offsets[0] != header or np.any(np.diff(offsets) < 0) or offsets[-1] != len(data):
        raise DataError(f"{name}: corrupt frame pack, its offsets do not match its {len(data)} bytes ({rebuild})")
    return [data[offsets[i] : offsets[i + 1]] for i in range(n)]


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """RGB (H, W, 3) or grayscale (H, W) uint8 -> JPEG bytes."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DataError(f"JPEG encoding failed for an image of shape {image.shape}")
    return buf.tobytes()


def decode_pack(data: bytes, gray: bool = False, name: str = "pack") -> np.ndarray:
    """Every image of a pack: (n, H, W, 3) RGB, or (n, H, W) for grayscale packs."""
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    images = [cv2.imdecode(np.frombuffer(b, np.uint8), flag) for b in unpack(data, name)]
    if any(img is None for img in images):
        raise DataError(f"{name}: a frame does not decode (rebuild the store with `dvc repro extract`)")
    return np.stack(images) if gray else np.stack([cv2.cvtColor(img, cv2.COLOR_BGR2RGB) for img in images])


# --- extraction -------------------------------------------------------------------------------


@dataclass
class ExtractJob:
    src: str  # absolute video path
    out: str  # absolute pack path
    short_side: int
    fps: float | None
    quality: int


def frames_path(store: Path, rel: str) -> Path:
    """``<Class>/v_x.avi`` -> ``<store>/videos/<Class>/v_x.jpgs``."""
    return Path(store) / "videos" / Path(rel).with_suffix(PACK_SUFFIX)


def encode_video(path: Path, short_side: int, fps: float | None, quality: int, threads: int = 0):
    """Decode ``path`` and JPEG-encode every kept frame: (DecodedVideo with bytes frames, pack)."""
    decoded = decode_video(Path(path), short_side, fps, encode=lambda frame: encode_jpeg(frame, quality), threads=threads)
    return decoded, pack(decoded.frames)


def _extract_one(job: ExtractJob) -> dict:
    try:
        # One decoding thread per worker (cv2.setNumThreads does not reach FFmpeg): the pool is the parallelism.
        decoded, data = encode_video(Path(job.src), job.short_side, job.fps, job.quality, threads=1)
    except UnreadableVideo as err:
        return {"skipped": err.reason}
    write_bytes(Path(job.out), data)
    return {
        "num_frames": len(decoded.frames),
        "fps": round(decoded.fps, 3),
        "width": decoded.stored_width,
        "height": decoded.stored_height,
        "frames_found": decoded.frames_found,
        "native_fps": round(decoded.native_fps, 3),
        "original_width": decoded.width,
        "original_height": decoded.height,
        "bytes": len(data),
    }


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one decoding thread per process: parallelism comes from the pool


def extract(raw: Path, out: Path, *, split: int, short_side: int, fps: float | None, quality: int, workers: int, strict: bool) -> dict:
    """Build the dense frame store for ``raw`` (UCF101 layout) at ``out``; returns a summary.

    Rows are written as results arrive, so memory stays flat in the number of videos.
    """
    raw = Path(raw)
    videos = ucf101.index_dataset(raw, split)
    classes = ucf101.read_class_index(raw / ucf101.LISTS_DIR)
    class_kinds = ucf101.read_class_kinds(raw / ucf101.LISTS_DIR, classes)  # None: scored as a whole
    if not videos:
        raise DataError(f"{raw}: split {split} lists no videos")
    skipped: list[dict] = []
    per_class = dict.fromkeys(classes, 0)
    total_frames = total_bytes = 0
    with atomic_dir(out) as tmp:
        jobs = [ExtractJob(str(raw / v.path), str(frames_path(tmp, v.path)), short_side, fps, quality) for v in videos]
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
                    total_frames += result["num_frames"]
                    total_bytes += result.pop("bytes")
                    writer.writerow(
                        {
                            "video": video.path,
                            "class_name": video.class_name,
                            "label": video.label,
                            "group": video.group,
                            "clip": video.clip,
                            "split": video.split,
                            "frames": frames_path(Path("."), video.path).as_posix(),
                            **result,
                        }
                    )
        write_json(tmp / "skipped.json", skipped)
        for item in skipped:
            print(f"skipped {item['video']}: {item['reason']}")
        if skipped and strict:
            raise DataError(
                f"{len(skipped)} unreadable videos and frames.strict is true; first: {skipped[0]['video']}: {skipped[0]['reason']}"
            )
        empty = [name for name, n in per_class.items() if n == 0]
        if empty:
            raise DataError(f"no usable videos left for classes: {', '.join(empty)} (see the skipped list above)")
        summary = {
            "format": "jpeg-pack",
            "short_side": short_side,
            "fps": fps,
            "quality": quality,
            "split": split,
            "classes": classes,
            "class_kinds": class_kinds,
            "videos": sum(per_class.values()),
            "skipped": len(skipped),
            "frames": total_frames,
            "bytes": total_bytes,
            "bytes_per_frame": round(total_bytes / max(total_frames, 1), 1),
        }
        write_json(tmp / "store.json", summary)
    return summary


# --- reading ----------------------------------------------------------------------------------


def read_store(store: Path, frames: config.Frames | None = None) -> dict:
    """``store.json``; given params' ``frames``, refuses a store built with other ``frames.*`` than they say."""
    path = Path(store) / "store.json"
    if not path.is_file():
        raise DataError(f"{path}: frame store not found (run `dvc repro extract`)")
    info = json.loads(path.read_text())
    if info.get("format") != "jpeg-pack" or "class_kinds" not in info:
        raise DataError(f"{store}: an old frame store format (rebuild it with `dvc repro extract`)")
    if frames is not None:
        for key in STORE_KEYS:
            wanted = getattr(frames, key)
            if info[key] != wanted:
                raise DataError(
                    f"{store} was built with frames.{key}={info[key]!r} but params.yaml says {wanted!r} "
                    "(rebuild it with `dvc repro extract`)"
                )
    return info


def read_manifest(store: Path) -> list[dict]:
    store = Path(store)
    path = store / "manifest.csv"
    if not path.is_file():
        raise DataError(f"{path}: frame store manifest not found (run `dvc repro extract`)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in INT_COLUMNS:
            row[key] = int(row[key])
        for key in ("fps", "native_fps"):
            row[key] = float(row[key])
    return rows


def load_frames(store: Path, row: dict) -> np.ndarray:
    """All stored frames of one video, (n, H, W, 3) uint8 RGB."""
    path = Path(store) / row["frames"]
    return decode_pack(path.read_bytes(), name=str(path))


def middle_frames_per_class(store: Path, per_class: int, seed: int) -> dict[str, list[np.ndarray]]:
    """The middle frame of ``per_class`` random videos of each class, classes in label order
    (the same videos for a seed)."""
    rows = read_manifest(store)
    classes = sorted({r["class_name"]: r["label"] for r in rows}.items(), key=lambda item: item[1])
    rng = np.random.default_rng(seed)
    samples = {}
    for name, _ in classes:
        videos = [r for r in rows if r["class_name"] == name]
        picks = rng.choice(len(videos), size=min(per_class, len(videos)), replace=False)
        samples[name] = []
        for i in picks:
            frames = load_frames(store, videos[i])
            samples[name].append(frames[len(frames) // 2])
    return samples
