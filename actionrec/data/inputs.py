"""tf.data input pipelines that stream from the dense frame store (never the whole dataset in memory).

Each element reads one video's frame pack inside the graph (``read_file``), picks the frames
:mod:`actionrec.data.sampling` draws for it and decodes only those, cropped
(``decode_and_crop_jpeg``), in parallel; nothing is materialised beyond the prefetch queue.
Shuffling permutes *indices* (a full permutation per epoch, a few bytes per video) instead of
filling a shuffle buffer with decoded clips: a perfect shuffle at no memory cost.

Randomness (epoch order, the frames and crop of an example, augmentation) is *stateless*:
drawn from ``(seed, epoch)`` and ``(seed, element position)``. The same seed therefore gives
the same stream whatever the parallelism, and a resumed run that skips to epoch ``k`` sees
exactly what an uninterrupted run would have seen from epoch ``k`` on.

One element's frames are built by :mod:`actionrec.data.examples` (a training example, or a
video's test views).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from actionrec.data.examples import Augment, checked_pack, train_example, video_views
from actionrec.data.sampling import Sampling
from actionrec.data.tfdata import without_autotune_thread
from actionrec.errors import DataError, ParamError

AUTOTUNE = tf.data.AUTOTUNE


def _as_written(fn):
    """``fn`` for a tf.data transformation, traced as written. tf.data would first rewrite it with
    AutoGraph, which takes 2-3 s per process here (every train and evaluate stage pays it) and
    changes nothing: these functions branch on Python values only (tensor branches are tf.cond)."""
    return tf.autograph.experimental.do_not_convert(fn)


@dataclass
class Source:
    """What one pipeline reads: manifest rows (paths, labels, frame counts, sizes) and the store roots."""

    frames_root: Path
    rows: list[dict]
    flow_root: Path | None = None

    @classmethod
    def of(cls, frames_root: Path, flow_root: Path, rows: list[dict], sampling: Sampling) -> Source:
        """The stores a model of ``sampling``'s kind reads (the flow store only for two-stream models)."""
        return cls(frames_root, rows, flow_root if sampling.flow_stack else None)


# --- datasets -----------------------------------------------------------------------------------


def epoch_order(n: int, seed: int, first_epoch: int = 0, videos: int | None = None) -> tf.data.Dataset:
    """``(position, index)`` pairs: each epoch is a permutation of 0..n-1 drawn from ``(seed, epoch)``,
    cut to its first ``videos``; position ``epoch * n + i`` seeds the i-th element's random draws."""
    videos = n if videos is None else videos

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices((e * n + tf.range(videos, dtype=tf.int64), order[:videos]))

    return tf.data.Dataset.range(first_epoch, 2**31).flat_map(_as_written(epoch))


class _Columns:
    """The manifest columns the graph indexes, as constants."""

    def __init__(self, source: Source, sampling: Sampling, size: int):
        if not source.rows:
            raise DataError("no videos to read (empty split or shard)")
        if sampling.flow_stack and source.flow_root is None:
            raise DataError("two-stream input needs the flow store (run `dvc repro flow`)")
        self.frames = tf.constant([str(Path(source.frames_root) / r["frames"]) for r in source.rows])
        flow_root = Path(source.flow_root) if source.flow_root else None
        self.flow = tf.constant([str(flow_root / r["frames"]) if flow_root else "" for r in source.rows])
        self.labels = tf.constant([r["label"] for r in source.rows], tf.int32)
        self.counts = tf.constant([r["num_frames"] for r in source.rows], tf.int32)
        self.heights = tf.constant([r["height"] for r in source.rows], tf.int32)
        self.widths = tf.constant([r["width"] for r in source.rows], tf.int32)
        self.flow_stack = sampling.flow_stack

    def read(self, index):
        raw_flow = checked_pack(tf.io.read_file(self.flow[index]), self.flow[index]) if self.flow_stack else None
        raw_rgb = checked_pack(tf.io.read_file(self.frames[index]), self.frames[index])
        return raw_rgb, raw_flow, self.counts[index], self.heights[index], self.widths[index]


def video_dataset(source: Source, sampling: Sampling, *, input_size: int, clips: int, crops: int, parallel: int | None = None):
    """One element per video in manifest order: (its test views as E model examples, label)."""
    cols = _Columns(source, sampling, input_size)

    def load(index):
        views = video_views(*cols.read(index), sampling, input_size, clips, crops)
        return sampling.kind.model_input(views["rgb"], views.get("flow")), cols.labels[index]

    ds = tf.data.Dataset.range(len(source.rows)).map(_as_written(load), num_parallel_calls=parallel or AUTOTUNE, deterministic=True)
    return without_autotune_thread(ds)


def make_dataset(
    source: Source,
    sampling: Sampling,
    *,
    input_size: int,
    batch_size: int,
    training: bool,
    seed: int,
    augment: Augment | None = None,
    first_epoch: int = 0,
    steps_per_epoch: int | None = None,
    parallel: int | None = None,
) -> tf.data.Dataset:
    """Batches of training examples: frames for frame models (K per video), or each video's K
    frames together under ``consensus``; clips for clip models.

    Training streams are infinite and redraw frames and crops for every element. Every epoch is
    exactly ``steps_per_epoch`` batches of its own videos (default: as many whole batches as the
    epoch's examples fill), so Keras epoch e is data epoch e whether or not the batch divides
    the examples, and a run resumed at ``first_epoch`` repeats the uninterrupted one. Evaluation
    streams (validation) are one pass in manifest order over each video's single centre view,
    as training examples are (its K frames one by one, or together under consensus).
    """
    parallel = parallel or AUTOTUNE
    if not training:
        ds = video_dataset(source, sampling, input_size=input_size, clips=1, crops=1, parallel=parallel)
        if not sampling.consensus:  # the view's examples one by one (under consensus its K frames are one)
            ds = ds.map(_as_written(lambda x, y: (x, tf.repeat(y, tf.shape(tf.nest.flatten(x)[0])[0])))).unbatch()
        return ds.batch(batch_size).prefetch(AUTOTUNE)
    cols = _Columns(source, sampling, input_size)
    aug = augment or Augment(flip=False)
    n = len(source.rows)
    per_video = sampling.training_examples_per_video()
    steps = n * per_video // batch_size if steps_per_epoch is None else steps_per_epoch
    per_epoch = steps * batch_size
    if not 0 < per_epoch <= n * per_video:
        raise DataError(f"{steps} steps of {batch_size} need {per_epoch} examples per epoch; {n} videos give {n * per_video}")

    def load(position, index):
        element_seed = tf.stack([tf.cast(seed, tf.int64), position])
        rgb, flow = train_example(*cols.read(index), sampling, aug, input_size, element_seed)
        label = cols.labels[index]
        if sampling.frame_examples:
            # Each frame's place in its epoch, so that the last video's surplus frames can be dropped.
            slots = (position % n) * per_video + tf.range(per_video, dtype=tf.int64)
            return rgb, tf.repeat(label, per_video), slots
        return sampling.kind.model_input(rgb, flow), label

    def in_epoch(x, y, slot):
        return slot < per_epoch

    def example(x, y, slot):
        return x, y

    ds = epoch_order(n, seed, first_epoch, videos=-(-per_epoch // per_video))
    ds = ds.map(_as_written(load), num_parallel_calls=parallel, deterministic=True)
    if sampling.frame_examples:
        ds = ds.unbatch().filter(_as_written(in_epoch)).map(_as_written(example))
    return without_autotune_thread(ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE))


def check_input_size(input_size: int, short_side: int, key: str) -> int:
    """``input_size`` (typed by ``config.Architecture``) against the store it upscales."""
    if input_size > 4 * short_side:
        limit = f"at most 4 x frames.short_side = {4 * short_side} (larger inputs upscale the store's frames)"
        raise ParamError(key, input_size, limit)
    return input_size
