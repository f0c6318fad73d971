"""Frame sampling and the frame store, on real video files decoded by OpenCV."""

import json

import numpy as np
import pytest

from actionrec import ucf101
from actionrec.errors import DataError
from actionrec.flow import compute_flow, dequantize, quantize
from actionrec.framestore import extract, read_manifest
from actionrec.video import UnreadableVideo, sample_frames, sample_indices
from conftest import make_dataset, write_video


def test_sample_indices_uniform_and_padding():
    assert sample_indices(40, 4).tolist() == [5, 15, 25, 35]
    assert sample_indices(16, 16).tolist() == list(range(16))
    short = sample_indices(5, 10)
    assert short.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # repeated evenly, not only the last frame


def test_sample_frames_reads_the_right_frames(tmp_path):
    video = write_video(tmp_path / "v_A_g01_c01.avi", 40, size=(64, 48))
    sampled = sample_frames(video, 8, (32, 24))
    assert sampled.frames.shape == (8, 24, 32, 3) and sampled.frames.dtype == np.uint8
    assert (sampled.frames_found, sampled.padded, sampled.width, sampled.height) == (40, 0, 64, 48)
    brightness = sampled.frames[:, -1, -1, 0].astype(int)  # frame i is written with brightness 4*i
    expected = 4 * sample_indices(40, 8)
    assert np.abs(brightness - expected).max() <= 6  # JPEG compression tolerance


def test_short_video_is_padded_and_counted(tmp_path):
    sampled = sample_frames(write_video(tmp_path / "v.avi", 5), 16, (32, 32))
    assert sampled.frames.shape[0] == 16 and sampled.frames_found == 5 and sampled.padded == 11


def test_mp4_container(tmp_path):
    sampled = sample_frames(write_video(tmp_path / "v.mp4", 20, fourcc="mp4v"), 8, (32, 32))
    assert sampled.frames_found == 20


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
    with pytest.raises(UnreadableVideo, match=reason):
        sample_frames(path, 8, (32, 32))


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
    summary = extract(small_dataset, out, split=1, count=6, size=(32, 24), workers=2, strict=False)
    skipped = json.loads((out / "skipped.json").read_text())
    assert {s["video"] for s in skipped} == set(broken)
    for item in skipped:
        assert broken[item["video"]] in item["reason"]
    rows = read_manifest(out)
    assert summary["videos"] == len(rows) == 3 * 8 - 3
    assert not {r["video"] for r in rows} & set(broken)
    for row in rows:
        frames = np.load(out / row["frames"])
        assert frames.shape == (6, 24, 32, 3) and frames.dtype == np.uint8
        assert row["split"] == ("test" if row["group"] in ucf101.test_groups(1) else "train")
        assert row["label"] == ["Alpha", "Beta", "Gamma"].index(row["class_name"])
    assert json.loads((out / "store.json").read_text())["classes"] == ["Alpha", "Beta", "Gamma"]
    assert not (tmp_path / "frames.tmp").exists()


def test_extract_strict_fails_and_keeps_previous_store(tmp_path, small_dataset):
    out = tmp_path / "frames"
    extract(small_dataset, out, split=1, count=4, size=(32, 24), workers=1, strict=True)
    before = (out / "manifest.csv").read_text()
    _break_videos(small_dataset)
    with pytest.raises(DataError, match="3 unreadable videos"):
        extract(small_dataset, out, split=1, count=4, size=(32, 24), workers=1, strict=True)
    assert (out / "manifest.csv").read_text() == before


def test_class_with_no_usable_video_is_an_error(tmp_path):
    root = tmp_path / "raw"
    make_dataset(root, classes=("Alpha", "Beta"), groups=8)
    for video in (root / "Beta").iterdir():
        video.write_bytes(b"")
    with pytest.raises(DataError, match="classes: Beta"):
        extract(root, tmp_path / "frames", split=1, count=4, size=(32, 24), workers=1, strict=False)


def test_flow_detects_motion_direction_and_quantizes():
    frames = np.zeros((4, 48, 48, 3), np.uint8)
    for t in range(4):  # a textured square moving 2 px down per frame
        rng = np.random.default_rng(0)
        frames[t, 10 + 2 * t : 26 + 2 * t, 16:32] = rng.integers(60, 255, (16, 16, 1))
    flow = dequantize(compute_flow(frames, "farneback", bound=10.0), 10.0)
    assert flow.shape == (3, 48, 48, 2)
    centre = flow[:, 16:22, 20:28]
    assert np.median(centre[..., 1]) > 1.0 and abs(np.median(centre[..., 0])) < 0.5
    assert compute_flow(frames, "dis", bound=10.0).shape == (3, 48, 48, 2)
    q = quantize(np.array([-50.0, -10.0, 0.0, 10.0, 50.0]), 10.0)
    assert q.tolist() == [0, 0, 128, 255, 255]
