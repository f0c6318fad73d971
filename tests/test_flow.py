"""Optical flow between consecutive stored frames: the exact zero code, mean subtraction, the flow store."""

import json

import cv2
import numpy as np
import pytest
from conftest import write_lists_for, write_video

from actionrec.data.flow import (
    LEVELS,
    ZERO,
    build_flow_store,
    compute_flow,
    flow_of_pack,
    pack_flow,
    quantize,
    unpack_flow,
)
from actionrec.data.framestore import extract, read_manifest, unpack

BOUND = 8.0


def dequantize(codes: np.ndarray, bound: float) -> np.ndarray:
    """Codes back to pixels per frame: the inverse of quantize (the models read the codes themselves)."""
    return (codes.astype(np.float32) - ZERO) * (bound / LEVELS)


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random grey texture (something optical flow can track), full range."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w)).astype(np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2), None, 0, 255, cv2.NORM_MINMAX)


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1)


def moving_square(steps: int, dy: int, dx: int) -> np.ndarray:
    """A textured 16x16 square moving (dy, dx) px per frame over a still black background."""
    frames = np.zeros((steps, 48, 48, 3), np.uint8)
    patch = rgb(texture(16, 16, seed=3) // 2 + 100)
    for t in range(steps):
        top, left = 12 + dy * t, 12 + dx * t
        frames[t, top : top + 16, left : left + 16] = patch
    return frames


# --- the codes ------------------------------------------------------------------------------------


def test_zero_motion_is_exactly_the_zero_code():
    assert ZERO == 128 and LEVELS == 127
    assert quantize(np.zeros((2, 3, 2), np.float32), BOUND).tolist() == np.full((2, 3, 2), 128).tolist()
    assert dequantize(np.array([128], np.uint8), BOUND).tolist() == [0.0]
    # tiny motion (under half a step) is zero too
    assert quantize(np.array([0.49, -0.49]) * BOUND / LEVELS, BOUND).tolist() == [128, 128]


def test_codes_clip_at_the_bound_and_are_symmetric():
    assert quantize(np.array([-50.0, -BOUND, 0.0, BOUND, 50.0]), BOUND).tolist() == [1, 1, 128, 255, 255]
    f = np.linspace(-2 * BOUND, 2 * BOUND, 1001)
    assert np.array_equal(quantize(-f, BOUND).astype(int), 256 - quantize(f, BOUND).astype(int))  # a flip keeps zero at zero
    assert quantize(f, BOUND).dtype == np.uint8


@pytest.mark.parametrize("bound", [1.0, 8.0, 20.0])
def test_quantize_dequantize_round_trip_within_half_a_step(bound):
    f = np.random.default_rng(0).uniform(-bound, bound, 10000).astype(np.float32)
    back = dequantize(quantize(f, bound), bound)
    assert back.dtype == np.float32
    assert np.abs(back - f).max() <= bound / LEVELS / 2 + 1e-6
    codes = np.arange(1, 256, dtype=np.uint8)
    assert np.array_equal(quantize(dequantize(codes, bound), bound), codes)  # every code is its own value


@pytest.mark.parametrize("quality", [10, 50, 90, 100])
def test_a_still_field_survives_the_jpeg_round_trip_exactly(quality):
    still = np.full((3, 20, 27, 2), ZERO, np.uint8)  # odd sizes: partial JPEG blocks too
    data = pack_flow(still, quality)
    assert len(unpack(data)) == 6  # x0, y0, x1, y1, x2, y2
    np.testing.assert_array_equal(unpack_flow(data), still)


def test_pack_flow_keeps_the_component_order():
    codes = np.full((2, 16, 16, 2), ZERO, np.uint8)
    codes[0, ..., 0], codes[0, ..., 1], codes[1, ..., 0], codes[1, ..., 1] = 40, 90, 170, 220
    back = unpack_flow(pack_flow(codes, 95))
    assert back.shape == codes.shape
    np.testing.assert_allclose(back.astype(int), codes.astype(int), atol=1)


# --- the fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_a_still_flat_video_is_exactly_zero_motion_after_the_store(method):
    frames = np.full((4, 24, 32, 3), 90, np.uint8)
    codes = compute_flow(frames, method, BOUND)
    assert codes.shape == (3, 24, 32, 2) and codes.dtype == np.uint8
    assert (codes == ZERO).all()
    assert (unpack_flow(pack_flow(codes, 90)) == ZERO).all()


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_a_still_textured_video_is_zero_motion(method):
    frames = np.stack([rgb(texture(48, 64))] * 3)
    codes = compute_flow(frames, method, BOUND).astype(int)
    # Farneback finds a few hundredths of a pixel along some edges of identical frames: at most 2 steps.
    assert np.abs(codes - ZERO).max() <= 2 and (codes == ZERO).mean() > 0.95


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_a_translation_of_the_whole_frame_is_removed_by_the_mean_subtraction(method):
    big = texture(48, 96)
    frames = np.stack([rgb(big[:, 2 * t : 2 * t + 64]) for t in range(4)])  # the camera pans: content moves 2 px left
    raw = cv2.calcOpticalFlowFarneback(big[:, :64], big[:, 2:66], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    assert np.median(raw[..., 0]) == pytest.approx(-2.0, abs=0.2)  # the motion is really there before subtraction
    flow = dequantize(compute_flow(frames, method, BOUND), BOUND)
    assert flow.shape == (3, 48, 64, 2)
    assert np.median(np.abs(flow)) == 0.0 and np.percentile(np.abs(flow), 99) < 0.1
    assert np.abs(flow[:, 4:-4, 4:-4]).max() < 0.1 and np.abs(flow).max() < 1.0  # the edges, where new content enters
    np.testing.assert_allclose(flow.mean(axis=(1, 2)), 0.0, atol=BOUND / LEVELS)


@pytest.mark.parametrize("method", ["farneback", "dis"])
@pytest.mark.parametrize("dy, dx", [(2, 0), (-2, 0), (0, 2), (0, -2)])
def test_a_moving_object_on_a_still_background_keeps_its_direction(method, dy, dx):
    frames = moving_square(4, dy, dx)
    flow = dequantize(unpack_flow(pack_flow(compute_flow(frames, method, BOUND), 90)), BOUND)  # through the store
    assert flow.shape == (3, 48, 48, 2)
    along, across = (1, 0) if dy else (0, 1)  # y moves for dy, x for dx
    for t in range(3):
        top, left = 12 + dy * t, 12 + dx * t
        inside = flow[t, top + 5 : top + 11, left + 5 : left + 11].reshape(-1, 2)  # the square's centre
        moving = np.median(inside[:, along])
        assert np.sign(moving) == np.sign(dy or dx) and abs(moving) > 0.5, (t, moving)
        assert abs(np.median(inside[:, across])) < 0.25
        # The mean subtraction moves the still background by minus the field's mean (the estimators
        # spread the square's motion over the flat black around it), but keeps the relative motion.
        background = np.median(flow[t, 42:, 42:, along])
        assert np.sign(background) != np.sign(dy or dx)
        assert moving - background == pytest.approx(dy or dx, abs=0.6), (t, moving, background)


def test_fields_are_between_consecutive_frames():
    """n frames -> n - 1 fields, field j from frame j to frame j + 1."""
    frames = np.stack([rgb(texture(48, 48))] * 6)
    frames[3:] = moving_square(1, 0, 0)  # the picture changes between frames 2 and 3 only
    frames[4:] = np.roll(frames[4:], 3, axis=2)  # and shifts right between 3 and 4
    codes = compute_flow(frames, "farneback", BOUND)
    assert codes.shape == (5, 48, 48, 2)
    motion = np.abs(codes.astype(int) - ZERO).mean(axis=(1, 2, 3))
    assert max(motion[0], motion[1], motion[4]) < 0.05, motion  # identical neighbours (Farneback: a few edge codes)
    assert min(motion[2], motion[3]) > 1, motion


@pytest.mark.parametrize("n, fields", [(1, 1), (2, 1), (5, 4)])
def test_field_count(n, fields):
    frames = np.stack([rgb(texture(24, 32, seed=i)) for i in range(n)])
    codes = compute_flow(frames, "dis", BOUND)
    assert codes.shape == (fields, 24, 32, 2)
    if n == 1:
        assert (codes == ZERO).all()  # a one-frame video: one field of zero motion


# --- the flow store -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    write_video(root / "raw/Alpha/v_Alpha_g01_c01.avi", 6, size=(64, 48))
    write_video(root / "raw/Alpha/v_Alpha_g09_c01.avi", 1, size=(48, 64))
    write_video(root / "raw/Beta/v_Beta_g02_c01.avi", 9, size=(80, 48))
    write_lists_for(root / "raw")
    extract(root / "raw", root / "frames", split=1, short_side=32, fps=None, quality=90, workers=1, strict=True)
    summary = build_flow_store(root / "frames", root / "flow", method="farneback", bound=BOUND, quality=90, workers=2)
    return root, summary


def test_flow_store_holds_n_minus_one_fields_per_video(stores):
    root, summary = stores
    rows = {r["video"]: r for r in read_manifest(root / "frames")}
    counts = {"Alpha/v_Alpha_g01_c01.avi": 5, "Alpha/v_Alpha_g09_c01.avi": 1, "Beta/v_Beta_g02_c01.avi": 8}
    for video, fields in counts.items():
        row = rows[video]
        data = (root / "flow" / row["frames"]).read_bytes()
        assert len(unpack(data)) == 2 * fields
        codes = unpack_flow(data, name=video)
        assert codes.shape == (fields, row["height"], row["width"], 2)
        # the stage's pack is the one predict computes for a new video from the frame pack
        assert data == flow_of_pack((root / "frames" / row["frames"]).read_bytes(), "farneback", BOUND, 90)
    one_frame = unpack_flow((root / "flow" / rows["Alpha/v_Alpha_g09_c01.avi"]["frames"]).read_bytes())
    assert (one_frame == ZERO).all()
    info = json.loads((root / "flow" / "flow.json").read_text())
    assert info == summary
    assert (info["method"], info["bound"], info["quality"], info["videos"], info["fields"]) == ("farneback", BOUND, 90, 3, 14)
    assert set(info["frame_store"]) == {"store.json", "manifest.csv"}
    assert not (root / "flow.tmp").exists()
