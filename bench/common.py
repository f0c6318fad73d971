"""What several benchmarks share: UCF101-like test videos on disk (cached), and a real-data subset.

Not a benchmark itself. ``bench/extract.py`` and ``bench/input.py`` import it (``python bench/x.py``
puts ``bench/`` first on ``sys.path``; spawned pool workers inherit that path).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
# UCF101 is XVID (MPEG-4 part 2) in AVI; OpenCV's FFmpeg writer can usually make it, else mp4v, else MJPG.
FOURCCS = ("XVID", "mp4v", "MJPG")
UCF101_VIDEOS = 13_320
# UCF101 has no official frame count; 2,484,199 is the count usually quoted for its frames at the
# native rate (about 27 h: 27 * 3600 * 25 = 2.43 M at 25 fps, a few clips are at 29.97 fps).
UCF101_FRAMES = 2_484_199
UCF101_RAR_BYTES = 6.5e9  # UCF101.rar: about 6.5 GB of XVID for those frames (~2.6 kB per frame)


def cache_root() -> Path:
    """Where generated inputs are kept between runs (``$ACTIONREC_BENCH_CACHE``, else the temp dir)."""
    root = Path(os.environ.get("ACTIONREC_BENCH_CACHE") or Path(tempfile.gettempdir()) / "actionrec-bench-cache")
    root.mkdir(parents=True, exist_ok=True)
    return root


def digest(*parts, files: tuple[Path, ...] = ()) -> str:
    """A cache key: the settings plus the source of the code that makes the cached thing."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:12]


def writable_fourcc(preferred: str | None = None) -> str:
    """The first of ``preferred`` / FOURCCS this OpenCV build can write (and read back)."""
    probe = Path(tempfile.mkdtemp(prefix="fourcc-"))
    try:
        for fourcc in [preferred] if preferred else list(FOURCCS):
            path = probe / f"probe-{fourcc}.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (64, 48))
            if writer.isOpened():
                for _ in range(3):
                    writer.write(np.full((48, 64, 3), 100, np.uint8))
                writer.release()
                cap = cv2.VideoCapture(str(path))
                readable = cap.grab()
                cap.release()
                if readable:
                    return fourcc
            writer.release()
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    raise SystemExit(f"bench: OpenCV cannot write {preferred or ' / '.join(FOURCCS)} videos here")


def _frame_counts(value) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, int) else (value[0], value[-1])
    return int(lo), int(hi)


def synthetic_videos(
    videos: int, frames, size: tuple[int, int] = (320, 240), fps: int = 25, fourcc: str | None = None, seed: int = 0
) -> tuple[Path, dict]:
    """A UCF101-layout directory (split lists included) of ``videos`` synthetic clips, cached.

    The clips are :func:`actionrec.data.synthetic.render_clip` (a textured background, a moving object,
    sensor noise), ``frames`` (an int or [min, max]) frames each at ``size`` and ``fps``, written
    with ``fourcc`` (default: XVID if this OpenCV can write it). Classes cycle through the
    synthetic classes (groups 1, 2, ... as needed), so every listed class has a video.
    Returns (root, info); the same arguments reuse the directory of an earlier run.
    """
    from actionrec.data import synthetic, ucf101

    frames = _frame_counts(frames)
    fourcc = writable_fourcc(fourcc)
    key = digest("videos", videos, frames, list(size), fps, fourcc, seed, cv2.__version__, files=(REPO / "actionrec/data/synthetic.py",))
    root = cache_root() / f"videos-{key}"
    info_path = root / "videos.json"
    if info_path.is_file():
        return root, json.loads(info_path.read_text())
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    classes = list(synthetic.CLASSES)[: min(videos, len(synthetic.CLASSES))]
    rels, total_frames, started = [], 0, time.perf_counter()
    for i in range(videos):
        name, group = classes[i % len(classes)], i // len(classes) + 1
        rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
        clip, _ = synthetic.render_clip(name, group, 1, frames=frames, size=tuple(size), seed=seed)
        (tmp / name).mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(tmp / rel), cv2.VideoWriter_fourcc(*fourcc), fps, tuple(size))
        for frame in clip:
            writer.write(frame)
        writer.release()
        rels.append(rel)
        total_frames += len(clip)
    ucf101.write_lists(tmp, classes, rels)
    info = {
        "videos": videos,
        "frames": total_frames,
        "size": list(size),
        "fps": fps,
        "fourcc": fourcc,
        "bytes": sum((tmp / r).stat().st_size for r in rels),
        "source": "synthetic",
        "seconds_to_write": round(time.perf_counter() - started, 1),
    }
    (tmp / "videos.json").write_text(json.dumps(info))
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
    return root, info


def real_subset(raw: Path, videos: int, into: Path) -> tuple[Path, dict]:
    """``videos`` real videos of a UCF101-layout directory (e.g. data/raw), spread over its classes,
    linked into ``into`` with split lists of their own (so ``framestore.extract`` takes just them)."""
    from actionrec.data import ucf101

    raw = Path(raw).resolve()
    found = ucf101.find_videos(raw)
    if not found:
        raise SystemExit(f"bench: no videos under {raw}")
    by_class: dict[str, list[str]] = {}
    for rel in found:
        by_class.setdefault(rel.split("/")[0], []).append(rel)
    picked: list[str] = []
    while len(picked) < min(videos, len(found)):  # round robin over the classes
        for rels in by_class.values():
            if rels and len(picked) < videos:
                picked.append(rels.pop(0))
    for rel in picked:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        (into / rel).symlink_to(raw / rel)
    classes = sorted({rel.split("/")[0] for rel in picked})
    ucf101.write_lists(into, classes, picked)
    frames = 0
    for rel in picked:
        cap = cv2.VideoCapture(str(raw / rel))
        frames += int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
    info = {
        "videos": len(picked),
        "frames": frames,
        "fourcc": "as found",
        "source": str(raw),
        "bytes": sum((raw / r).stat().st_size for r in picked),
    }
    return into, info


def profile_params(name: str) -> tuple[dict, dict]:
    """(params.yaml with ``profiles/<name>.yaml``'s overrides applied, the overrides as dotted keys).

    Loaded from the repository root: ``extends:`` names another profile relative to the
    current directory (actionrec.profiles.PROFILES), whatever directory this is run from.
    """
    import contextlib

    import yaml

    from actionrec import profiles

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    with contextlib.chdir(REPO):
        overrides = dict(profiles.leaves(profiles.load(name)))
    for key, value in overrides.items():
        node = params
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return params, overrides


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB ({n_bytes / 2**30:.1f} GiB)"
