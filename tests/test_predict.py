"""Inference from a trained model directory: the one input path, predict_video, and the predict CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import models
from actionrec.errors import DataError, ParamError, PipelineError
from actionrec.flow import compute_flow
from actionrec.inference import load_trained, predict_frames, predict_video, top_k, video_inputs
from actionrec.inputs import Source, make_dataset
from actionrec.io import save_array, write_json
from actionrec.video import UnreadableVideo, sample_frames
from conftest import REPO, write_video

T, SIZE = 4, (32, 24)  # frames, (width, height)
CLASSES = ["Alpha", "Beta", "Gamma"]
FLOW = {"method": "farneback", "bound": 20.0}
TINY = {
    "basic_cnn": {"filters": 4, "blocks": 2},
    "cnn_lstm": {"filters": 4, "blocks": 2, "features": 8, "lstm_units": 8},
    "two_stream": {"filters": 4, "blocks": 2},
}


def save_trained(models_dir: Path, arch: str) -> keras.Model:
    """Save a tiny untrained model the way actionrec.training does (model.keras + classes.json)."""
    keras.utils.set_random_seed(0)
    model = models.build(arch, len(CLASSES), models.InputSpec(frames=T, height=SIZE[1], width=SIZE[0]), TINY[arch])
    out = models_dir / arch
    out.mkdir(parents=True)
    model.save(out / "model.keras")
    kind = models.get(arch).INPUT
    meta = {"classes": CLASSES, "input": kind, "frames": T, "size": list(SIZE)}
    if kind == "clip+flow":
        meta["flow"] = FLOW
    write_json(out / "classes.json", meta)
    return model


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    models_dir = tmp_path_factory.mktemp("predict") / "models"
    for arch in TINY:
        save_trained(models_dir, arch)
    return models_dir


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "v_Alpha_g01_c01.avi", 12)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("broken")
    empty, text = root / "empty.avi", root / "notes.avi"
    empty.write_bytes(b"")
    text.write_text("this is not a video\n" * 20)
    return empty, text


def frames_of(video: Path) -> np.ndarray:
    return sample_frames(video, T, SIZE).frames


# --- the library --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TINY))
def test_predict_video_is_the_model_on_video_inputs(arch, trained_dir, video):
    trained = load_trained(arch, trained_dir)
    assert (trained.classes, trained.frames, trained.size) == (CLASSES, T, SIZE)
    assert trained.input == models.get(arch).INPUT
    assert trained.flow == (FLOW if arch == "two_stream" else None)
    probs = predict_video(trained, video)
    assert probs.shape == (len(CLASSES),) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)

    frames = frames_of(video)
    x = video_inputs(trained, frames)
    expected = np.asarray(trained.model(x, training=False))
    if arch == "basic_cnn":
        assert x.shape == (T, SIZE[1], SIZE[0], 3) and expected.shape == (T, len(CLASSES))
        expected = expected.mean(axis=0)  # the video score is the mean over its frames
    else:
        expected = expected[0]
    if arch == "two_stream":  # flow recomputed with the training-time method and bound
        np.testing.assert_array_equal(x["flow"][0], compute_flow(frames, **FLOW).astype(np.float32))
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(predict_frames(trained, frames), probs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("arch", list(TINY))
def test_video_inputs_equal_the_evaluation_stream_of_a_frame_store(arch, trained_dir, video, tmp_path):
    """The same frames written as a one-video frame (and flow) store: make_dataset yields the same batch."""
    trained = load_trained(arch, trained_dir)
    frames = frames_of(video)
    rel = "videos/Alpha/v_Alpha_g01_c01.npy"
    save_array(tmp_path / "frames" / rel, frames)
    save_array(tmp_path / "flow" / rel, compute_flow(frames, **FLOW))
    source = Source(tmp_path / "frames", [rel], [0], (T, SIZE[1], SIZE[0], 3), tmp_path / "flow")
    kind = trained.input
    batch = next(iter(make_dataset(source, kind=kind, batch_size=T if kind == "frames" else 1, training=False, seed=0)))[0]
    ours = video_inputs(trained, frames)
    if kind == "clip+flow":
        assert set(ours) == set(batch) == {"rgb", "flow"}
        for key in ours:
            assert ours[key].dtype == np.float32
            np.testing.assert_array_equal(ours[key], batch[key].numpy())
    else:
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, batch.numpy())


def test_short_clips_are_averaged_over_evenly_spaced_windows(tmp_path, video):
    """clip_frames=2 of T=4 stored frames: 3 clips start at frames 0, 1, 2; the score is their mean."""
    keras.utils.set_random_seed(0)
    model = models.build("two_stream", len(CLASSES), models.InputSpec(frames=2, height=SIZE[1], width=SIZE[0]), TINY["two_stream"])
    (tmp_path / "two_stream").mkdir()
    model.save(tmp_path / "two_stream" / "model.keras")
    write_json(tmp_path / "two_stream" / "classes.json",
               {"classes": CLASSES, "input": "clip+flow", "frames": T, "clip_frames": 2, "size": list(SIZE), "flow": FLOW})  # fmt: skip
    trained = load_trained("two_stream", tmp_path)
    frames = frames_of(video)
    flow = compute_flow(frames, **FLOW).astype(np.float32)
    x = video_inputs(trained, frames, clips=3)
    np.testing.assert_array_equal(x["rgb"], np.stack([frames[s : s + 2] for s in (0, 1, 2)]).astype(np.float32))
    np.testing.assert_array_equal(x["flow"], np.stack([flow[s : s + 1] for s in (0, 1, 2)]))
    np.testing.assert_array_equal(video_inputs(trained, frames)["rgb"][0], frames[1:3].astype(np.float32))  # centre
    expected = np.asarray(model(x, training=False)).mean(axis=0)
    np.testing.assert_allclose(predict_video(trained, video, clips=3), expected, rtol=1e-6, atol=1e-7)


def test_given_flow_is_used_as_is(trained_dir, video):
    trained = load_trained("two_stream", trained_dir)
    frames = frames_of(video)
    still = np.full((T - 1, SIZE[1], SIZE[0], 2), 128, np.uint8)
    np.testing.assert_array_equal(video_inputs(trained, frames, still)["flow"][0], still.astype(np.float32))
    with pytest.raises(DataError, match="flow"):
        video_inputs(trained, frames, still[:1])


def test_frames_of_another_shape_are_refused(trained_dir, video):
    trained = load_trained("basic_cnn", trained_dir)
    with pytest.raises(DataError, match=r"expected \(4, 24, 32, 3\) uint8"):
        video_inputs(trained, sample_frames(video, T, (16, 16)).frames)
    with pytest.raises(DataError, match="uint8"):
        video_inputs(trained, frames_of(video).astype(np.float32))


def test_unreadable_video_raises(trained_dir, broken):
    trained = load_trained("basic_cnn", trained_dir)
    for path in broken:
        with pytest.raises(UnreadableVideo) as err:
            predict_video(trained, path)
        assert str(path) in str(err.value)


def test_top_k_is_best_first(trained_dir):
    trained = load_trained("basic_cnn", trained_dir)
    assert top_k(trained, np.array([0.2, 0.5, 0.3], np.float32), 2) == [("Beta", 0.5), ("Gamma", pytest.approx(0.3))]
    assert len(top_k(trained, np.array([0.2, 0.5, 0.3]), 10)) == 3


def test_load_errors_name_the_fix(trained_dir, tmp_path):
    with pytest.raises(PipelineError, match=r"dvc repro train@conv3d") as err:
        load_trained("conv3d", trained_dir)
    assert str(trained_dir / "conv3d") in str(err.value)
    with pytest.raises(ParamError) as err:
        load_trained("nope", trained_dir)
    assert all(name in str(err.value) for name in models.ARCHITECTURES)
    with pytest.raises(PipelineError, match="member"):
        load_trained("ensemble", trained_dir)
    shutil.copytree(trained_dir / "basic_cnn", tmp_path / "basic_cnn")
    (tmp_path / "basic_cnn" / "model.keras").unlink()
    with pytest.raises(PipelineError, match=r"model\.keras.*dvc repro train@basic_cnn"):
        load_trained("basic_cnn", tmp_path)


def test_two_stream_without_recorded_flow_settings_needs_the_flow(trained_dir, video, tmp_path):
    shutil.copytree(trained_dir / "two_stream", tmp_path / "two_stream")
    meta = json.loads((tmp_path / "two_stream" / "classes.json").read_text())
    del meta["flow"]
    write_json(tmp_path / "two_stream" / "classes.json", meta)
    trained = load_trained("two_stream", tmp_path)
    with pytest.raises(PipelineError, match=r"dvc repro train@two_stream"):
        predict_video(trained, video)
    assert predict_frames(trained, frames_of(video), compute_flow(frames_of(video), **FLOW)).shape == (3,)


# --- the CLI ------------------------------------------------------------------------------


def cli(*args: str, command: tuple[str, ...] = (sys.executable, "-m", "stages.predict")) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    return subprocess.run([*command, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_cli_prints_top_k_per_video(trained_dir, video):
    result = cli("--model", "cnn_lstm", "--top-k", "2", "--models-dir", trained_dir, video, video)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == lines[3] == str(video)
    expected = top_k(load_trained("cnn_lstm", trained_dir), predict_video(load_trained("cnn_lstm", trained_dir), video), 2)
    for line, (name, prob) in zip(lines[1:3], expected):
        assert line.split() == [f"{prob:.3f}", name]


def test_cli_json_reports_broken_videos_and_still_predicts_the_others(trained_dir, video, broken):
    empty, text = broken
    result = cli("--model", "basic_cnn", "--json", "--top-k", "3", "--models-dir", trained_dir, empty, video, text)
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [e["video"] for e in entries] == [str(empty), str(video), str(text)]
    assert "empty file" in entries[0]["error"] and "predictions" not in entries[0]
    assert "error" in entries[2] and "predictions" not in entries[2]
    predictions = entries[1]["predictions"]
    assert [p["class"] for p in predictions] and sorted(p["class"] for p in predictions) == sorted(CLASSES)
    probs = [p["probability"] for p in predictions]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, rel=1e-5)
    assert str(empty) in result.stderr and str(text) in result.stderr


def test_cli_text_mode_names_broken_files_on_stderr(trained_dir, video, broken):
    empty, text = broken
    result = cli("--model", "two_stream", "--models-dir", trained_dir, text, video, empty)
    assert result.returncode == 1
    assert f"error: {text}:" in result.stderr and f"error: {empty}: empty file (0 bytes)" in result.stderr
    assert result.stdout.splitlines()[0] == str(video) and len(result.stdout.splitlines()) == 1 + len(CLASSES)
    assert "Traceback" not in result.stderr


def test_cli_unknown_model_lists_the_valid_names(trained_dir, video):
    script = Path(sys.executable).with_name("ucf101-predict")
    command = (str(script),) if script.is_file() else (sys.executable, "-m", "stages.predict")
    result = cli("--model", "resnet", "--models-dir", trained_dir, video, command=command)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "resnet" in result.stderr and all(name in result.stderr for name in models.ARCHITECTURES)


def test_cli_missing_model_names_the_command_that_makes_it(tmp_path, video):
    result = cli("--model", "conv3d", "--models-dir", tmp_path / "models", video)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dvc repro train@conv3d" in result.stderr and str(tmp_path / "models" / "conv3d") in result.stderr
