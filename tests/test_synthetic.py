"""The synthetic dataset: real decodable videos, the split rule, determinism, and that its motion pairs
really can only be told apart over time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actionrec import config
from actionrec.data import synthetic, ucf101
from actionrec.errors import DataError, ParamError

SMALL = dict(groups=8, clips_per_group=1, frames=[6, 8], size=[64, 48])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    done = []
    videos = synthetic.generate(root, **SMALL, seed=3, progress=done.append)
    return root, videos, done


def decode(path) -> tuple[int, np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return declared, np.stack(frames)


def blur(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.blur(f, (5, 5)) for f in frames]).astype(np.float32)


def test_every_video_decodes_to_its_declared_frames_and_size(dataset):
    root, videos, done = dataset
    assert len(videos) == len(synthetic.CLASSES) * 8 and done == list(range(1, len(videos) + 1))
    assert sorted(videos) == ucf101.find_videos(root)
    counts = set()
    for rel in videos:
        name, group, clip = ucf101.parse_video_name(rel)
        assert rel.split("/")[0] == name and name in synthetic.CLASSES and "_" not in name
        assert 1 <= group <= 8 and clip == 1
        declared, frames = decode(root / rel)
        assert declared == len(frames) and 6 <= len(frames) <= 8, rel
        assert frames.shape[1:] == (48, 64, 3)
        # the file holds what render_clip produced, up to JPEG loss (which mostly removes fine noise)
        rendered, _ = synthetic.render_clip(name, group, clip, frames=(6, 8), size=(64, 48), seed=3)
        assert rendered.shape == frames.shape
        assert np.abs(blur(rendered) - blur(frames)).mean() < 3, rel
        counts.add(len(frames))
    assert len(counts) > 1  # frame counts are drawn, not fixed


def test_lists_follow_class_order_and_the_group_rule(dataset):
    root, videos, _ = dataset
    lists = root / ucf101.LISTS_DIR
    assert ucf101.read_class_index(lists) == list(synthetic.CLASSES)
    for split in ucf101.SPLITS:
        indexed = ucf101.index_dataset(root, split)
        assert sorted(v.path for v in indexed) == sorted(videos)
        train = {v.group for v in indexed if v.split == "train"}
        test = {v.group for v in indexed if v.split == "test"}
        assert train and not train & test
        assert all(v.label == list(synthetic.CLASSES).index(v.class_name) for v in indexed)
    assert {ucf101.parse_video_name(p)[1] for p in ucf101.read_split_list(lists, "test", 1)} == set(range(1, 8))


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path, dataset):
    root, videos, _ = dataset
    again = synthetic.generate(tmp_path / "again", **SMALL, seed=3)
    other = synthetic.generate(tmp_path / "other", **SMALL, seed=4)
    assert again == other == videos
    for rel in videos[::7]:
        frames = decode(root / rel)[1]
        assert np.array_equal(frames, decode(tmp_path / "again" / rel)[1]), rel
        other_frames = decode(tmp_path / "other" / rel)[1]
        assert other_frames.shape != frames.shape or not np.array_equal(frames, other_frames), rel


def test_rendering_processes_write_the_same_files(tmp_path, dataset):
    root, videos, _ = dataset  # rendered in this process
    done = []
    assert synthetic.generate(tmp_path, **SMALL, seed=3, workers=2, progress=done.append) == videos
    assert done == list(range(1, len(videos) + 1))
    for rel in [*videos, *(p.relative_to(root).as_posix() for p in (root / ucf101.LISTS_DIR).iterdir())]:
        assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_a_video_that_cannot_be_written_names_its_file(tmp_path):
    (tmp_path / "Rising").mkdir()
    (tmp_path / "Rising" / "v_Rising_g01_c01.avi").mkdir()  # a folder where the video goes
    with pytest.raises(DataError, match="v_Rising_g01_c01.avi: OpenCV could not open"):
        synthetic.generate(tmp_path, **SMALL, seed=3, workers=2)


def object_stats(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per frame: the object's (centroid y, area, contrast), from its difference to the clean background."""
    diff = np.abs(frames.astype(np.float32) - background).sum(-1)  # (T, H, W); sensor noise alone stays <= 21
    inside = diff > 30
    ys = np.arange(frames.shape[1], dtype=np.float32)[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where no object pixel is visible
        cy = (inside * ys).sum((1, 2)) / inside.sum((1, 2)) / frames.shape[1]
        contrast = (diff * inside).sum((1, 2)) / inside.sum((1, 2))
    return np.stack([cy, inside.mean((1, 2)), contrast], 1)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (max distance between empirical CDFs), NaNs dropped."""
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    grid = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)).max())


def clips_of(name: str, fade_to_background: float = 0.0):
    # one clip from each of many groups: group parameters are drawn per class, so this many are needed
    # for both classes' samples to cover the shared distributions
    for group in range(1, 121):
        frames, bg = synthetic.render_clip(name, group, 1, frames=(10, 14), size=(64, 48), seed=0)
        if fade_to_background:  # a deliberately broken class, to show the check has power
            frames = (frames * (1 - fade_to_background) + bg * fade_to_background).astype(np.uint8)
        yield object_stats(frames, bg)


# per pair: the statistic that moves, and the sign of its trend for the first class (image y grows downwards)
TRENDS = {("Rising", "Falling"): (0, -1), ("Growing", "Shrinking"): (1, +1), ("Appearing", "Vanishing"): (2, +1)}


@pytest.mark.parametrize("pair", synthetic.MOTION_PAIRS)
def test_motion_pairs_differ_over_time_but_not_per_frame(pair):
    assert set(pair) <= set(synthetic.CLASSES) and all(synthetic.CLASSES[c] == "motion" for c in pair)
    stat, sign = TRENDS[pair]
    a, b = (list(clips_of(name)) for name in pair)
    # Single frames: pooled over clips, each statistic has the same distribution for both classes.
    pooled_a, pooled_b = np.concatenate(a), np.concatenate(b)
    for k in range(3):
        assert ks(pooled_a[:, k], pooled_b[:, k]) < 0.25, (pair, k)
    # ...which a fainter copy of the first class would fail (the check has power).
    faint = np.concatenate(list(clips_of(pair[0], fade_to_background=0.5)))
    assert ks(pooled_a[:, 2], faint[:, 2]) > 0.4
    # Over time: the sign of the trend (second half minus first half) separates the classes.
    for clips, expected in ((a, sign), (b, -sign)):
        trends = [np.sign(np.nanmean(s[len(s) // 2 :, stat]) - np.nanmean(s[: len(s) // 2, stat])) for s in clips]
        assert np.mean(np.equal(trends, expected)) >= 0.9, (pair, trends)


def test_appearance_classes_are_not_motion_classes():
    kinds = synthetic.CLASSES
    assert sum(kind == "appearance" for kind in kinds.values()) >= 4
    paired = {c for pair in synthetic.MOTION_PAIRS for c in pair}
    assert paired == {c for c, kind in kinds.items() if kind == "motion"} and len(synthetic.MOTION_PAIRS) >= 3


@pytest.mark.parametrize(
    "key,override",
    [
        ("data.synthetic.groups", dict(groups=7)),
        ("data.synthetic.groups", dict(groups=True)),
        ("data.synthetic.clips_per_group", dict(clips_per_group=0)),
        ("data.synthetic.frames.0", dict(frames=[1, 5])),
        ("data.synthetic.frames", dict(frames=[9, 5])),
        ("data.synthetic.frames", dict(frames=[5])),
        ("data.synthetic.size.0", dict(size=[31, 48])),
        ("data.synthetic.size", dict(size=[66, 47])),
        ("data.synthetic.size.0", dict(size=[64.0, 48])),
        ("data.synthetic.fps", dict(fps=0)),
        ("data.synthetic.workers", dict(workers=-1)),
        ("data.synthetic.colour", dict(colour=1)),
    ],
)
def test_bad_params_name_their_key(key, override):
    with pytest.raises(ParamError) as err:
        config.check(config.Synthetic, {**SMALL, **override}, "data.synthetic")
    assert err.value.key == key and f"'{key}'" in str(err.value)


def test_params_yaml_lists_are_accepted(tmp_path):
    videos = synthetic.generate(tmp_path, groups=8, clips_per_group=1, frames=[2, 2], size=[32, 32], fps=10)
    assert all(decode(tmp_path / rel)[1].shape == (2, 32, 32, 3) for rel in videos)
