"""The tf.data input pipeline: shapes per input kind, determinism, exact resume, flow-aware flips."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec.errors import DataError, ParamError
from actionrec.flow import build_flow_store
from actionrec.framestore import extract, read_manifest
from actionrec.inputs import Augment, Source, clip_windows, epoch_order, make_dataset

T, SIZE = 4, (24, 16)  # frames, (width, height)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from conftest import make_dataset as write_dataset

    root = tmp_path_factory.mktemp("inputs")
    write_dataset(root / "raw", groups=8, n_frames=10)
    extract(root / "raw", root / "frames", split=1, count=T, size=SIZE, workers=1, strict=True)
    build_flow_store(root / "frames", root / "flow", method="farneback", bound=20.0, workers=1)
    return root


def source(store, rows=None) -> Source:
    rows = rows or read_manifest(store / "frames")
    return Source(store / "frames", [r["frames"] for r in rows], [r["label"] for r in rows], (T, SIZE[1], SIZE[0], 3), store / "flow")


def take(ds, n):
    return [tuple(np.asarray(x) if not isinstance(x, dict) else {k: np.asarray(v) for k, v in x.items()} for x in b)
            for b in ds.take(n)]  # fmt: skip


def test_shapes_per_kind(store):
    src = source(store)
    h, w = SIZE[1], SIZE[0]
    x, y = next(iter(make_dataset(src, kind="frames", batch_size=3, training=True, seed=0)))
    assert x.shape == (3, h, w, 3) and y.shape == (3,) and x.dtype.name == "float32"
    x, y = next(iter(make_dataset(src, kind="clip", batch_size=3, training=True, seed=0)))
    assert x.shape == (3, T, h, w, 3)
    x, y = next(iter(make_dataset(src, kind="clip+flow", batch_size=3, training=True, seed=0)))
    assert x["rgb"].shape == (3, T, h, w, 3) and x["flow"].shape == (3, T - 1, h, w, 2)


def test_evaluation_stream_is_every_frame_of_every_video_in_order(store):
    rows = read_manifest(store / "frames")
    src = source(store, rows)
    batches = list(make_dataset(src, kind="frames", batch_size=5, training=False, seed=0))
    frames = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert len(frames) == T * len(rows)
    np.testing.assert_array_equal(labels, np.repeat([r["label"] for r in rows], T))
    first = np.load(store / "frames" / rows[0]["frames"])
    np.testing.assert_array_equal(frames[:T], first.astype(np.float32))


def test_same_seed_same_stream_whatever_the_parallelism(store):
    src = source(store)
    aug = Augment(flip=True, crop=0.8, brightness=20, contrast=0.2)
    a = take(make_dataset(src, kind="clip", batch_size=4, training=True, seed=7, augment=aug, parallel=1), 5)
    b = take(make_dataset(src, kind="clip", batch_size=4, training=True, seed=7, augment=aug, parallel=4), 5)
    c = take(make_dataset(src, kind="clip", batch_size=4, training=True, seed=8, augment=aug, parallel=4), 5)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def test_every_epoch_is_a_full_permutation_and_resume_continues_exactly(store):
    n = 10
    order = [int(i) for i in epoch_order(n, seed=3).take(3 * n)]
    epochs = [order[k * n : (k + 1) * n] for k in range(3)]
    assert all(sorted(e) == list(range(n)) for e in epochs)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    resumed = [int(i) for i in epoch_order(n, seed=3, first_epoch=1).take(2 * n)]
    assert resumed == order[n:]

    src = source(store)
    steps = len(src.paths) // 4
    full = take(make_dataset(src, kind="frames", batch_size=4, training=True, seed=1, augment=Augment()), 2 * steps)
    resume = take(make_dataset(src, kind="frames", batch_size=4, training=True, seed=1, augment=Augment(), first_epoch=1), steps)
    n_elements = steps * 4
    assert n_elements == len(src.paths)  # batches line up with epochs here
    for (xa, ya), (xb, yb) in zip(full[steps:], resume):  # same videos, frames and augmentations
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)


def test_flip_mirrors_flow_and_negates_its_x_component(store):
    rows = read_manifest(store / "frames")[:1]
    src = source(store, rows)
    flow = np.load(store / "flow" / rows[0]["frames"]).astype(np.float32)
    seen = set()
    for seed in range(12):
        (x, _), = take(make_dataset(src, kind="clip+flow", batch_size=1, training=True, seed=seed, augment=Augment(flip=True)), 1)
        got = x["flow"][0]
        if np.array_equal(got, flow):
            seen.add("kept")
        else:
            mirrored = flow[:, :, ::-1]
            np.testing.assert_array_equal(got[..., 0], 255.0 - mirrored[..., 0])
            np.testing.assert_array_equal(got[..., 1], mirrored[..., 1])
            seen.add("flipped")
    assert seen == {"kept", "flipped"}


def test_store_with_the_wrong_shape_is_reported(store):
    src = source(store)
    src.shape = (T + 1, SIZE[1], SIZE[0], 3)
    with pytest.raises(DataError, match="rebuild with `dvc repro extract`"):
        make_dataset(src, kind="clip", batch_size=2, training=True, seed=0)


def test_empty_source_is_an_error(store):
    with pytest.raises(DataError, match="no videos"):
        make_dataset(Source(store / "frames", [], [], (T, 16, 24, 3)), kind="clip", batch_size=2, training=True, seed=0)


@pytest.mark.parametrize(
    "params,key",
    [({"crop": 0.1}, "aug.crop"), ({"brightness": 300}, "aug.brightness"), ({"contrast": 1.5}, "aug.contrast"), ({"rotate": 10}, "aug.rotate")],
)
def test_bad_augmentation_params_name_the_key(params, key):
    with pytest.raises(ParamError, match=key.replace(".", r"\.")):
        Augment.from_params(params, "aug")


def test_clip_windows_are_evenly_spaced_and_centred_for_one_clip():
    assert clip_windows(16, 8, 3) == [0, 4, 8]
    assert clip_windows(16, 8, 1) == [4]
    assert clip_windows(8, 8, 3) == [0]  # the clip covers the video: one window
    assert clip_windows(9, 8, 5) == [0, 1]


def test_short_clips_are_consecutive_stored_frames_with_aligned_flow(store):
    rows = read_manifest(store / "frames")
    src = source(store, rows)
    frames = {r["frames"]: np.load(store / "frames" / r["frames"]).astype(np.float32) for r in rows}
    flows = {r["frames"]: np.load(store / "flow" / r["frames"]).astype(np.float32) for r in rows}
    (x, _), = take(make_dataset(src, kind="clip+flow", batch_size=1, training=False, seed=0, clip_frames=2), 1)
    np.testing.assert_array_equal(x["rgb"][0], frames[rows[0]["frames"]][1:3])  # centre window of 4: start 1
    np.testing.assert_array_equal(x["flow"][0], flows[rows[0]["frames"]][1:2])
    starts = set()
    for (x, _) in take(make_dataset(src, kind="clip+flow", batch_size=1, training=True, seed=3, clip_frames=2), 24):
        match = [(k, s) for k, f in frames.items() for s in range(T - 1) if np.array_equal(f[s : s + 2], x["rgb"][0])]
        assert match, "a training clip is not a window of consecutive stored frames"
        k, s = match[0]
        np.testing.assert_array_equal(x["flow"][0], flows[k][s : s + 1])
        starts.add(s)
    assert len(starts) > 1  # temporal jitter: the window moves
    with pytest.raises(DataError, match="clips of 5 frames"):
        make_dataset(src, kind="clip", batch_size=1, training=False, seed=0, clip_frames=5)
