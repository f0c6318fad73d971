"""One video's training example or test views, built inside the tf.data graph from the bytes of
its frame pack (and flow pack): parse the pack header, decode only the frames
:mod:`actionrec.data.sampling` picks, cropped (``decode_and_crop_jpeg``), resize, augment.

:func:`train_example` is what :func:`actionrec.data.inputs.make_dataset` maps over the training
videos; :func:`video_views` builds the test views that evaluation (through
:func:`actionrec.data.inputs.video_dataset`) and prediction on a new video (``inference``) score.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from actionrec import config
from actionrec.data import flow as flowcodes
from actionrec.data.framestore import PACK_MAGIC
from actionrec.data.sampling import Sampling, flow_indices, train_crop, train_indices, view_crops, view_indices


@dataclass(frozen=True)
class Augment:
    """Per-architecture augmentation (``architectures.<name>.augment``), the same for every frame of a clip.

    Only a horizontal flip, a multi-scale crop and photometric changes: none of them turns one
    synthetic motion class into another (vertical motion, scaling and fading survive a flip).
    """

    flip: bool = True
    scales: tuple[float, ...] = (1.0,)  # crop sides as fractions of the short side (TSN: 1, .875, .75, .66)
    brightness: float = 0.0  # max absolute change, in [0, 255] pixel units
    contrast: float = 0.0  # max relative change (0.2 = x0.8 .. x1.2)

    @classmethod
    def of(cls, settings: config.AugmentSettings) -> Augment:
        return cls(settings.flip, tuple(settings.scales), settings.brightness, settings.contrast)


# --- decoding -------------------------------------------------------------------------------------


def _images(raw: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """The JPEG bytes of images ``indices`` of a pack (framestore.pack's header, parsed in the graph)."""
    count = tf.io.decode_raw(tf.strings.substr(raw, 4, 4), tf.int32)[0]
    offsets = tf.io.decode_raw(tf.strings.substr(raw, 8, 4 * (count + 1)), tf.int32)
    starts = tf.gather(offsets, indices)
    return tf.strings.substr(raw, starts, tf.gather(offsets, indices + 1) - starts)


def checked_pack(raw: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
    """``raw`` once its header says it is a whole frame pack; otherwise an error naming ``path``
    (a file cut short or not a pack would otherwise fail deep inside ``decode_raw``)."""
    size = tf.strings.length(raw)
    hint = "(rebuild the store with `dvc repro extract`):"
    is_pack = tf.logical_and(size >= 8, tf.equal(tf.strings.substr(raw, 0, 4), PACK_MAGIC))
    with tf.control_dependencies([tf.debugging.Assert(is_pack, ["not a frame pack", hint, path])]):
        count = tf.io.decode_raw(tf.strings.substr(raw, 4, 4), tf.int32)[0]
    with tf.control_dependencies([tf.debugging.Assert(size >= 8 + 4 * (count + 1), ["truncated frame pack", hint, path])]):
        end = tf.io.decode_raw(tf.strings.substr(raw, 8 + 4 * count, 4), tf.int32)[0]
    with tf.control_dependencies([tf.debugging.Assert(tf.equal(end, size), ["truncated or corrupt frame pack", hint, path])]):
        return tf.identity(raw)


def _decode(raw: tf.Tensor, indices: tf.Tensor, window: tf.Tensor, channels: int) -> tf.Tensor:
    """Images ``indices`` of a pack, cropped to ``window`` [top, left, h, w]: (k, h, w, channels) float32.

    INTEGER_ACCURATE is libjpeg's default and OpenCV's, so these pixels are exactly those of
    ``framestore.decode_pack`` (the flow stage's frames); TF's own default differs by a few levels.
    """
    images = tf.map_fn(
        lambda jpeg: tf.io.decode_and_crop_jpeg(jpeg, window, channels=channels, dct_method="INTEGER_ACCURATE"),
        _images(raw, indices),
        fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8),
    )
    return tf.cast(images, tf.float32)


def _resize(images: tf.Tensor, window: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """Resize crops to ``size`` (only when the crop is not already that size: no needless blur)."""
    same = tf.logical_and(tf.equal(window[2], size), tf.equal(window[3], size))
    # Plain bilinear both ways: crops shrink by at most short_side / input_size (128 -> 112), where
    # an antialiasing filter buys nothing visible and costs 5x (bench/input.py), and an upscale
    # (input_size above the short side, at most 4x) has nothing to alias.
    out = tf.cond(same, lambda: images, lambda: tf.image.resize(images, [size, size]))
    return tf.reshape(out, [tf.shape(images)[0], size, size, channels])


def _flow_images(fields: tf.Tensor) -> tf.Tensor:
    """Field indices -> image indices in a flow pack (x0, y0, x1, y1, ...)."""
    return tf.reshape(tf.stack([2 * fields, 2 * fields + 1], axis=1), [-1])


def _as_fields(images: tf.Tensor) -> tf.Tensor:
    """(2S, h, w, 1) x/y images -> (S, h, w, 2) fields."""
    shape = tf.shape(images)
    return tf.transpose(tf.reshape(images, [-1, 2, shape[1], shape[2]]), [0, 2, 3, 1])


def _scale_flow(fields: tf.Tensor, window: tf.Tensor, size: int) -> tf.Tensor:
    """Flow in pixels grows with the zoom from the crop to ``size``, separately along x and y."""
    zoom = tf.stack([size / tf.cast(window[3], tf.float32), size / tf.cast(window[2], tf.float32)])
    return (fields - flowcodes.ZERO) * zoom + flowcodes.ZERO


def flip_flow(fields: tf.Tensor) -> tf.Tensor:
    """Mirror (.., H, W, 2) flow codes horizontally: x motion changes sign (code c -> 256 - c)."""
    mirrored = tf.reverse(fields, axis=[-2])
    return tf.stack([2.0 * flowcodes.ZERO - mirrored[..., 0], mirrored[..., 1]], axis=-1)


# --- training examples --------------------------------------------------------------------------


def _photometric(rgb: tf.Tensor, aug: Augment, seed: tf.Tensor) -> tf.Tensor:
    b_seed, c_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    delta = tf.random.stateless_uniform([], b_seed, -aug.brightness, aug.brightness + 1e-9)
    factor = tf.random.stateless_uniform([], c_seed, 1.0 - aug.contrast, 1.0 + aug.contrast + 1e-9)
    # The clip's mean as an exact integer sum (in 1/16 levels): a float reduce_mean's result
    # depends on how its threads split the sum, which varies with the load and parallelism.
    sixteenths = tf.reduce_sum(tf.cast(tf.round(rgb * 16.0), tf.int64))
    mean = tf.cast(tf.cast(sixteenths, tf.float64) / (16.0 * tf.cast(tf.size(rgb), tf.float64)), tf.float32)
    return tf.clip_by_value((rgb - mean) * factor + mean + delta, 0.0, 255.0)


def train_example(raw_rgb, raw_flow, n, height, width, sampling: Sampling, aug: Augment, size: int, seed):
    """One training example of a video: (length, size, size, 3) RGB, and (stack, size, size, 2) flow codes."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    indices = train_indices(sampling, n, seeds[0])
    window = train_crop(height, width, aug.scales, seeds[1])
    rgb = _resize(_decode(raw_rgb, indices, window, 3), window, size, 3)
    flow = None
    if sampling.flow_stack:
        fields = _as_fields(_decode(raw_flow, _flow_images(flow_indices(sampling, indices, n)), window, 1))
        flow = _scale_flow(_resize(fields, window, size, 2), window, size)
    if aug.flip:  # tf.cond, not tf.where: only the branch taken is computed
        flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
        rgb = tf.cond(flip, lambda: tf.reverse(rgb, axis=[2]), lambda: rgb)
        if flow is not None:
            flow = tf.cond(flip, lambda: flip_flow(flow), lambda: flow)
    if aug.brightness or aug.contrast:
        rgb = _photometric(rgb, aug, seeds[3])
    return rgb, flow


# --- test views ---------------------------------------------------------------------------------


def video_views(raw_rgb, raw_flow, n, height, width, sampling: Sampling, size: int, clips: int, crops: int) -> dict:
    """Every test view of one video as model examples: ``{"rgb": (E, ...), "flow": (E, stack, size, size, 2)}``.

    Frame models: E = crops x clips x K frames, each (size, size, 3); clip models: E = crops x
    clips clips, each (L, size, size, 3). A video's score is the mean over its E examples.
    """
    indices = view_indices(sampling, n, clips)  # (views, length)
    boxes = view_crops(height, width, size, crops)
    full = tf.stack([0, 0, tf.cast(height, tf.int32), tf.cast(width, tf.int32)])
    # Each needed frame is decoded once, then cut into the crops.
    rgb = _decode(raw_rgb, tf.reshape(indices, [-1]), full, 3)
    rgb = tf.reshape(rgb, [tf.shape(indices)[0], tf.shape(indices)[1], height, width, 3])
    flow = None
    if sampling.flow_stack:
        fields = tf.map_fn(lambda clip: flow_indices(sampling, clip, n), indices)  # (views, stack)
        flow = _as_fields(_decode(raw_flow, _flow_images(tf.reshape(fields, [-1])), full, 1))
        flow = tf.reshape(flow, [tf.shape(indices)[0], sampling.flow_stack, height, width, 2])
    side = boxes[0][2]  # size, or the short side when size is larger
    out = {"rgb": [], "flow": []}
    for c in range(crops):
        top, left = boxes[c][0], boxes[c][1]
        out["rgb"].append(rgb[:, :, top : top + side, left : left + side])
        if flow is not None:
            out["flow"].append(flow[:, :, top : top + side, left : left + side])
    views = {"rgb": _resize_views(tf.concat(out["rgb"], axis=0), boxes[0], size, 3)}  # (crops * views, length, size, size, 3)
    if sampling.kind.per_frame:
        views["rgb"] = tf.reshape(views["rgb"], [-1, size, size, 3])
    else:
        views["rgb"] = tf.ensure_shape(views["rgb"], [None, sampling.clip_len, size, size, 3])
    if flow is not None:
        fields = _scale_flow(_resize_views(tf.concat(out["flow"], axis=0), boxes[0], size, 2), boxes[0], size)
        views["flow"] = tf.ensure_shape(fields, [None, sampling.flow_stack, size, size, 2])
    return views


def _resize_views(views: tf.Tensor, box: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """(V, T, side, side, C) views -> (V, T, size, size, C): the identity unless ``size`` exceeds the short side."""
    shape = tf.shape(views)
    frames = _resize(tf.reshape(views, [-1, shape[2], shape[3], channels]), box, size, channels)
    return tf.reshape(frames, [shape[0], shape[1], size, size, channels])
