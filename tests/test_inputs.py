"""Sampling at training time and test views, on a small real dense store.

Frame i of every test video has brightness 4 * i (conftest.write_video; after MJPG and JPEG
about 4 * i - 2 from frame 1 on), so the median of a decoded frame tells which frame the
pipeline picked.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from actionrec import config
from actionrec.data import flow as flowcodes
from actionrec.data import kinds
from actionrec.data.examples import Augment, flip_flow
from actionrec.data.flow import build_flow_store
from actionrec.data.framestore import encode_jpeg, extract, pack, read_manifest
from actionrec.data.inputs import Source, check_input_size, epoch_order, make_dataset, video_dataset
from actionrec.data.sampling import Sampling, flow_indices, train_crop, train_indices, view_crops, view_indices
from actionrec.data.tfdata import without_autotune_thread
from actionrec.errors import DataError, ParamError, PipelineError
from actionrec.io import write_bytes

N, SHORT = 24, 32  # frames per video; store short side (64x48 videos -> 43x32)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from conftest import make_dataset as write_dataset

    root = tmp_path_factory.mktemp("inputs")
    write_dataset(root / "raw", groups=8, n_frames=N)
    extract(root / "raw", root / "frames", split=1, short_side=SHORT, fps=None, quality=95, workers=1, strict=True)
    build_flow_store(root / "frames", root / "flow", method="farneback", bound=8.0, quality=95, workers=1)
    return root


def source(store, rows=None, flow=True) -> Source:
    return Source(store / "frames", rows or read_manifest(store / "frames"), store / "flow" if flow else None)


def clip(**kw) -> Sampling:
    return Sampling("clip", clip_len=kw.get("clip_len", 4), frame_interval=kw.get("frame_interval", 1), fixed=kw.get("fixed", False))


def take(ds, n):
    return [tuple(np.asarray(x) if not isinstance(x, dict) else {k: np.asarray(v) for k, v in x.items()} for x in b) for b in ds.take(n)]


def frame_index(image: np.ndarray) -> int:
    return int(round((np.median(image) + 1) / 4))


def test_shapes_per_kind(store):
    src = source(store)
    x, y = next(iter(make_dataset(src, Sampling("frames", segments=3), input_size=24, batch_size=6, training=True, seed=0)))
    assert x.shape == (6, 24, 24, 3) and y.shape == (6,) and x.dtype.name == "float32"
    x, y = next(iter(make_dataset(src, clip(clip_len=5), input_size=24, batch_size=3, training=True, seed=0)))
    assert x.shape == (3, 5, 24, 24, 3)
    two = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=6)
    x, y = next(iter(make_dataset(src, two, input_size=24, batch_size=3, training=True, seed=0)))
    assert x["rgb"].shape == (3, 4, 24, 24, 3) and x["flow"].shape == (3, 6, 24, 24, 2)
    x, y = next(iter(make_dataset(src, Sampling("frames", segments=3, consensus=True), input_size=24, batch_size=2, training=True, seed=0)))
    assert x.shape == (2, 3, 24, 24, 3) and y.shape == (2,)  # a video's K frames are one example


def test_consensus_groups_the_same_frames_by_video(store):
    """Under consensus an example is the K frames (one per segment, one crop) that the per-frame
    stream gives one by one: the same draws, only batched by video."""
    src = source(store)
    per_frame, consensus = Sampling("frames", segments=3), Sampling("frames", segments=3, consensus=True)
    kw = dict(input_size=24, training=True, seed=4, augment=Augment(scales=(1.0, 0.875)), steps_per_epoch=2)
    frames = take(make_dataset(src, per_frame, batch_size=3, **kw), 2)
    videos = take(make_dataset(src, consensus, batch_size=1, **kw), 2)
    for (x_frames, y_frames), (x_video, y_video) in zip(frames, videos, strict=True):
        np.testing.assert_array_equal(x_frames, x_video[0])
        assert set(y_frames) == {y_video[0]}
    # Validation: one example per video, in manifest order, its centre view's K frames.
    val = list(make_dataset(src, consensus, input_size=24, batch_size=5, training=False, seed=0))
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in val]), [r["label"] for r in src.rows])
    assert val[0][0].shape == (5, 3, 24, 24, 3)
    val_frames = list(make_dataset(src, per_frame, input_size=24, batch_size=3, training=False, seed=0))
    np.testing.assert_array_equal(val[0][0][1], val_frames[1][0])  # the second video's


# --- temporal sampling --------------------------------------------------------------------------


def test_two_epochs_draw_different_frames_and_a_clip_is_l_frames_s_apart(store):
    rows = read_manifest(store / "frames")[:1]
    src = source(store, rows)
    for interval in (1, 3):
        ds = make_dataset(src, clip(clip_len=5, frame_interval=interval), input_size=SHORT, batch_size=1, training=True, seed=5)
        starts = []
        for x, _ in take(ds, 8):  # one video: one element per epoch
            picked = [frame_index(f) for f in x[0]]
            assert np.diff(picked).tolist() == [interval] * 4  # consecutive when s = 1
            starts.append(picked[0])
        assert len(set(starts)) > 1  # a new random start every epoch
        assert 0 <= min(starts) and max(starts) + 4 * interval <= N - 1


def test_fixed_sampling_draws_the_same_frames_every_epoch(store):
    src = source(store, read_manifest(store / "frames")[:1])
    ds = make_dataset(src, clip(clip_len=5, fixed=True), input_size=SHORT, batch_size=1, training=True, seed=5)
    starts = {frame_index(x[0][0]) for (x, _) in take(ds, 6)}
    assert starts == {(N - 5) // 2}  # the centre window, as the test view


def test_tsn_draws_one_frame_inside_each_segment_redrawn_every_epoch(store):
    src = source(store, read_manifest(store / "frames")[:1])
    k = 4
    ds = make_dataset(src, Sampling("frames", segments=k), input_size=SHORT, batch_size=k, training=True, seed=2)
    draws = []
    for x, _ in take(ds, 6):
        picked = [frame_index(f) for f in x]
        for segment, index in enumerate(picked):
            assert segment * N // k <= index < (segment + 1) * N // k
        draws.append(tuple(picked))
    assert len(set(draws)) > 1


def test_train_indices_cover_segments_and_loop_short_videos():
    for seed in range(20):
        picks = train_indices(Sampling("frames", segments=3), 10, tf.constant([seed, 0], tf.int64)).numpy()
        assert [p * 3 // 10 for p in picks] == [0, 1, 2] or all(0 <= p < 10 for p in picks)
        assert all(int(s * 10 / 3) <= p < int((s + 1) * 10 / 3) + 1 for s, p in enumerate(picks))
    # A video shorter than the span (4 frames for 4 x 3) loops instead of failing.
    looped = train_indices(clip(clip_len=4, frame_interval=3), 5, tf.constant([0, 0], tf.int64)).numpy()
    assert looped.tolist() == [0, 3, 1, 4]
    assert clip(clip_len=4, frame_interval=3).short(5) and not clip(clip_len=4, frame_interval=3).short(10)
    # Fewer frames than segments: frames repeat.
    assert sorted(train_indices(Sampling("frames", segments=4), 2, tf.constant([1, 0], tf.int64)).numpy()) == [0, 0, 1, 1]


def test_test_views_are_deterministic_evenly_spaced_and_cover_the_video():
    views = view_indices(clip(clip_len=4, frame_interval=2), 30, 4).numpy()  # span 7
    assert views[:, 0].tolist() == [0, 8, 15, 23] and views[-1, -1] == 29  # first at 0, last ends at the end
    assert np.all(np.diff(views, axis=1) == 2)
    assert np.array_equal(views, view_indices(clip(clip_len=4, frame_interval=2), 30, 4).numpy())
    assert view_indices(clip(clip_len=4, frame_interval=2), 30, 1).numpy().tolist() == [[11, 13, 15, 17]]  # centre
    frames = view_indices(Sampling("frames", segments=3), 30, 2).numpy()  # 2 segment sets = 6 frames
    assert frames.tolist() == [[2, 7, 12, 17, 22, 27]]  # centres of 6 equal segments


def test_flow_stack_is_consecutive_fields_centred_on_the_clip():
    two = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=3)  # span 7
    assert flow_indices(two, tf.constant([10, 12, 14, 16]), 40).numpy().tolist() == [12, 13, 14]  # clip centre 13
    assert flow_indices(two, tf.constant([0, 2, 4, 6]), 40).numpy().tolist() == [2, 3, 4]
    wide = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=9)
    assert flow_indices(wide, tf.constant([30, 32, 34, 36]), 37).numpy().tolist() == list(range(27, 36))  # 36 fields: clamped
    assert flow_indices(two, tf.constant([0, 1, 2, 0]), 3).numpy().tolist() == [0, 1, 0]  # 2 fields: loops


def write_index_flow(store, tmp_path, rows):
    """A flow store whose field j has x code 100 + j and y code 128 everywhere (so a field tells its index)."""
    root = tmp_path / "flow"
    for r in rows:
        fields = max(r["num_frames"] - 1, 1)
        images = []
        for j in range(fields):
            images += [
                encode_jpeg(np.full((r["height"], r["width"]), 100 + j, np.uint8), 100),
                encode_jpeg(np.full((r["height"], r["width"]), 128, np.uint8), 100),
            ]
        write_bytes(root / r["frames"], pack(images))
    return root


def test_flow_stacks_are_the_consecutive_fields_at_the_clips_position(store, tmp_path):
    rows = read_manifest(store / "frames")[:2]
    flow_root = write_index_flow(store, tmp_path, rows)
    two = Sampling("clip+flow", clip_len=4, frame_interval=3, flow_stack=5)
    src = Source(store / "frames", rows, flow_root)
    ds = make_dataset(src, two, input_size=SHORT, batch_size=1, training=True, seed=9, augment=Augment(flip=False))
    for x, _ in take(ds, 8):
        picked = [frame_index(f) for f in x["rgb"][0]]
        fields = [int(round(np.median(f[..., 0]))) - 100 for f in x["flow"][0]]
        assert np.diff(fields).tolist() == [1] * 4
        centre = picked[0] + (3 * 3) // 2
        assert fields == list(range(min(max(centre - 2, 0), N - 1 - 5), min(max(centre - 2, 0), N - 1 - 5) + 5))
        assert np.all(x["flow"][0][..., 1] == 128)


def test_flip_mirrors_the_flow_and_keeps_zero_motion_zero(store, tmp_path):
    codes = tf.constant(np.stack([np.array([[128, 140, 100]]), np.array([[128, 128, 90]])], -1)[None].astype(np.float32))
    flipped = flip_flow(codes).numpy()[0]
    assert flipped[..., 0].tolist() == [[156, 116, 128]]  # mirrored, x negated, zero stays zero
    assert flipped[..., 1].tolist() == [[90, 128, 128]]
    rows = read_manifest(store / "frames")[:1]
    flow_root = write_index_flow(store, tmp_path, rows)
    src = Source(store / "frames", rows, flow_root)
    two = Sampling("clip+flow", clip_len=2, frame_interval=1, flow_stack=1)
    seen = set()
    for seed in range(10):
        ((x, _),) = take(make_dataset(src, two, input_size=SHORT, batch_size=1, training=True, seed=seed, augment=Augment(flip=True)), 1)
        x_code = int(round(np.median(x["flow"][0][..., 0])))
        seen.add("flipped" if x_code > 128 else "kept")  # field j's code 100 + j < 128 turns into 156 - j
        assert np.all(x["flow"][0][..., 1] == 128)
    assert seen == {"kept", "flipped"}


# --- spatial ------------------------------------------------------------------------------------


def test_multi_scale_crops_come_from_the_scales_and_the_input_is_never_blown_up_needlessly(store):
    scales = (1.0, 0.875, 0.75)
    sides = {int(32 * s) for s in scales}
    for seed in range(30):
        top, left, h, w = train_crop(32, 43, scales, tf.constant([seed, 1], tf.int64)).numpy()
        assert h in sides and w in sides and abs(sorted(sides).index(h) - sorted(sides).index(w)) <= 1
        assert 0 <= top <= 32 - h and 0 <= left <= 43 - w
    # scales [1]: a crop of the short side at the input size is the stored pixels themselves.
    rows = read_manifest(store / "frames")[:1]
    ((x, _),) = take(
        make_dataset(
            source(store, rows), clip(clip_len=1), input_size=SHORT, batch_size=1, training=True, seed=0, augment=Augment(flip=False)
        ),
        1,
    )
    from actionrec.data.framestore import load_frames

    frames = load_frames(store / "frames", rows[0]).astype(np.float32)
    index = frame_index(x[0][0])
    assert any(np.array_equal(x[0][0], frames[index][:, left : left + SHORT]) for left in range(43 - SHORT + 1))


def test_three_crops_span_the_long_side():
    assert view_crops(32, 43, 32, 3).numpy().tolist() == [[0, 0, 32, 32], [0, 5, 32, 32], [0, 11, 32, 32]]
    assert view_crops(50, 32, 32, 3).numpy().tolist() == [[0, 0, 32, 32], [9, 0, 32, 32], [18, 0, 32, 32]]
    assert view_crops(32, 43, 24, 1).numpy().tolist() == [[4, 9, 24, 24]]


def test_video_views_are_clips_times_crops_examples(store):
    rows = read_manifest(store / "frames")[:3]
    ds = video_dataset(source(store, rows), clip(clip_len=4, frame_interval=2), input_size=24, clips=5, crops=3)
    for (x, label), row in zip(take(ds, 3), rows):
        assert x.shape == (15, 4, 24, 24, 3) and label == row["label"]
        starts = [frame_index(view[0]) for view in x[:5]]
        assert starts == view_indices(clip(clip_len=4, frame_interval=2), N, 5).numpy()[:, 0].tolist()
    ((x, _),) = take(video_dataset(source(store, rows), Sampling("frames", segments=3), input_size=24, clips=2, crops=1), 1)
    assert x.shape == (6, 24, 24, 3)
    assert [frame_index(f) for f in x] == view_indices(Sampling("frames", segments=3), N, 2).numpy()[0].tolist()


# --- determinism and resume ---------------------------------------------------------------------


def test_same_seed_same_stream_whatever_the_parallelism(store):
    src = source(store)
    aug = Augment(flip=True, scales=(1.0, 0.875, 0.75), brightness=20, contrast=0.2)
    two = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=3)

    def stream(seed, parallel):
        return take(make_dataset(src, two, input_size=24, batch_size=4, training=True, seed=seed, augment=aug, parallel=parallel), 4)

    a, b, c = stream(7, 1), stream(7, 4), stream(8, 4)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa["rgb"], xb["rgb"])
        np.testing.assert_array_equal(xa["flow"], xb["flow"])
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa["rgb"], xc["rgb"]) for (xa, _), (xc, _) in zip(a, c))


def test_every_epoch_is_a_full_permutation_and_resume_continues_exactly(store):
    n = 10
    pairs = [(int(p), int(i)) for p, i in epoch_order(n, seed=3).take(3 * n)]
    assert [p for p, _ in pairs] == list(range(3 * n))  # positions count from the start of epoch 0
    order = [i for _, i in pairs]
    epochs = [order[k * n : (k + 1) * n] for k in range(3)]
    assert all(sorted(e) == list(range(n)) for e in epochs)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    assert [(int(p), int(i)) for p, i in epoch_order(n, seed=3, first_epoch=1).take(2 * n)] == pairs[n:]
    cut = [(int(p), int(i)) for p, i in epoch_order(n, seed=3, videos=4).take(8)]
    assert cut == pairs[:4] + pairs[n : n + 4]  # each epoch's first videos, at the uncut positions

    src = source(store)
    videos = len(src.rows)
    k = 2  # frames per video; batches of 4 frames line up with epochs when 2 * videos is a multiple of 4
    steps = videos * k // 4
    assert videos * k % 4 == 0
    sampling, aug = Sampling("frames", segments=k), Augment(scales=(1.0, 0.875))
    full = take(make_dataset(src, sampling, input_size=24, batch_size=4, training=True, seed=1, augment=aug), 2 * steps)
    resume = take(make_dataset(src, sampling, input_size=24, batch_size=4, training=True, seed=1, augment=aug, first_epoch=1), steps)
    for (xa, ya), (xb, yb) in zip(full[steps:], resume):  # same videos, frames and augmentations
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)


@pytest.mark.parametrize("kind", ["frames", "frames+consensus", "clip"])
def test_epochs_stay_aligned_with_steps_when_the_batch_does_not_divide_them(store, kind):
    """Keras runs steps_per_epoch batches per epoch: the stream must start every epoch afresh, or a
    run resumed at epoch 1 reads other examples than the uninterrupted run's second epoch."""
    src = source(store)
    segments = Sampling("frames", segments=3, consensus=kind == "frames+consensus")
    sampling = clip() if kind == "clip" else segments
    per_epoch = len(src.rows) * sampling.training_examples_per_video()
    batch = 5
    assert per_epoch % batch  # 72 frames or 24 clips (or videos of 3 frames): a remainder every epoch
    steps = per_epoch // batch
    kw = dict(input_size=24, batch_size=batch, training=True, seed=1, augment=Augment(scales=(1.0, 0.875)))
    full = take(make_dataset(src, sampling, **kw), 2 * steps)
    resume = take(make_dataset(src, sampling, first_epoch=1, **kw), steps)
    for a, b in zip(full[steps:], resume, strict=True):
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])
    short = take(make_dataset(src, sampling, steps_per_epoch=2, first_epoch=1, **kw), 2)
    for a, b in zip(short, resume[:2], strict=True):  # fewer steps: the epoch's first batches, the same ones
        np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(DataError, match=f"need {(steps + 1) * batch} examples per epoch"):
        make_dataset(src, sampling, steps_per_epoch=steps + 1, **kw)


def test_validation_stream_is_each_videos_centre_view_in_order(store):
    rows = read_manifest(store / "frames")
    batches = list(make_dataset(source(store, rows), Sampling("frames", segments=3), input_size=24, batch_size=5, training=False, seed=0))
    labels = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(labels, np.repeat([r["label"] for r in rows], 3))
    clips = list(make_dataset(source(store, rows), clip(clip_len=4), input_size=24, batch_size=5, training=False, seed=0))
    assert sum(len(b[1]) for b in clips) == len(rows) and clips[0][0].shape == (5, 4, 24, 24, 3)
    two = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=3)
    streams = next(iter(make_dataset(source(store, rows), two, input_size=24, batch_size=5, training=False, seed=0)))[0]
    assert streams["rgb"].shape == (5, 4, 24, 24, 3) and streams["flow"].shape == (5, 3, 24, 24, 2)


def test_every_stream_runs_without_the_autotune_thread(store):
    """Keras drops an iterator at every validation pass and at the end of fit; with tf.data's
    autotuning thread on, each drop waits out that thread's sleep (up to tens of seconds)."""
    src = source(store)
    two = Sampling("clip+flow", clip_len=4, frame_interval=2, flow_stack=3)
    for sampling in (Sampling("frames", segments=3), Sampling("frames", segments=3, consensus=True), clip(), two):
        for training in (True, False):
            ds = make_dataset(src, sampling, input_size=24, batch_size=4, training=training, seed=0)
            assert ds.options().autotune.enabled is False, (sampling, training)
        views = video_dataset(src, sampling, input_size=24, clips=2, crops=3).batch(4).prefetch(1)  # as inference batches them
        assert views.options().autotune.enabled is False
    assert without_autotune_thread(tf.data.Dataset.range(3)).options().autotune.enabled is False
    assert tf.data.Dataset.range(3).options().autotune.enabled is not False  # tf.data's default: on


# --- bad input ----------------------------------------------------------------------------------


def test_empty_source_and_missing_flow_are_errors(store):
    with pytest.raises(DataError, match="no videos"):
        make_dataset(Source(store / "frames", []), clip(), input_size=24, batch_size=2, training=True, seed=0)
    two = Sampling("clip+flow", clip_len=2, frame_interval=1, flow_stack=2)
    with pytest.raises(DataError, match="dvc repro flow"):
        make_dataset(source(store, flow=False), two, input_size=24, batch_size=2, training=True, seed=0)


def test_an_input_above_the_short_side_upscales_train_crops_and_test_views(store):
    from actionrec.data.framestore import load_frames

    rows = read_manifest(store / "frames")[:1]
    frames = load_frames(store / "frames", rows[0]).astype(np.float32)  # (N, 32, 43, 3)
    size = 2 * SHORT
    ((x, _),) = take(
        make_dataset(
            source(store, rows), clip(clip_len=1), input_size=size, batch_size=1, training=True, seed=0, augment=Augment(flip=False)
        ),
        1,
    )
    assert x.shape == (1, 1, size, size, 3)
    index = frame_index(x[0][0])
    candidates = [tf.image.resize(frames[index][:, left : left + SHORT], [size, size]).numpy() for left in range(43 - SHORT + 1)]
    assert any(np.allclose(x[0][0], c, atol=1e-3) for c in candidates)
    # Test views: each crop is cut at the short side (centre, both ends), then resized.
    assert view_crops(32, 43, size, 3).numpy().tolist() == [[0, 0, 32, 32], [0, 5, 32, 32], [0, 11, 32, 32]]
    ((views, _),) = take(video_dataset(source(store, rows), clip(clip_len=1), input_size=size, clips=1, crops=3), 1)
    assert views.shape == (3, 1, size, size, 3)
    index = frame_index(views[0][0])
    for view, left in zip(views, (0, 5, 11)):
        expected = tf.image.resize(frames[index][:, left : left + SHORT], [size, size]).numpy()
        np.testing.assert_allclose(view[0], expected, atol=1e-3)


def test_upscaled_flow_views_grow_with_the_zoom(store, tmp_path):
    rows = read_manifest(store / "frames")[:1]
    flow_root = write_index_flow(store, tmp_path, rows)  # field j: x code 100 + j, y code 128 (no motion)
    two = Sampling("clip+flow", clip_len=2, frame_interval=1, flow_stack=1)
    src = Source(store / "frames", rows, flow_root)
    ((same, _),) = take(video_dataset(src, two, input_size=SHORT, clips=1, crops=1), 1)
    ((zoomed, _),) = take(video_dataset(src, two, input_size=2 * SHORT, clips=1, crops=1), 1)
    assert zoomed["flow"].shape == (1, 1, 2 * SHORT, 2 * SHORT, 2)
    x_same, x_zoomed = np.median(same["flow"][..., 0]), np.median(zoomed["flow"][..., 0])
    assert x_same < 128 and x_zoomed - 128 == pytest.approx(2 * (x_same - 128), abs=1e-3)  # 2x the pixels, 2x the motion
    assert np.all(zoomed["flow"][..., 1] == 128)


def test_input_size_is_bounded_and_names_both_keys():
    assert check_input_size(112, 128, "architectures.conv3d.input_size") == 112
    assert check_input_size(192, 128, "architectures.conv3d.input_size") == 192  # upscaled
    with pytest.raises(ParamError, match=r"architectures\.conv3d\.input_size.*4 x frames\.short_side = 512"):
        check_input_size(600, 128, "architectures.conv3d.input_size")


@pytest.mark.parametrize(
    "params, kind, key",
    [
        ({"segmnets": 3}, "frames", "s.segmnets"),
        ({"segments": 0}, "frames", "s.segments"),
        ({"clip_len": 0, "frame_interval": 1}, "clip", "s.clip_len"),
        ({"clip_len": 8}, "clip", "s.frame_interval"),
        ({"clip_len": 8, "frame_interval": 1, "segments": 3}, "clip", "s.segments"),
        ({"clip_len": 8, "frame_interval": 1, "fixed": "yes"}, "clip", "s.fixed"),
        ({"clip_len": 8, "frame_interval": 1, "consensus": True}, "clip", "s.consensus"),
        ({"segments": 3, "consensus": "avg"}, "frames", "s.consensus"),
        (None, "clip", "s"),
    ],
)
def test_bad_sampling_params_name_the_key(params, kind, key):
    with pytest.raises(ParamError, match=rf"'{key}'"):
        Sampling.of(config.check(config.SamplingSettings, params, "s"), "s", kind)


def test_two_stream_needs_a_positive_flow_stack():
    with pytest.raises(ParamError, match="flow.stack"):
        Sampling.of(config.SamplingSettings(clip_len=4, frame_interval=1), "s", "clip+flow", flow_stack=0)


@pytest.mark.parametrize(
    "params,key",
    [
        ({"scales": [0.1]}, "aug.scales"),
        ({"scales": []}, "aug.scales"),
        ({"brightness": 300}, "aug.brightness"),
        ({"contrast": 1.5}, "aug.contrast"),
        ({"rotate": 10}, "aug.rotate"),
        ({"crop": 0.9}, "aug.crop"),
    ],
)
def test_bad_augmentation_params_name_the_key(params, key):
    with pytest.raises(ParamError, match=key.replace(".", r"\.")):
        Augment.of(config.check(config.AugmentSettings, params, "aug"))


def test_zero_motion_code_is_exact():
    assert flowcodes.quantize(np.zeros(3, np.float32), 8.0).tolist() == [128, 128, 128]


@pytest.mark.parametrize("cut", [3, 20, -5])  # inside the magic, inside the offsets, the last image
def test_a_cut_off_pack_fails_naming_its_file(store, tmp_path, cut):
    rows = [dict(r) for r in read_manifest(store / "frames")[:1]]
    data = (store / "frames" / rows[0]["frames"]).read_bytes()
    write_bytes(tmp_path / rows[0]["frames"], data[:cut])
    ds = make_dataset(Source(tmp_path, rows), clip(), input_size=24, batch_size=1, training=True, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame pack") as err:
        next(iter(ds))
    assert str(tmp_path / rows[0]["frames"]) in str(err.value) and "dvc repro extract" in str(err.value)


def test_each_input_kind_knows_its_examples_and_its_model_input():
    frames, clip, two_stream = (Sampling(name, segments=3, clip_len=4, flow_stack=5 if name == "clip+flow" else 0) for name in kinds.KINDS)
    assert (frames.kind, clip.kind, two_stream.kind) == (kinds.FRAMES, kinds.CLIP, kinds.CLIP_FLOW)  # names become the objects
    assert Sampling(kinds.CLIP, segments=3, clip_len=4) == clip
    assert [s.examples_per_video() for s in (frames, clip, two_stream)] == [3, 1, 1]  # one view: K frames or one clip
    consensus = Sampling("frames", segments=3, consensus=True)
    assert [s.training_examples_per_video() for s in (frames, consensus, clip, two_stream)] == [3, 1, 1, 1]  # per training epoch
    assert consensus.examples_per_video(clips=2) == 6 and consensus.as_dict() == frames.as_dict()  # its saved model is per frame
    assert [s.examples_per_video(clips=2, crops=3) for s in (frames, clip, two_stream)] == [18, 6, 6]  # test views
    assert [s.kind.frames_per_example(s.clip_len) for s in (frames, clip, two_stream)] == [1, 4, 4]
    assert frames.kind.model_input("rgb", None) == "rgb" and two_stream.kind.model_input("rgb", "flow") == {"rgb": "rgb", "flow": "flow"}
    assert frames.as_dict() == {"segments": 3} and two_stream.as_dict() == {"clip_len": 4, "frame_interval": 1, "flow_stack": 5}
    with pytest.raises(PipelineError, match=r"unknown input kind 'audio' \(expected one of frames, clip, clip\+flow\)"):
        Sampling("audio")
    with pytest.raises(
        ParamError, match=r"architectures.conv3d.sampling.segments.*one of clip_len, frame_interval \(or fixed\) for a clip model"
    ):
        Sampling.of(config.SamplingSettings(segments=3), "architectures.conv3d.sampling", "clip")
