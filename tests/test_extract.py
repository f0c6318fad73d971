"""The dense frame store, on real video files decoded by OpenCV: every frame, short side kept, JPEG packs."""

import csv
import json

import cv2
import numpy as np
import pytest
from conftest import make_dataset, read_video, write_lists_for, write_video

from actionrec import config
from actionrec.data import ucf101
from actionrec.data.framestore import (
    MANIFEST_COLUMNS,
    decode_pack,
    encode_jpeg,
    encode_video,
    extract,
    load_frames,
    pack,
    read_manifest,
    read_store,
    unpack,
)
from actionrec.data.video import UnreadableVideo, decode_video, stored_size
from actionrec.errors import DataError

STORE = {"short_side": 32, "fps": None, "quality": 90}
JPEG_TOLERANCE = 3  # levels: the codec's own loss, then the store's JPEG


def flat_level(frames: np.ndarray) -> np.ndarray:
    """The brightness of each frame where write_video paints it flat (away from its coloured top-left block)."""
    h, w = frames.shape[1:3]
    return np.median(frames[:, h // 2 :, w // 2 :].reshape(len(frames), -1), axis=1)


def nearest_frames(stored: np.ndarray, video: np.ndarray) -> list[int]:
    """For each stored frame, the index of the video frame (resized like the store) it is closest to.

    write_video gives every frame its own brightness (4*i) and its own random colour in the
    top-left block, so the nearest frame is unambiguous.
    """
    size = (stored.shape[2], stored.shape[1])
    resized = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in video]).astype(np.int16)
    return [int(np.abs(resized - s.astype(np.int16)).mean(axis=(1, 2, 3)).argmin()) for s in stored]


def build(raw, out, **kwargs):
    return extract(raw, out, split=1, **{**STORE, "workers": 1, "strict": True, **kwargs})


# --- decoding -------------------------------------------------------------------------------------


def test_stored_size_keeps_the_aspect_ratio():
    assert stored_size(1280, 720, 64) == (114, 64)
    assert stored_size(320, 240, 128) == (171, 128)
    assert stored_size(160, 120, 64) == (85, 64)
    assert stored_size(48, 80, 32) == (32, 53)  # portrait: the short side is the width
    assert stored_size(64, 48, 96) == (128, 96)  # a small video is enlarged to the short side


def test_hd_video_keeps_its_aspect_ratio_and_every_frame(tmp_path):
    video = write_video(tmp_path / "v_A_g01_c01.avi", 7, size=(1280, 720))
    decoded = decode_video(video, 64)
    assert len(decoded.frames) == decoded.frames_found == 7
    assert (decoded.width, decoded.height, decoded.stored_width, decoded.stored_height) == (1280, 720, 114, 64)
    assert all(f.shape == (64, 114, 3) and f.dtype == np.uint8 for f in decoded.frames)
    assert decoded.native_fps == decoded.fps == 25.0


def test_frame_i_of_the_store_is_frame_i_of_the_video(tmp_path):
    video = write_video(tmp_path / "v.avi", 40, size=(64, 48))
    decoded, data = encode_video(video, 32, None, 90)
    frames = decode_pack(data)
    assert frames.shape == (40, 32, 43, 3) and frames.dtype == np.uint8  # 64x48 -> 43x32, all 40 frames
    # write_video paints frame i with brightness 4*i; MJPG and the store's JPEG each lose a level or two.
    np.testing.assert_allclose(flat_level(frames), 4 * np.arange(40), atol=JPEG_TOLERANCE)
    assert nearest_frames(frames, read_video(video)) == list(range(40))
    # Against OpenCV's own decode of the file, resized the same way: only the store's JPEG loss is left.
    truth = np.stack([cv2.resize(f, (43, 32), interpolation=cv2.INTER_AREA) for f in read_video(video)])
    assert np.abs(frames.astype(int) - truth).mean() < 1.5


def test_frames_are_not_resized_when_already_at_the_short_side(tmp_path):
    video = write_video(tmp_path / "v.avi", 6, size=(64, 48))
    frames = np.stack(decode_video(video, 48).frames)
    assert frames.shape == (6, 48, 64, 3)
    np.testing.assert_array_equal(frames, read_video(video))  # decode_video itself is lossless


@pytest.mark.parametrize("native, n, cap", [(50, 50, 25), (60, 60, 25), (60, 45, 24)])
def test_fps_cap_keeps_the_first_frame_at_or_after_each_tick(tmp_path, native, n, cap):
    video = write_video(tmp_path / "v.avi", n, fps=native)
    decoded = decode_video(video, 48, cap)
    # frame k of the capped video is the first native frame at or after k / cap seconds
    expected = [-(-k * native // cap) for k in range(n) if -(-k * native // cap) < n]
    assert len(decoded.frames) == len(expected) and decoded.frames_found == n
    assert (decoded.native_fps, decoded.fps) == (native, cap)
    assert nearest_frames(np.stack(decoded.frames), read_video(video)) == expected
    if native == 2 * cap:
        assert expected == list(range(0, n, 2))


def test_fps_cap_above_the_native_rate_keeps_every_frame(tmp_path):
    decoded = decode_video(write_video(tmp_path / "v.avi", 12, fps=25), 48, 30)
    assert len(decoded.frames) == 12 and decoded.fps == decoded.native_fps == 25.0


def test_mp4_container(tmp_path):
    decoded = decode_video(write_video(tmp_path / "v.mp4", 20, fourcc="mp4v"), 32)
    assert decoded.frames_found == len(decoded.frames) == 20


@pytest.mark.parametrize(
    "kind,reason",
    [("zero", "empty file"), ("text", "cannot open"), ("truncated", "truncated"), ("missing", "not found")],
)
def test_unreadable_videos_have_reasons(tmp_path, kind, reason):
    path = tmp_path / "v_A_g01_c01.avi"
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 50)
    elif kind == "truncated":
        data = write_video(path, 40).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableVideo, match=reason) as err:
        decode_video(path, 32)
    assert err.value.path == str(path) and reason in err.value.reason


# --- the store ------------------------------------------------------------------------------------


def test_store_keeps_every_frame_with_the_aspect_ratio_and_describes_itself(tmp_path):
    raw = tmp_path / "raw"
    write_video(raw / "Alpha/v_Alpha_g01_c01.avi", 7, size=(1280, 720))  # test (group 1)
    write_video(raw / "Alpha/v_Alpha_g09_c01.avi", 10, size=(48, 80))  # train, portrait
    write_video(raw / "Beta/v_Beta_g02_c01.avi", 60, fps=60)
    write_video(raw / "Beta/v_Beta_g10_c01.avi", 50, fps=50)
    write_lists_for(raw)
    summary = build(raw, tmp_path / "frames", short_side=64, fps=25, quality=85)

    with open(tmp_path / "frames" / "manifest.csv", newline="") as f:
        assert next(csv.reader(f)) == MANIFEST_COLUMNS
    rows = {r["video"]: r for r in read_manifest(tmp_path / "frames")}
    expected = {  # num_frames, fps, width, height, frames_found, native_fps, original_width, original_height
        "Alpha/v_Alpha_g01_c01.avi": (7, 25.0, 114, 64, 7, 25.0, 1280, 720),
        "Alpha/v_Alpha_g09_c01.avi": (10, 25.0, 64, 107, 10, 25.0, 48, 80),
        "Beta/v_Beta_g02_c01.avi": (25, 25.0, 85, 64, 60, 60.0, 64, 48),
        "Beta/v_Beta_g10_c01.avi": (25, 25.0, 85, 64, 50, 50.0, 64, 48),
    }
    assert set(rows) == set(expected)
    total_bytes = 0
    for video, values in expected.items():
        row = rows[video]
        assert tuple(row[k] for k in MANIFEST_COLUMNS[7:]) == values, video
        assert (row["class_name"], row["label"]) == (video.split("/")[0], ["Alpha", "Beta"].index(video.split("/")[0]))
        assert row["split"] == ("test" if row["group"] in ucf101.test_groups(1) else "train")
        assert row["frames"] == "videos/" + video.replace(".avi", ".jpgs")
        frames = load_frames(tmp_path / "frames", row)
        assert frames.shape == (row["num_frames"], row["height"], row["width"], 3) and frames.dtype == np.uint8
        total_bytes += (tmp_path / "frames" / row["frames"]).stat().st_size

    info = json.loads((tmp_path / "frames" / "store.json").read_text())
    assert info == summary
    assert (info["format"], info["short_side"], info["fps"], info["quality"], info["split"]) == ("jpeg-pack", 64, 25, 85, 1)
    assert (info["classes"], info["class_kinds"], info["videos"], info["skipped"]) == (["Alpha", "Beta"], None, 4, 0)
    assert info["frames"] == 7 + 10 + 25 + 25
    assert info["bytes"] == total_bytes and info["bytes_per_frame"] == round(total_bytes / info["frames"], 1)
    assert json.loads((tmp_path / "frames" / "skipped.json").read_text()) == []
    assert not (tmp_path / "frames.tmp").exists()


def test_store_frames_are_the_video_frames(tmp_path):
    raw = tmp_path / "raw"
    video = write_video(raw / "Alpha/v_Alpha_g01_c01.avi", 30)
    write_lists_for(raw)
    build(raw, tmp_path / "frames")
    (row,) = read_manifest(tmp_path / "frames")
    frames = load_frames(tmp_path / "frames", row)
    assert frames.shape == (30, 32, 43, 3)
    np.testing.assert_allclose(flat_level(frames), 4 * np.arange(30), atol=JPEG_TOLERANCE)
    assert nearest_frames(frames, read_video(video)) == list(range(30))
    # the extract stage and a new video (encode_video, used by predict) store the very same bytes
    assert (tmp_path / "frames" / row["frames"]).read_bytes() == encode_video(video, 32, None, 90)[1]


def test_store_quality_is_the_jpeg_quality(tmp_path):
    raw = tmp_path / "raw"
    write_video(raw / "Alpha/v_Alpha_g01_c01.avi", 8, size=(128, 96))
    write_lists_for(raw)
    low = build(raw, tmp_path / "low", short_side=96, quality=20)
    high = build(raw, tmp_path / "high", short_side=96, quality=95)
    assert low["bytes_per_frame"] < high["bytes_per_frame"]


def _break_videos(root):
    """A zero-byte file, a truncated one and a text file renamed .avi, all listed in the splits."""
    (root / "Alpha/v_Alpha_g02_c01.avi").write_bytes(b"")
    data = (root / "Beta/v_Beta_g03_c01.avi").read_bytes()
    (root / "Beta/v_Beta_g03_c01.avi").write_bytes(data[: len(data) * 2 // 3])
    (root / "Gamma/v_Gamma_g08_c01.avi").write_text("not a video\n" * 100)
    return {"Alpha/v_Alpha_g02_c01.avi": "empty", "Beta/v_Beta_g03_c01.avi": "truncated", "Gamma/v_Gamma_g08_c01.avi": "cannot open"}


def test_extract_skips_and_lists_bad_videos(tmp_path, small_dataset):
    broken = _break_videos(small_dataset)
    out = tmp_path / "frames"
    summary = extract(small_dataset, out, split=1, short_side=32, fps=None, quality=90, workers=2, strict=False)
    skipped = json.loads((out / "skipped.json").read_text())
    assert {s["video"] for s in skipped} == set(broken)
    for item in skipped:
        assert broken[item["video"]] in item["reason"]
    rows = read_manifest(out)
    assert summary["videos"] == len(rows) == 3 * 8 - 3 and summary["skipped"] == 3
    assert not {r["video"] for r in rows} & set(broken)
    assert not any((out / "videos" / v).with_suffix(".jpgs").exists() for v in broken)
    for row in rows:
        assert (row["num_frames"], row["frames_found"], row["width"], row["height"]) == (12, 12, 43, 32)
        assert load_frames(out, row).shape == (12, 32, 43, 3)
        assert row["split"] == ("test" if row["group"] in ucf101.test_groups(1) else "train")
        assert row["label"] == ["Alpha", "Beta", "Gamma"].index(row["class_name"])
    assert summary["frames"] == 12 * len(rows)
    assert json.loads((out / "store.json").read_text())["classes"] == ["Alpha", "Beta", "Gamma"]
    assert not (tmp_path / "frames.tmp").exists()


def test_extract_strict_fails_and_keeps_previous_store(tmp_path, small_dataset):
    out = tmp_path / "frames"
    build(small_dataset, out)
    before = (out / "manifest.csv").read_text()
    _break_videos(small_dataset)
    with pytest.raises(DataError, match="3 unreadable videos and frames.strict is true"):
        build(small_dataset, out)
    assert (out / "manifest.csv").read_text() == before
    assert not (tmp_path / "frames.tmp").exists()


def test_class_with_no_usable_video_is_an_error(tmp_path):
    root = tmp_path / "raw"
    make_dataset(root, classes=("Alpha", "Beta"), groups=8)
    for video in (root / "Beta").iterdir():
        video.write_bytes(b"")
    with pytest.raises(DataError, match="classes: Beta"):
        build(root, tmp_path / "frames", strict=False)


# --- packs ----------------------------------------------------------------------------------------


def test_pack_round_trip():
    images = [b"first", b"", b"\xff\xd8 third", bytes(range(256)) * 3]
    data = pack(images)
    assert data[:4] == b"JPK1" and len(data) == 4 + 4 + 4 * 5 + sum(map(len, images))
    assert unpack(data) == images
    assert unpack(pack([])) == []


def test_jpeg_pack_round_trip_rgb_and_gray():
    y, x = np.mgrid[0:24, 0:40]
    rgb = np.stack([np.stack([4 * x + t, 8 * y, np.full_like(x, 60 * t)], -1) for t in range(3)]).astype(np.uint8)
    back = decode_pack(pack([encode_jpeg(f, 95) for f in rgb]))
    assert back.shape == rgb.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb).max() <= 8 and np.abs(back.astype(int) - rgb).mean() < 1.5  # RGB in, RGB out
    gray = np.full((2, 10, 14), 77, np.uint8)
    np.testing.assert_array_equal(decode_pack(pack([encode_jpeg(g, 90) for g in gray]), gray=True), gray)


def _corrupt(kind: str, data: bytes) -> bytes:
    images = unpack(data)
    if kind == "magic":
        return b"NOPE" + data[4:]
    if kind == "frame":  # the third frame's bytes are no JPEG any more
        start = data.index(images[2])
        return data[:start] + bytes(len(images[2])) + data[start + len(images[2]) :]
    if kind == "tail":
        return data[:-40]
    if kind == "header":
        return data[:20]
    if kind == "count":
        return data[:6]
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "magic",
        "frame",
        "tail",
        "header",
        "count",
    ],
)
def test_corrupt_pack_is_a_data_error_naming_the_file(tmp_path, kind):
    raw = tmp_path / "raw"
    write_video(raw / "Alpha/v_Alpha_g01_c01.avi", 8)
    write_lists_for(raw)
    build(raw, tmp_path / "frames")
    (row,) = read_manifest(tmp_path / "frames")
    path = tmp_path / "frames" / row["frames"]
    path.write_bytes(_corrupt(kind, path.read_bytes()))
    with pytest.raises(DataError, match="dvc repro extract") as err:
        load_frames(tmp_path / "frames", row)
    assert str(path) in str(err.value)


# --- reading a store ------------------------------------------------------------------------------


def params(**frames) -> config.Frames:
    return config.check(config.Frames, {**STORE, "workers": 1, "strict": False, **frames}, "frames")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    write_video(root / "raw/Alpha/v_Alpha_g01_c01.avi", 4)
    write_lists_for(root / "raw")
    build(root / "raw", root / "frames")
    return root / "frames"


def test_read_store_accepts_the_store_params_built(tiny_store):
    info = read_store(tiny_store, params())
    assert {k: info[k] for k in STORE} == STORE and info["format"] == "jpeg-pack"
    assert read_store(tiny_store) == info  # without params: no check


@pytest.mark.parametrize("key, value", [("short_side", 64), ("fps", 25), ("quality", 75)])
def test_read_store_refuses_a_store_built_with_other_frame_params(tiny_store, key, value):
    with pytest.raises(DataError, match=rf"frames\.{key}") as err:
        read_store(tiny_store, params(**{key: value}))
    message = str(err.value)
    assert "dvc repro extract" in message and str(tiny_store) in message and repr(value) in message
    assert repr(STORE[key]) in message  # what the store was built with


def test_read_store_missing_or_old_format(tmp_path):
    with pytest.raises(DataError, match=r"frame store not found \(run `dvc repro extract`\)"):
        read_store(tmp_path / "frames")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "store.json").write_text(json.dumps({"count": 16, "size": [112, 112]}))
    with pytest.raises(DataError, match="old frame store format.*dvc repro extract"):
        read_store(tmp_path / "frames", params())


def test_store_carries_the_class_kinds_and_an_old_store_without_them_is_refused(tmp_path, small_dataset):
    ucf101.write_class_kinds(small_dataset / ucf101.LISTS_DIR, {"Alpha": "motion", "Beta": "appearance", "Gamma": "motion"})
    build(small_dataset, tmp_path / "frames")
    assert read_store(tmp_path / "frames")["class_kinds"] == {"Alpha": "motion", "Beta": "appearance", "Gamma": "motion"}
    info = json.loads((tmp_path / "frames" / "store.json").read_text())
    del info["class_kinds"]
    (tmp_path / "frames" / "store.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"an old frame store format \(rebuild it with `dvc repro extract`\)"):
        read_store(tmp_path / "frames")
