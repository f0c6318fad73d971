"""Inference from a trained model directory: the one input path, predict_video, and the predict CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, save_tiny_model, single_video_dataset, write_video
from tiny import FLOW, SAMPLING, STORE, TINY

import models
from actionrec.data.flow import ZERO, build_flow_store, pack_flow, unpack_flow
from actionrec.data.framestore import extract, load_frames, read_manifest
from actionrec.data.inputs import Source, video_dataset
from actionrec.data.sampling import Sampling
from actionrec.data.video import UnreadableVideo
from actionrec.errors import ParamError, PipelineError
from actionrec.evaluate import inference
from actionrec.evaluate.inference import encode_new_video, load_trained, predict_inputs, predict_video, top_k, video_inputs
from actionrec.io import write_json

CLASSES = ["Alpha", "Beta", "Gamma"]
SIZE = 24  # input_size: a 24x24 crop of the 43x32 frames
N = 16  # frames of the test video


def save_trained(models_dir: Path, arch: str):
    return save_tiny_model(
        models_dir,
        arch,
        CLASSES,
        input_size=SIZE,
        sampling=SAMPLING[arch],
        store=STORE,
        flow=FLOW if arch == "two_stream" else None,
        params=TINY[arch],
    )


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    models_dir = tmp_path_factory.mktemp("predict") / "models"
    for arch in TINY:
        save_trained(models_dir, arch)
    return models_dir


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "v_Alpha_g01_c01.avi", N)


@pytest.fixture(scope="module")
def store(tmp_path_factory, video) -> Path:
    """The same video file through the extract and flow stages: a one-video frame store and flow store."""
    root = tmp_path_factory.mktemp("store")
    single_video_dataset(root / "raw", video)
    extract(root / "raw", root / "frames", split=1, **STORE, workers=1, strict=True)
    build_flow_store(root / "frames", root / "flow", **FLOW, workers=1)
    return root


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("broken")
    empty, text = root / "empty.avi", root / "notes.avi"
    empty.write_bytes(b"")
    text.write_text("this is not a video\n" * 20)
    return empty, text


def store_inputs(trained, store: Path, clips: int = 1, crops: int = 1):
    """video_inputs from the packs the extract and flow stages stored for the video."""
    (row,) = read_manifest(store / "frames")
    flow = (store / "flow" / row["frames"]).read_bytes() if trained.sampling.flow_stack else None
    return video_inputs(
        trained, (store / "frames" / row["frames"]).read_bytes(), row["num_frames"], row["height"], row["width"], flow, clips, crops
    )


def frame_indices(x: np.ndarray, store: Path, top: int = 4, left: int = 9) -> np.ndarray:
    """Which stored frame each frame of model input ``x`` (..., SIZE, SIZE, 3) is: the nearest crop at (top, left).

    write_video gives each frame its own brightness (4*i) and its own colour in the top-left
    block, so the nearest frame is unambiguous (the centre crop of 43x32 frames is at (4, 9)).
    """
    (row,) = read_manifest(store / "frames")
    crops = load_frames(store / "frames", row)[:, top : top + SIZE, left : left + SIZE].astype(np.float32)
    flat = x.reshape(-1, 1, SIZE, SIZE, 3)
    return np.abs(flat - crops[None]).mean(axis=(2, 3, 4)).argmin(axis=1).reshape(x.shape[:-3])


def assert_same_input(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b) == {"rgb", "flow"}
        for key in a:
            assert_same_input(a[key], b[key])
        return
    b = np.asarray(b)
    assert a.dtype == np.float32 and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# --- the library --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TINY))
def test_load_trained_reads_what_training_recorded(arch, trained_dir):
    trained = load_trained(arch, trained_dir / arch)
    kind = models.get(arch).INPUT
    assert (trained.architecture, trained.classes, trained.sampling.kind.name, trained.input_size) == (arch, CLASSES, kind, SIZE)
    assert trained.sampling == Sampling(kind, **SAMPLING[arch])
    assert trained.store == STORE and trained.flow == (FLOW if arch == "two_stream" else None)


@pytest.mark.parametrize("clips, crops", [(1, 1), (2, 3)])
@pytest.mark.parametrize("arch", list(TINY))
def test_a_new_video_gets_exactly_the_input_evaluation_builds_from_the_store(arch, clips, crops, trained_dir, video, store):
    trained = load_trained(arch, trained_dir / arch)
    frames_pack, flow_pack, n, h, w = encode_new_video(trained, video)
    (row,) = read_manifest(store / "frames")
    assert (n, h, w) == (row["num_frames"], row["height"], row["width"]) == (N, 32, 43)
    assert frames_pack == (store / "frames" / row["frames"]).read_bytes()  # the extract stage's own encoder
    if arch == "two_stream":
        assert flow_pack == (store / "flow" / row["frames"]).read_bytes()  # the flow stage's own flow
    else:
        assert flow_pack is None

    new = video_inputs(trained, frames_pack, n, h, w, flow_pack, clips, crops)
    assert_same_input(new, store_inputs(trained, store, clips, crops))
    # ... and what evaluation's tf.data stream yields for the stored video
    source = Source(store / "frames", read_manifest(store / "frames"), store / "flow" if arch == "two_stream" else None)
    evaluated, label = next(iter(video_dataset(source, trained.sampling, input_size=SIZE, clips=clips, crops=crops)))
    assert int(label) == 0
    assert_same_input(new, evaluated)

    probs = predict_video(trained, video, clips, crops)
    expected = np.asarray(trained.model(new, training=False)).mean(axis=0)  # the mean over the video's examples
    assert probs.shape == (len(CLASSES),) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "arch, clips, crops, shape",
    [
        ("basic_cnn", 1, 1, (3, SIZE, SIZE, 3)),  # segments x clips x crops frames
        ("basic_cnn", 2, 3, (18, SIZE, SIZE, 3)),
        ("cnn_lstm", 1, 1, (1, 4, SIZE, SIZE, 3)),  # clips x crops clips of clip_len frames
        ("cnn_lstm", 2, 3, (6, 4, SIZE, SIZE, 3)),
        ("two_stream", 4, 1, (4, 4, SIZE, SIZE, 3)),
    ],
)
def test_views_make_clips_x_crops_examples(arch, clips, crops, shape, trained_dir, store):
    x = store_inputs(load_trained(arch, trained_dir / arch), store, clips, crops)
    rgb = x["rgb"] if isinstance(x, dict) else x
    assert rgb.shape == shape
    if arch == "two_stream":
        assert x["flow"].shape == (shape[0], 3, SIZE, SIZE, 2)


def test_test_views_are_the_right_frames(trained_dir, store):
    frames = store_inputs(load_trained("basic_cnn", trained_dir / "basic_cnn"), store, clips=2)
    # 2 x 3 = 6 frames at the centres of 6 equal segments of 16 frames
    assert frame_indices(frames, store).tolist() == [1, 4, 6, 9, 12, 14]
    clip = load_trained("cnn_lstm", trained_dir / "cnn_lstm")
    centre = store_inputs(clip, store)  # one clip: the centre window of span (4 - 1) * 2 + 1 = 7
    assert frame_indices(centre, store).tolist() == [[4, 6, 8, 10]]
    ends = store_inputs(clip, store, clips=2)  # two clips: from frame 0, and ending at the last frame
    assert frame_indices(ends, store).tolist() == [[0, 2, 4, 6], [9, 11, 13, 15]]
    # write_video's brightness, 4*i, within the codecs' loss
    np.testing.assert_allclose(np.median(ends[..., -8:, -8:, :], axis=(2, 3, 4)), 4 * np.array([[0, 2, 4, 6], [9, 11, 13, 15]]), atol=3)
    # three crops along the long side (43 px): at 0, at the centre (the single crop) and at 19
    three = store_inputs(clip, store, clips=2, crops=3)
    assert three.shape[0] == 6
    np.testing.assert_array_equal(three[2:4], ends)
    for crop, left in ((0, 0), (1, 9), (2, 19)):
        assert frame_indices(three[2 * crop : 2 * crop + 2], store, left=left).tolist() == [[0, 2, 4, 6], [9, 11, 13, 15]]
    assert not np.array_equal(three[0:2], three[2:4]) and not np.array_equal(three[4:6], three[2:4])


def test_two_stream_flow_is_centred_on_the_clip(trained_dir, store):
    trained = load_trained("two_stream", trained_dir / "two_stream")
    x = store_inputs(trained, store)
    (row,) = read_manifest(store / "frames")
    fields = unpack_flow((store / "flow" / row["frames"]).read_bytes()).astype(np.float32)
    # the centre clip starts at frame 4 and spans 7 frames: its centre is frame 7, fields 6, 7, 8 around it
    np.testing.assert_array_equal(x["flow"][0], fields[6:9, 4:28, 9:33])


def test_given_flow_is_used_as_is(trained_dir, video):
    trained = load_trained("two_stream", trained_dir / "two_stream")
    frames_pack, _, n, h, w = encode_new_video(trained, video)
    still = pack_flow(np.full((n - 1, h, w, 2), ZERO, np.uint8), 90)
    x = video_inputs(trained, frames_pack, n, h, w, still)
    np.testing.assert_array_equal(x["flow"], np.full((1, 3, SIZE, SIZE, 2), ZERO, np.float32))
    with pytest.raises(PipelineError, match="optical flow"):
        video_inputs(trained, frames_pack, n, h, w)


def test_unreadable_video_raises(trained_dir, broken, tmp_path):
    trained = load_trained("basic_cnn", trained_dir / "basic_cnn")
    truncated = tmp_path / "cut.avi"
    data = write_video(tmp_path / "whole.avi", 40).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path, reason in (
        (broken[0], "empty file"),
        (broken[1], "cannot open"),
        (truncated, "truncated"),
        (tmp_path / "nope.avi", "not found"),
    ):
        with pytest.raises(UnreadableVideo, match=reason) as err:
            predict_video(trained, path)
        assert str(path) in str(err.value)


def test_top_k_is_best_first(trained_dir):
    trained = load_trained("basic_cnn", trained_dir / "basic_cnn")
    assert top_k(trained, np.array([0.2, 0.5, 0.3], np.float32), 2) == [("Beta", 0.5), ("Gamma", pytest.approx(0.3))]
    assert len(top_k(trained, np.array([0.2, 0.5, 0.3]), 10)) == 3


def test_load_errors_name_the_fix(trained_dir, tmp_path):
    with pytest.raises(PipelineError, match=r"dvc repro train@conv3d") as err:
        load_trained("conv3d", trained_dir / "conv3d")
    assert str(trained_dir / "conv3d") in str(err.value)
    with pytest.raises(ParamError) as err:
        load_trained("nope", trained_dir / "nope")
    assert all(name in str(err.value) for name in models.ARCHITECTURES)
    with pytest.raises(ParamError, match="one of basic_cnn"):
        load_trained("ensemble", trained_dir / "ensemble")
    shutil.copytree(trained_dir / "basic_cnn", tmp_path / "basic_cnn")
    (tmp_path / "basic_cnn" / "model.keras").unlink()
    with pytest.raises(PipelineError, match=r"model\.keras.*dvc repro train@basic_cnn"):
        load_trained("basic_cnn", tmp_path / "basic_cnn")


def old_format(models_dir: Path, trained_dir: Path, arch: str = "basic_cnn") -> Path:
    """A model directory whose classes.json predates the dense store (frames/size, no sampling)."""
    shutil.copytree(trained_dir / arch, models_dir / arch)
    write_json(models_dir / arch / "classes.json", {"classes": CLASSES, "input": models.get(arch).INPUT, "frames": 4, "size": [32, 24]})
    return models_dir


def test_old_classes_json_without_sampling_says_to_retrain(trained_dir, tmp_path):
    old_format(tmp_path, trained_dir)
    with pytest.raises(PipelineError, match=r"older version.*rerun `dvc repro train@basic_cnn`") as err:
        load_trained("basic_cnn", tmp_path / "basic_cnn")
    assert str(tmp_path / "basic_cnn") in str(err.value)


def test_an_unknown_input_kind_in_classes_json_names_the_file(trained_dir, tmp_path):
    shutil.copytree(trained_dir / "basic_cnn", tmp_path / "basic_cnn")
    meta = json.loads((tmp_path / "basic_cnn" / "classes.json").read_text())
    write_json(tmp_path / "basic_cnn" / "classes.json", {**meta, "input": "audio"})
    with pytest.raises(PipelineError, match=r"classes.json: input 'audio' is none of frames, clip, clip\+flow.*dvc repro train@basic_cnn"):
        load_trained("basic_cnn", tmp_path / "basic_cnn")


def test_more_classes_than_outputs_says_to_retrain(trained_dir, tmp_path):
    shutil.copytree(trained_dir / "basic_cnn", tmp_path / "basic_cnn")
    meta = json.loads((tmp_path / "basic_cnn" / "classes.json").read_text())
    write_json(tmp_path / "basic_cnn" / "classes.json", {**meta, "classes": [*CLASSES, "Delta"]})
    with pytest.raises(PipelineError, match=r"3 outputs but classes.json lists 4 classes.*dvc repro train@basic_cnn"):
        load_trained("basic_cnn", tmp_path / "basic_cnn")


def test_two_stream_without_recorded_flow_settings_needs_the_flow(trained_dir, video, store, tmp_path):
    shutil.copytree(trained_dir / "two_stream", tmp_path / "two_stream")
    meta = json.loads((tmp_path / "two_stream" / "classes.json").read_text())
    del meta["flow"]
    write_json(tmp_path / "two_stream" / "classes.json", meta)
    trained = load_trained("two_stream", tmp_path / "two_stream")
    with pytest.raises(PipelineError, match=r"dvc repro train@two_stream"):
        predict_video(trained, video)
    assert predict_inputs(trained, store_inputs(trained, store)).shape == (3,)  # given the flow, it still predicts


# --- the CLI ------------------------------------------------------------------------------


def cli(*args: str, command: tuple[str, ...] = (sys.executable, "-m", "stages.predict"), cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_cli_prints_top_k_per_video(trained_dir, video):
    result = cli("--model", "cnn_lstm", "--top-k", "2", "--clips", "2", "--crops", "3", "--models-dir", trained_dir, video, video)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and lines[0] == lines[3] == str(video)
    trained = load_trained("cnn_lstm", trained_dir / "cnn_lstm")
    expected = top_k(trained, predict_video(trained, video, clips=2, crops=3), 2)
    for line, (name, prob) in zip(lines[1:3], expected):
        assert line.split() == [f"{prob:.3f}", name]
    assert lines[4:6] == lines[1:3]


def test_cli_answer_comes_without_tensorflows_start_up_lines(trained_dir, video):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    command = [sys.executable, "-m", "stages.predict", "--model", "basic_cnn", "--models-dir", str(trained_dir), str(video)]
    result = subprocess.run(command, cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(video)
    for noise in ("absl::InitializeLog", "oneDNN", "cpu_feature_guard"):
        assert noise not in result.stderr, result.stderr


def test_the_start_up_filter_keeps_every_other_line(capfd):
    from actionrec.cli import run_filtering_stderr

    def noisy_import():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796213986.733592    5483 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1796213986.733592    5483 cuda_dnn.cc:8] a real error\n")
        print("a Python warning", file=sys.stderr)

    run_filtering_stderr(noisy_import)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["E0000 00:00:1796213986.733592    5483 cuda_dnn.cc:8] a real error", "a Python warning"]


def test_cli_json_reports_broken_videos_and_still_predicts_the_others(trained_dir, video, broken, tmp_path):
    empty, text = broken
    # run where there is no params.yaml: one centre view
    result = cli("--model", "basic_cnn", "--json", "--top-k", "3", "--models-dir", trained_dir, empty, video, text, cwd=tmp_path)
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [e["video"] for e in entries] == [str(empty), str(video), str(text)]
    assert "empty file" in entries[0]["error"] and "predictions" not in entries[0]
    assert "cannot open" in entries[2]["error"] and "predictions" not in entries[2]
    predictions = entries[1]["predictions"]
    assert sorted(p["class"] for p in predictions) == sorted(CLASSES)
    probs = [p["probability"] for p in predictions]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, rel=1e-5)
    expected = predict_video(load_trained("basic_cnn", trained_dir / "basic_cnn"), video)
    assert {p["class"]: p["probability"] for p in predictions} == pytest.approx(dict(zip(CLASSES, expected.tolist())), rel=1e-5)
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
    result = cli("--model", "ensemble", "--models-dir", trained_dir, video, command=command)
    assert result.returncode == 2 and "predict with a member" in result.stderr and "Traceback" not in result.stderr


def test_cli_missing_model_names_the_command_that_makes_it(tmp_path, video):
    result = cli("--model", "conv3d", "--models-dir", tmp_path / "models", video)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dvc repro train@conv3d" in result.stderr and str(tmp_path / "models" / "conv3d") in result.stderr


def test_cli_old_model_says_to_retrain(trained_dir, video, tmp_path):
    result = cli("--model", "basic_cnn", "--models-dir", old_format(tmp_path / "models", trained_dir), video)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "older version" in result.stderr and "dvc repro train@basic_cnn" in result.stderr


# --clips / --crops, in process: how many examples reach the model for one video.


@pytest.mark.parametrize(
    "arch, argv, evaluate, examples",
    [
        ("basic_cnn", [], None, 3),  # no params.yaml: 1 x 1, times 3 segments
        ("basic_cnn", ["--clips", "2", "--crops", "3"], None, 18),  # clips x segments x crops
        ("basic_cnn", [], {"clips": 2, "crops": 3}, 18),  # the evaluate stage's views by default
        ("cnn_lstm", [], None, 1),
        ("cnn_lstm", [], {"clips": 3, "crops": 3}, 9),  # clips x crops
        ("cnn_lstm", ["--clips", "2"], {"clips": 3, "crops": 3}, 6),  # a flag overrides params.yaml
        ("cnn_lstm", ["--crops", "1"], {"clips": 3, "crops": 3}, 3),
        ("two_stream", ["--clips", "4"], {"batch_videos": 2}, 4),
    ],
)
def test_cli_clips_and_crops_set_the_number_of_examples(arch, argv, evaluate, examples, trained_dir, video, tmp_path, monkeypatch):
    from stages import predict as command

    monkeypatch.chdir(tmp_path)
    if evaluate is not None:
        (tmp_path / "params.yaml").write_text(json.dumps({"evaluate": evaluate}))
    seen = []

    def spy(trained, inputs):
        seen.append(inputs)
        return predict_inputs(trained, inputs)

    monkeypatch.setattr(inference, "predict_inputs", spy)
    results = command.predict(command.parse_args(["--model", arch, "--models-dir", str(trained_dir), *argv, str(video)]))
    assert [r["video"] for r in results] == [str(video)] and "predictions" in results[0]
    (inputs,) = seen
    rgb = inputs["rgb"] if isinstance(inputs, dict) else inputs
    assert rgb.shape[0] == examples
    if arch == "two_stream":
        assert inputs["flow"].shape[:2] == (examples, 3)


@pytest.mark.parametrize("argv", [["--clips", "0"], ["--crops", "2"], ["--top-k", "0"], ["--clips", "two"]])
def test_cli_rejects_bad_view_counts(argv, capsys):
    from stages import predict as command

    with pytest.raises(SystemExit) as err:
        command.parse_args(["--model", "basic_cnn", *argv, "v.avi"])
    assert err.value.code == 2 and argv[0] in capsys.readouterr().err
