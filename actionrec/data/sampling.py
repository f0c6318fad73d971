"""Which frames, and which part of them, a model sees: temporal sampling and spatial crops.

Training (redrawn every epoch, stateless from a seed, as MMAction2's ``SampleFrames``):

- frame models (TSN): ``segments: K``, one random frame inside each of K equal segments; each
  frame is an example, or with ``consensus: true`` the K frames together are one (the loss is
  on the mean of their scores, TSN's segmental consensus: see ``actionrec/train/training.py``);
- clip models (C3D and the LSTMs): ``clip_len: L`` frames ``frame_interval: s`` native frames
  apart from a random start; a video shorter than the span ``(L - 1) * s + 1`` loops;
- two-stream: its RGB clip as a clip model and ``flow.stack`` consecutive flow fields centred
  on the clip;
- space: a crop whose sides are drawn from ``augment.scales`` (fractions of the frame's short
  side, adjacent scales at most one step apart: TSN's multi-scale crop) at a random place,
  resized to ``input_size`` (a scale of ``input_size / short_side`` crops with no resize; an
  ``input_size`` above the short side upscales every crop).

Testing (deterministic views, :func:`view_indices` and :func:`view_crops`): ``clips`` windows
(clip models) or segment sets (frame models: ``clips * K`` frames at the centres of as many
equal segments) evenly spaced over the whole video, times ``crops`` spatial views of
``input_size`` (1: centre; 3: both ends and the centre of the long side), cut at the short
side and upscaled when ``input_size`` is larger.

Every function here works on tensors inside the tf.data graph; tests call them eagerly.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from actionrec import config
from actionrec.data import kinds
from actionrec.data.kinds import InputKind
from actionrec.errors import ParamError


@dataclass(frozen=True)
class Sampling:
    """``architectures.<name>.sampling`` of one architecture, validated."""

    kind: InputKind  # given by name ("frames" | "clip" | "clip+flow") or as the object
    segments: int = 1  # frame models
    clip_len: int = 1  # clip models
    frame_interval: int = 1
    flow_stack: int = 0  # two-stream: flow fields per example (flow.stack)
    consensus: bool = False  # frame models: a training example is the video's K frames, not one frame
    fixed: bool = False  # ablation: train on the same frames every epoch (the centre view), as a store of fixed frames would

    def __post_init__(self):
        object.__setattr__(self, "kind", kinds.get(self.kind))

    @classmethod
    def of(cls, settings: config.SamplingSettings, key: str, kind: str | InputKind, flow_stack: int = 0) -> Sampling:
        """A checked ``sampling`` section (``key`` names it) for a model of ``kind``: exactly its kind's keys."""
        kind = kinds.get(kind)
        allowed = kind.sampling_keys
        given = {name: getattr(settings, name) for name in ("segments", "clip_len", "frame_interval")}
        for name, value in given.items():
            if name in allowed and value is None:
                raise ParamError(f"{key}.{name}", None, f"an integer >= 1 (a {kind.name} model takes " + " and ".join(allowed) + ")")
            if name not in allowed and value is not None:
                raise ParamError(f"{key}.{name}", value, f"one of {', '.join(allowed)} (or fixed) for a {kind.name} model")
        if kind.flow and flow_stack < 1:
            raise ParamError("flow.stack", flow_stack, "an integer >= 1")
        if settings.consensus and not kind.per_frame:
            raise ParamError(
                f"{key}.consensus", True, f"false for a {kind.name} model (the segmental consensus is over a frame model's segments)"
            )
        chosen = {name: given[name] for name in allowed}
        return cls(kind, flow_stack=flow_stack if kind.flow else 0, consensus=settings.consensus, fixed=settings.fixed, **chosen)

    @property
    def length(self) -> int:
        """Frames per training example: K for a frame model, L for a clip model."""
        return self.segments if self.kind.per_frame else self.clip_len

    @property
    def span(self) -> int:
        """Native frames one example covers (a clip's first to last frame)."""
        return self.segments if self.kind.per_frame else (self.clip_len - 1) * self.frame_interval + 1

    @property
    def frame_examples(self) -> bool:
        """Whether a training example is a single frame (a frame model without consensus)."""
        return self.kind.per_frame and not self.consensus

    def examples_per_video(self, clips: int = 1, crops: int = 1) -> int:
        """Examples the saved model is handed for one video's clips x crops test views (frames for a frame model)."""
        return self.kind.examples_per_video(self.segments, clips, crops)

    def training_examples_per_video(self) -> int:
        """Training examples one video gives per epoch: K frames, or one (a clip, or K frames under consensus)."""
        return self.segments if self.frame_examples else 1

    def short(self, num_frames: int) -> bool:
        """Whether a video of ``num_frames`` is looped (clip, flow stack) or repeats frames (segments)."""
        return num_frames < self.span or (self.flow_stack > 0 and max(num_frames - 1, 1) < self.flow_stack)

    def as_dict(self) -> dict:
        """What inference needs to rebuild the test views (``fixed`` only changes training)."""
        return {k: getattr(self, k) for k in (*self.kind.sampling_keys, "flow_stack") if k != "flow_stack" or self.flow_stack}


# --- temporal -----------------------------------------------------------------------------------


def _clip_at(sampling: Sampling, start, n):
    return (start + tf.range(sampling.clip_len) * sampling.frame_interval) % n


def train_indices(sampling: Sampling, n, seed) -> tf.Tensor:
    """(length,) int32 frame indices of one training example of a video of ``n`` frames."""
    if sampling.fixed:
        return view_indices(sampling, n, 1)[0]
    n = tf.cast(n, tf.int32)
    if sampling.kind.per_frame:
        k = sampling.segments
        u = tf.random.stateless_uniform([k], seed)
        picks = tf.cast(tf.floor((tf.range(k, dtype=tf.float32) + u) * tf.cast(n, tf.float32) / k), tf.int32)
        return tf.minimum(picks, n - 1)
    last = tf.maximum(n - sampling.span, 0)
    start = tf.random.stateless_uniform([], seed, 0, last + 1, dtype=tf.int32)
    return _clip_at(sampling, start, n)


def view_indices(sampling: Sampling, n, clips: int) -> tf.Tensor:
    """(views, length) int32 frame indices of the deterministic test views.

    Frame models: one view of ``clips * K`` frames, the centres of as many equal segments;
    clip models: ``clips`` windows, the first at frame 0 and the last ending at the last frame
    (one clip: the centre window).
    """
    n = tf.cast(n, tf.int32)
    if sampling.kind.per_frame:
        m = clips * sampling.segments
        centres = tf.cast(tf.floor((tf.range(m, dtype=tf.float32) + 0.5) * tf.cast(n, tf.float32) / m), tf.int32)
        return tf.minimum(centres, n - 1)[None]
    last = tf.maximum(n - sampling.span, 0)
    if clips == 1:
        starts = last[None] // 2
    else:
        starts = tf.cast(tf.round(tf.linspace(0.0, tf.cast(last, tf.float32), clips)), tf.int32)
    return tf.map_fn(lambda s: _clip_at(sampling, s, n), starts)


def flow_indices(sampling: Sampling, clip, n) -> tf.Tensor:
    """(flow_stack,) consecutive field indices centred on ``clip`` (field j: frames j -> j + 1)."""
    fields = tf.maximum(tf.cast(n, tf.int32) - 1, 1)
    stack = sampling.flow_stack
    centre = clip[0] + (sampling.span - 1) // 2
    first = tf.clip_by_value(centre - (stack - 1) // 2, 0, tf.maximum(fields - stack, 0))
    return (first + tf.range(stack)) % fields


# --- spatial ------------------------------------------------------------------------------------


def train_crop(height, width, scales: tuple[float, ...], seed) -> tf.Tensor:
    """[top, left, crop_h, crop_w] of a multi-scale crop (TSN): sides from ``scales`` x short side."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    base = tf.cast(tf.minimum(height, width), tf.float32)
    sizes = tf.maximum(tf.cast(base * tf.constant(scales, tf.float32), tf.int32), 1)
    choices = [(i, j) for i in range(len(scales)) for j in range(len(scales)) if abs(i - j) <= 1]
    pairs = tf.constant(choices, tf.int32)
    pick = tf.random.stateless_uniform([], seeds[0], 0, len(choices), dtype=tf.int32)
    crop_h, crop_w = sizes[pairs[pick][0]], sizes[pairs[pick][1]]
    top = tf.random.stateless_uniform([], seeds[1], 0, height - crop_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[2], 0, width - crop_w + 1, dtype=tf.int32)
    return tf.stack([top, left, crop_h, crop_w])


def view_crops(height, width, size: int, crops: int) -> tf.Tensor:
    """(crops, 4) [top, left, side, side]: the centre, or both ends and the centre of the long side.

    ``side`` is ``size``, or the short side when ``size`` is larger (the caller upscales the view).
    """
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    size = tf.minimum(tf.constant(size, tf.int32), tf.minimum(height, width))
    top, left = (height - size) // 2, (width - size) // 2
    if crops == 1:
        return tf.stack([top, left, size, size])[None]
    if crops != 3:
        raise ParamError("evaluate.crops", crops, "1 (centre) or 3 (three-crop)")
    wide = width >= height
    along = tf.where(wide, width, height) - size
    boxes = [tf.where(wide, tf.stack([top, at, size, size]), tf.stack([at, left, size, size])) for at in (0, along // 2, along)]
    return tf.stack(boxes)
