"""A deterministic synthetic dataset in UCF101 layout: real MJPG videos of one object on a textured background.

The classes are a diagnostic. Three pairs differ *only* in motion: within a pair every single
frame is drawn from the same distribution (same object, same range of position/size/contrast),
only the temporal order differs, so a per-frame model is at chance within a pair while a model
that sees time is not. The other four differ only in the object's shape and move the same mild
way as everything else. All motions survive a horizontal flip.

=========  ==========  ==============================================================
Class      Kind        What distinguishes it
=========  ==========  ==============================================================
Rising     motion      disc moves up over a random vertical range (pair: Falling)
Falling    motion      disc moves down over the same kind of range (pair: Rising)
Growing    motion      disc radius grows from r1 to r2 (pair: Shrinking)
Shrinking  motion      disc radius shrinks from r2 to r1 (pair: Growing)
Appearing  motion      disc fades in: contrast a0 -> 1 (pair: Vanishing)
Vanishing  motion      disc fades out: contrast 1 -> a0 (pair: Appearing)
Triangle   appearance  an upward triangle instead of a disc
Cross      appearance  a "+" cross
Ring       appearance  a ring (disc with a hole)
Star       appearance  a five-pointed star
=========  ==========  ==============================================================

Every class also gets the same small horizontal drift and per-frame jitter, so "moving vs still"
is never a cue. A group (like a UCF101 actor/scene) fixes the background texture (smooth noise,
stripes, checker or gradient), the colours, the object size and the extent of the motion; its
clips vary these slightly. All of it is drawn from distributions shared by every class, and
every frame gets mild sensor noise.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from actionrec.data import ucf101
from actionrec.errors import DataError

CLASSES: dict[str, str] = {
    "Rising": "motion",
    "Falling": "motion",
    "Growing": "motion",
    "Shrinking": "motion",
    "Appearing": "motion",
    "Vanishing": "motion",
    "Triangle": "appearance",
    "Cross": "appearance",
    "Ring": "appearance",
    "Star": "appearance",
}


MOTION_PAIRS: list[tuple[str, str]] = [("Rising", "Falling"), ("Growing", "Shrinking"), ("Appearing", "Vanishing")]

_SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel positions, so slow motion stays smooth
_ONE = 1 << _SHIFT
_SHAPES = {"Triangle": "triangle", "Cross": "cross", "Ring": "ring", "Star": "star"}  # the rest: a disc
_REACH = {"disc": 1.0, "ring": 1.15, "triangle": 1.35, "cross": 1.16, "star": 1.45}  # bounding radius / r


def _group_params(rng: np.random.Generator, size: tuple[int, int]) -> dict:
    """What a group shares across its clips (and what no class may use as a cue)."""
    dark = rng.random() < 0.5  # dark background + light object, or the reverse
    c1 = rng.uniform(30, 100, 3) if dark else rng.uniform(150, 225, 3)
    return {
        "texture": rng.integers(4),
        "freq": rng.uniform(2, 8),  # periods across the frame (stripes/checker) or blob grid size (noise)
        "angle": rng.uniform(0, np.pi),
        "blobs": rng.uniform(-1, 1, (10, 10)).astype(np.float32),
        "c1": c1,
        "c2": np.clip(c1 + rng.normal(0, 25, 3), 0, 255),
        "obj": rng.uniform(170, 255, 3) if dark else rng.uniform(0, 80, 3),
        "radius": rng.uniform(0.09, 0.15) * min(size),
        "extent": rng.uniform(0.35, 0.65),  # how much of the possible motion range a clip uses: its speed
    }


def _background(rng: np.random.Generator, g: dict, size: tuple[int, int]) -> np.ndarray:
    """The group's texture, seen from a slightly shifted viewpoint and colour per clip; float32 (H, W, 3)."""
    w, h = size
    m = 4  # render a margin and crop at a per-clip offset
    y, x = np.mgrid[0 : h + 2 * m, 0 : w + 2 * m].astype(np.float32) / max(size)
    u = x * np.cos(g["angle"]) + y * np.sin(g["angle"])
    if g["texture"] == 0:  # smooth noise: a coarse random grid, upsampled
        cells = int(g["freq"]) + 2
        t = cv2.resize(g["blobs"][:cells, :cells], (w + 2 * m, h + 2 * m), interpolation=cv2.INTER_CUBIC)
    elif g["texture"] == 1:  # stripes
        t = np.sin(2 * np.pi * g["freq"] * u)
    elif g["texture"] == 2:  # checker
        v = -x * np.sin(g["angle"]) + y * np.cos(g["angle"])
        t = np.sign(np.sin(2 * np.pi * g["freq"] * u) * np.sin(2 * np.pi * g["freq"] * v))
    else:  # gradient
        t = 2 * u / max(u.max(), 1e-6) - 1
    dy, dx = rng.integers(0, 2 * m + 1, 2)
    t = np.clip(t[dy : dy + h, dx : dx + w], -1, 1)[..., None]
    c1 = g["c1"] + rng.normal(0, 5, 3)
    c2 = g["c2"] + rng.normal(0, 5, 3)
    return (c1 + (c2 - c1) * (t + 1) / 2).astype(np.float32)


def _draw(mask: np.ndarray, shape: str, cx: float, cy: float, r: float) -> None:
    """Draw a filled ``shape`` of size ~r centred at (cx, cy) into ``mask`` (255 = object), anti-aliased."""

    def poly(points):
        pts = np.round((np.asarray(points) + (cx, cy)) * _ONE).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, _SHIFT)

    def disc(radius, value=255):
        cv2.circle(mask, (round(cx * _ONE), round(cy * _ONE)), max(round(radius * _ONE), 1), value, -1, cv2.LINE_AA, _SHIFT)

    if shape == "disc":
        disc(r)
    elif shape == "ring":
        disc(r * 1.15)
        disc(r * 0.6, 0)
    elif shape == "triangle":  # pointing up, so a horizontal flip keeps it a triangle of the same kind
        a = np.deg2rad([-90, 30, 150])
        poly(1.35 * r * np.stack([np.cos(a), np.sin(a)], 1))
    elif shape == "cross":
        s, k = 1.1 * r, 0.35 * r
        poly([(-k, -s), (k, -s), (k, -k), (s, -k), (s, k), (k, k), (k, s), (-k, s), (-k, k), (-s, k), (-s, -k), (-k, -k)])
    elif shape == "star":
        a = np.deg2rad(-90 + 36 * np.arange(10))
        rad = np.where(np.arange(10) % 2 == 0, 1.45 * r, 0.6 * r)
        poly(np.stack([rad * np.cos(a), rad * np.sin(a)], 1))


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # an object too big for a tiny frame is centred rather than failing
    return rng.uniform(low, high) if high > low else (low + high) / 2


def render_clip(
    class_name: str, group: int, clip: int, *, frames: tuple[int, int] = (30, 40), size: tuple[int, int] = (160, 120), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One clip as uint8 BGR frames (T, H, W, 3), plus its noise-free background (H, W, 3) for tests."""
    ci = list(CLASSES).index(class_name)
    w, h = size
    # Group parameters come from (seed, class, group, 0); the clip's own from (seed, class, group, clip>=1).
    g = _group_params(np.random.default_rng([seed, ci, group, 0]), size)
    rng = np.random.default_rng([seed, ci, group, clip])
    n = int(rng.integers(frames[0], frames[1] + 1))
    bg = _background(rng, g, size)
    t = np.linspace(0.0, 1.0, n)
    extent = g["extent"] * rng.uniform(0.85, 1.15)
    r = g["radius"] * rng.uniform(0.9, 1.1)

    # Each motion pair runs the same linear sweep in opposite directions over a range drawn the same
    # way for both, so the frame-wise marginal (uniform over the range) is identical within a pair.
    radius, alpha = np.full(n, r), np.ones(n)
    if class_name in ("Growing", "Shrinking"):
        r_hi = min(r * (1 + 2 * extent), 0.3 * min(size))
        radius = np.linspace(0.55 * r, r_hi, n)
    if class_name in ("Appearing", "Vanishing"):
        alpha = np.linspace(max(0.0, 0.65 - extent), 1.0, n)
    if class_name in ("Shrinking", "Vanishing"):
        radius, alpha = radius[::-1], alpha[::-1]
    shape = _SHAPES.get(class_name, "disc")
    big = radius.max() * _REACH[shape] + 2  # keeps the whole object (and its jitter) inside the frame

    room_x = max(w - 2 * big, 0.0)
    drift = rng.uniform(-1, 1) * min(0.15 * w, room_x)  # same mild horizontal drift for every class
    x = _uniform(rng, big + max(0.0, -drift), w - big - max(0.0, drift)) + drift * t
    room_y = max(h - 2 * big, 0.0)
    if class_name in ("Rising", "Falling"):
        span = extent * room_y
        top = _uniform(rng, big, h - big - span)
        y = top + span * (1 - t if class_name == "Rising" else t)  # image y grows downwards
    else:
        y = np.full(n, _uniform(rng, big, h - big))
    x += rng.normal(0, 0.4, n)  # hand-held jitter
    y += rng.normal(0, 0.4, n)

    obj = (g["obj"] + rng.normal(0, 5, 3)).astype(np.float32)
    # Sensor noise, cheaply: the sum of two independent uniform 0..7 (bits of one random byte), minus 7:
    # triangular, zero mean, std ~3.2 levels.
    bits = np.frombuffer(rng.bytes(n * h * w * 3), np.uint8).reshape(n, h, w, 3)
    video = (bits & 7) + ((bits >> 3) & 7) + (bg - 7)
    mask = np.empty((h, w), np.uint8)
    for i in range(n):
        mask[:] = 0
        _draw(mask, shape, x[i], y[i], radius[i])
        # blend the object in its bounding box only
        ys = slice(max(int(y[i] - big), 0), int(y[i] + big) + 2)
        xs = slice(max(int(x[i] - big), 0), int(x[i] + big) + 2)
        a = mask[ys, xs, None] * np.float32(alpha[i] / 255)
        video[i, ys, xs] += (obj - bg[ys, xs]) * a
    out = np.clip(video, 0, 255, out=video).astype(np.uint8)
    return out, np.clip(bg, 0, 255).astype(np.uint8)


def _write_clip(job: tuple) -> str:
    """Render one clip and write it as an MJPG .avi; returns its path relative to the root."""
    root, class_name, group, clip, frames, size, fps, seed = job
    rel = f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"
    clip_frames, _ = render_clip(class_name, group, clip, frames=frames, size=size, seed=seed)
    writer = cv2.VideoWriter(str(Path(root) / rel), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise DataError(f"{Path(root) / rel}: OpenCV could not open an MJPG video writer")
    for frame in clip_frames:
        writer.write(frame)
    writer.release()
    return rel


def _init_worker() -> None:
    cv2.setNumThreads(1)  # parallelism comes from the pool


def generate(
    root: Path,
    *,
    groups: int = 25,
    clips_per_group: int = 4,
    frames: tuple[int, int] = (30, 40),
    size: tuple[int, int] = (160, 120),
    fps: int = 25,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Write <root>/<Class>/v_<Class>_gGG_cCC.avi for every class, group (1..groups) and clip
    (1..clips_per_group), then the split lists and the class kinds via actionrec.data.ucf101.write_lists.
    Returns relative paths. ``size`` is (width, height); ``workers`` rendering processes (every
    clip draws from its own seed, so the files do not depend on it); ``progress(done)`` is called
    after each video."""
    frames, size = tuple(frames), tuple(size)  # checked with params.yaml (actionrec.config.Synthetic)
    root = Path(root)
    jobs = []
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        jobs += [(str(root), name, g, c, frames, size, fps, seed) for g in range(1, groups + 1) for c in range(1, clips_per_group + 1)]
    videos = []
    with contextlib.ExitStack() as stack:
        written = map(_write_clip, jobs)  # one process needs no pool: its start-up outweighs a small set
        if workers > 1:
            pool = stack.enter_context(mp.get_context("spawn").Pool(workers, initializer=_init_worker))
            written = pool.imap(_write_clip, jobs, chunksize=4)
        for rel in written:
            videos.append(rel)
            if progress:
                progress(len(videos))
    ucf101.write_lists(root, list(CLASSES), videos, kinds=CLASSES)
    return videos
