"""tf.data input pipelines that stream from the frame store (never the whole dataset in memory).

Each element is read from its ``.npy`` file inside the graph (read_file + decode_raw, parallel),
so decoding scales with ``num_parallel_calls`` and nothing is materialised beyond the prefetch
queue. Shuffling permutes *indices* (a full permutation per epoch, a few bytes per video)
instead of filling a shuffle buffer with decoded clips: a perfect shuffle at no memory cost.

Randomness (epoch order, which frame a frame model sees, augmentation) is *stateless*: drawn
from ``(seed, epoch)`` and ``(seed, element index)``. The same seed therefore gives the same
stream whatever the parallelism, and a resumed run that skips to epoch ``k`` sees exactly what
an uninterrupted run would have seen from epoch ``k`` on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from actionrec.errors import DataError, ParamError

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class Augment:
    """Per-architecture augmentation (``architectures.<name>.augment``), the same for every frame of a clip.

    Only a horizontal flip, a crop and photometric changes: none of them turns one synthetic
    motion class into another (vertical motion, scaling and fading survive a horizontal flip).
    """

    flip: bool = True
    crop: float = 1.0  # smallest crop side as a fraction of the frame (1.0 = no crop)
    brightness: float = 0.0  # max absolute change, in [0, 255] pixel units
    contrast: float = 0.0  # max relative change (0.2 = x0.8 .. x1.2)

    @classmethod
    def from_params(cls, params: dict | None, key: str) -> "Augment":
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParamError(f"{key}.{sorted(unknown)[0]}", params[sorted(unknown)[0]], f"one of {sorted(cls.__dataclass_fields__)}")
        aug = cls(**params)
        if not 0.3 <= aug.crop <= 1.0:
            raise ParamError(f"{key}.crop", aug.crop, "a fraction in [0.3, 1.0]")
        if not 0 <= aug.brightness <= 128:
            raise ParamError(f"{key}.brightness", aug.brightness, "a number of pixel levels in [0, 128]")
        if not 0 <= aug.contrast < 1:
            raise ParamError(f"{key}.contrast", aug.contrast, "a fraction in [0, 1)")
        return aug


@dataclass
class Source:
    """What one pipeline reads: store-relative paths and labels, and the store layout."""

    frames_root: Path
    paths: list[str]
    labels: list[int]
    shape: tuple[int, int, int, int]  # (T, H, W, 3)
    flow_root: Path | None = None
    videos: list[str] = field(default_factory=list)


def npy_header_size(path: Path, shape: tuple[int, ...]) -> int:
    """Byte offset of the array data in an ``.npy`` file; checked against the expected uint8 shape."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        file_shape, _, dtype = read_header(f)
        offset = f.tell()
    if tuple(file_shape) != tuple(shape) or dtype != np.uint8:
        raise DataError(f"{path}: array {file_shape} {dtype}, expected {shape} uint8 (rebuild with `dvc repro extract`)")
    return offset


def _reader(root: Path, shape: tuple[int, ...], example: str):
    root = str(root).rstrip("/") + "/"
    offset = npy_header_size(Path(root) / example, shape)

    def read(rel: tf.Tensor) -> tf.Tensor:
        raw = tf.io.decode_raw(tf.io.read_file(root + rel), tf.uint8)
        return tf.reshape(raw[offset:], shape)

    return read


def _clip_augment(rgb: tf.Tensor, flow: tf.Tensor | None, aug: Augment, seed: tf.Tensor):
    """Apply one random flip/crop/photometric change to every frame (and the flow) of a clip."""
    seeds = tf.random.experimental.stateless_split(seed, 5)
    height, width = tf.shape(rgb)[1], tf.shape(rgb)[2]
    rgb = tf.cast(rgb, tf.float32)
    flow = None if flow is None else tf.cast(flow, tf.float32)
    if aug.flip:
        flip = tf.random.stateless_uniform([], seeds[0]) < 0.5
        rgb = tf.where(flip, tf.reverse(rgb, axis=[2]), rgb)
        if flow is not None:  # mirrored motion: the x component changes sign (code c -> 255 - c)
            mirrored = tf.reverse(flow, axis=[2])
            flow = tf.where(flip, tf.stack([255.0 - mirrored[..., 0], mirrored[..., 1]], axis=-1), flow)
    if aug.crop < 1.0:
        scale = tf.random.stateless_uniform([], seeds[1], aug.crop, 1.0)
        crop_h = tf.cast(tf.cast(height, tf.float32) * scale, tf.int32)
        crop_w = tf.cast(tf.cast(width, tf.float32) * scale, tf.int32)
        top = tf.random.stateless_uniform([], seeds[2], 0, height - crop_h + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([], seeds[3], 0, width - crop_w + 1, dtype=tf.int32)
        rgb = tf.image.resize(rgb[:, top : top + crop_h, left : left + crop_w], (height, width))
        if flow is not None:
            # Flow in pixels grows with the zoom; codes are centred on 127.5.
            cropped = tf.image.resize(flow[:, top : top + crop_h, left : left + crop_w], (height, width))
            flow = tf.clip_by_value((cropped - 127.5) / scale + 127.5, 0.0, 255.0)
    if aug.brightness or aug.contrast:
        b_seed, c_seed = tf.unstack(tf.random.experimental.stateless_split(seeds[4], 2))
        delta = tf.random.stateless_uniform([], b_seed, -aug.brightness, aug.brightness + 1e-9)
        factor = tf.random.stateless_uniform([], c_seed, 1.0 - aug.contrast, 1.0 + aug.contrast + 1e-9)
        # The clip's mean as an exact integer sum (in 1/16 levels): a float reduce_mean's result
        # depends on how its threads split the sum, which varies with the load and parallelism.
        sixteenths = tf.reduce_sum(tf.cast(tf.round(rgb * 16.0), tf.int64))
        mean = tf.cast(tf.cast(sixteenths, tf.float64) / (16.0 * tf.cast(tf.size(rgb), tf.float64)), tf.float32)
        rgb = tf.clip_by_value((rgb - mean) * factor + mean + delta, 0.0, 255.0)
    return rgb, flow


def epoch_order(n: int, seed: int, first_epoch: int = 0) -> tf.data.Dataset:
    """Indices 0..n-1, reshuffled for every epoch from ``(seed, epoch)``; starts at ``first_epoch``."""
    return tf.data.Dataset.range(first_epoch, 2**31).flat_map(
        lambda epoch: tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        )
    )


def clip_windows(frames: int, length: int, clips: int) -> list[int]:
    """Start indices of ``clips`` windows of ``length`` stored frames, evenly spaced over ``frames``.

    One clip is the centre window; a video no longer than one clip has a single window.
    """
    if length >= frames:
        return [0]
    if clips == 1:
        return [(frames - length) // 2]
    return sorted({int(round(s)) for s in np.linspace(0, frames - length, clips)})


def make_dataset(
    source: Source,
    *,
    kind: str,
    batch_size: int,
    training: bool,
    seed: int,
    augment: Augment | None = None,
    first_epoch: int = 0,
    parallel: int | None = None,
    frames_per_clip: int = 1,
    clip_frames: int | None = None,
) -> tf.data.Dataset:
    """``kind``: "frames" (``frames_per_clip`` random frames per clip when training, every frame
    otherwise), "clip" or "clip+flow".

    Clip models see ``clip_frames`` consecutive stored frames (default: all of them): a random
    window when training (temporal jitter), the centre window otherwise.

    Training streams are infinite (epochs come from ``steps_per_epoch``); evaluation streams
    are one pass in manifest order. ``parallel`` bounds decoding threads (tests and benchmarks).
    """
    if not source.paths:
        raise DataError("no videos to read (empty split or shard)")
    parallel = parallel or AUTOTUNE
    read_rgb = _reader(source.frames_root, source.shape, source.paths[0])
    t, h, w, _ = source.shape
    read_flow = None
    if kind == "clip+flow":
        if source.flow_root is None:
            raise DataError("two-stream input needs the flow store (run `dvc repro flow`)")
        read_flow = _reader(source.flow_root, (t - 1, h, w, 2), source.paths[0])
    paths = tf.constant(source.paths)
    labels = tf.constant(source.labels, tf.int32)
    n = len(source.paths)
    indices = epoch_order(n, seed, first_epoch) if training else tf.data.Dataset.range(n)
    aug = augment or Augment(flip=False)
    length = clip_frames or t
    if kind != "frames" and not 1 <= length <= t:
        raise DataError(f"clips of {length} frames from videos of {t} stored frames")

    def load(position, index):
        rel = paths[index]
        label = labels[index]
        rgb = read_rgb(rel)
        flow = read_flow(rel) if read_flow is not None else None
        element_seed = tf.stack([tf.cast(seed, tf.int64), position])
        if kind != "frames" and length < t:
            if training:
                start = tf.random.stateless_uniform([], element_seed + 2, 0, t - length + 1, dtype=tf.int32)
            else:
                start = clip_windows(t, length, 1)[0]
            rgb = rgb[start : start + length]
            flow = None if flow is None else flow[start : start + length - 1]
        if training:
            rgb, flow = _clip_augment(rgb, flow, aug, element_seed)
        else:
            rgb = tf.cast(rgb, tf.float32)
            flow = None if flow is None else tf.cast(flow, tf.float32)
        if kind == "frames":
            if training:  # fresh random frames of the clip every epoch (distinct while k <= T)
                picks = tf.random.experimental.stateless_shuffle(tf.range(t), seed=element_seed + 1)[:frames_per_clip]
                return tf.gather(rgb, picks), tf.repeat(label, frames_per_clip)
            return rgb, tf.repeat(label, t)  # every frame; the video score is the mean over them
        if kind == "clip+flow":
            return {"rgb": rgb, "flow": flow}, label
        return rgb, label

    # Positions count from the start of epoch 0, so a resumed stream draws the same augmentations.
    start = first_epoch * n if training else 0
    ds = indices.enumerate(start=start).map(load, num_parallel_calls=parallel, deterministic=True)
    if kind == "frames":
        # Training: k frames per clip; evaluation: every frame, consecutive, in manifest order.
        ds = ds.unbatch()
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(AUTOTUNE)
