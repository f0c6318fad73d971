"""Evaluation outputs, the ensemble, the leaderboard and the report, on files written by the test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_dataset, save_tiny_model
from tiny import FLOW, SAMPLING, STORE, TINY

import models
from actionrec import config
from actionrec.data import ucf101
from actionrec.errors import DataError, ParamError, PipelineError
from actionrec.evaluate import ensemble, entries, evaluation, reporting
from actionrec.evaluate.evaluation import EvaluationPaths
from actionrec.evaluate.predictions import Predictions
from actionrec.io import write_json
from actionrec.pipeline import stage_argv

# The layout dvc.yaml gives the stages (relative to a test's project directory).
FRAMES, FLOW_STORE, MODELS = Path("data/frames"), Path("data/flow"), Path("data/models")
PREDICTIONS, TRAIN_METRICS, TEST_METRICS, PLOTS = (
    Path("data/predictions"),
    Path("metrics/train"),
    Path("metrics/evaluate"),
    Path("plots/evaluate"),
)
KINDS = {"Rising": "motion", "Falling": "motion", "Triangle": "appearance"}

CLASSES = list(KINDS)
VIDEOS = ["Rising/v_Rising_g01_c01.avi", "Falling/v_Falling_g01_c01.avi", "Triangle/v_Triangle_g01_c01.avi", "Rising/v_Rising_g02_c01.avi"]
LABELS = np.array([0, 1, 2, 0])


def predictions(probs) -> Predictions:
    return Predictions(list(VIDEOS), LABELS.copy(), np.asarray(probs, dtype=np.float64), list(CLASSES))


A = predictions([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])  # top-1 3/4
B = predictions([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.1, 0.8, 0.1]])  # top-1 2/4


def paths_of(name: str) -> EvaluationPaths:
    return EvaluationPaths(FRAMES, FLOW_STORE, MODELS / name, PREDICTIONS / f"{name}.csv", TEST_METRICS / f"{name}.json", PLOTS / name)


def build_ensemble(params: dict) -> dict:
    return ensemble.build(
        config.check(config.Ensemble, params["ensemble"], "ensemble"),
        predictions=PREDICTIONS,
        models_dir=MODELS,
        trained=TRAIN_METRICS,
        evaluated=TEST_METRICS,
        frames=FRAMES,
        out=MODELS / "ensemble",
    )


def test_predictions_round_trip_and_malformed_files(tmp_path):
    A.write(tmp_path / "a.csv")
    back = Predictions.read(tmp_path / "a.csv")
    assert back.videos == VIDEOS and back.classes == CLASSES
    np.testing.assert_array_equal(back.labels, LABELS)
    np.testing.assert_allclose(back.probabilities, A.probabilities)

    (tmp_path / "bad.csv").write_text("name,score\nx,1\n")
    with pytest.raises(DataError, match="bad.csv: not a predictions file"):
        Predictions.read(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("video,label,a,b\nv1,0,0.5\n")
    with pytest.raises(DataError, match="short.csv"):
        Predictions.read(tmp_path / "short.csv")
    with pytest.raises(PipelineError, match=r"dvc repro evaluate@conv3d"):
        Predictions.read(tmp_path / "conv3d.csv")


def test_score_reports_motion_and_appearance_accuracy():
    headline, report = evaluation.score("conv3d", "clip", A, KINDS, example_accuracy=0.7, parameters=123, latency_ms=4.56789)
    assert headline["top1"] == pytest.approx(0.75)
    # Rising x2 right, Falling wrong (predicted Rising): motion 2/3; Triangle right: appearance 1/1.
    assert headline["accuracy_motion"] == pytest.approx(2 / 3)
    assert headline["accuracy_appearance"] == pytest.approx(1.0)
    assert headline["input"] == "clip" and headline["parameters"] == 123 and headline["latency_ms"] == 4.568
    assert report["worst_confusions"][0] == {"true": "Falling", "predicted": "Rising", "count": 1, "rate": 1.0}
    assert report["kinds"]["Triangle"] == "appearance"


def test_score_without_class_kinds_has_no_kind_accuracy():
    other = Predictions(VIDEOS, LABELS, A.probabilities, ["a", "b", "c"])
    headline, report = evaluation.score("vgg", "frames", other, None, example_accuracy=None, parameters=1, latency_ms=1.0)
    assert not any(k.startswith("accuracy_") for k in headline) and report["kinds"] is None


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A project-like cwd: evaluated members with their train and evaluate metrics, and the store's description."""
    monkeypatch.chdir(tmp_path)
    for arch, pred, val, params, latency in (("cnn_lstm", A, 0.75, 100, 2.0), ("conv3d", B, 0.25, 50, 3.0)):
        pred.write(PREDICTIONS / f"{arch}.csv")
        write_json(TRAIN_METRICS / f"{arch}.json", {"val_video_accuracy": val, "parameters": params, "train_seconds": 10.0})
        pred.write(MODELS / arch / "val_predictions.csv")  # the same videos stand in for validation
        write_json(TEST_METRICS / f"{arch}.json", {"latency_ms": latency})
    write_json(FRAMES / "store.json", {"format": "jpeg-pack", "classes": CLASSES, "class_kinds": KINDS})
    return tmp_path


def test_weighted_ensemble_uses_validation_accuracy(workdir):
    summary = build_ensemble({"ensemble": {"members": ["cnn_lstm", "conv3d"], "method": "weighted"}})
    combined = Predictions.read(MODELS / "ensemble" / "predictions.csv")
    np.testing.assert_allclose(combined.probabilities, 0.75 * A.probabilities + 0.25 * B.probabilities, atol=1e-6)
    assert summary["weights"] == {"cnn_lstm": 0.75, "conv3d": 0.25}
    assert summary["parameters"] == 150 and summary["latency_ms"] == 5.0
    # Its own validation score: the same weighting of the members' validation predictions.
    expected = np.mean((0.75 * A.probabilities + 0.25 * B.probabilities).argmax(1) == A.labels)
    assert summary["val_video_accuracy"] == pytest.approx(expected) and "val_accuracy_motion" in summary

    build_ensemble({"ensemble": {"members": ["cnn_lstm", "conv3d"], "method": "mean"}})
    combined = Predictions.read(MODELS / "ensemble" / "predictions.csv")
    np.testing.assert_allclose(combined.probabilities, (A.probabilities + B.probabilities) / 2, atol=1e-6)


@pytest.mark.parametrize(
    "members, method, key",
    [
        (["cnn_lstm", "c3d"], "mean", "ensemble.members"),
        (["cnn_lstm", "ensemble"], "mean", "ensemble.members"),
        (["cnn_lstm", "cnn_lstm"], "mean", "ensemble.members"),
        ([], "mean", "ensemble.members"),
        (["cnn_lstm", "conv3d"], "median", "ensemble.method"),
    ],
)
def test_bad_ensemble_params_name_the_key(workdir, members, method, key):
    with pytest.raises(ParamError, match=key):
        build_ensemble({"ensemble": {"members": members, "method": method}})


def test_ensemble_of_members_scored_on_other_videos_fails(workdir):
    Predictions(VIDEOS[::-1], LABELS, B.probabilities, CLASSES).write(PREDICTIONS / "conv3d.csv")
    with pytest.raises(DataError, match="conv3d.csv: other videos"):
        build_ensemble({"ensemble": {"members": ["cnn_lstm", "conv3d"], "method": "mean"}})


def test_ensemble_member_not_evaluated_names_the_stage(workdir):
    with pytest.raises(PipelineError, match=r"dvc repro evaluate@vgg"):
        build_ensemble({"ensemble": {"members": ["cnn_lstm", "vgg"], "method": "mean"}})


def test_the_ensemble_is_scored_and_ranked_but_is_not_a_model(workdir):
    assert entries.SCORED == (*models.ARCHITECTURES, "ensemble") and entries.check_scored("ensemble") == "ensemble"
    with pytest.raises(ParamError, match="one of basic_cnn"):
        models.get("ensemble")
    with pytest.raises(ParamError, match=r"'architecture': 'ensemble2'.*two_stream, ensemble"):
        entries.check_scored("ensemble2", "architecture")


def test_evaluating_the_ensemble_scores_its_combined_test_predictions(workdir, monkeypatch):
    build_ensemble({"ensemble": {"members": ["cnn_lstm", "conv3d"], "method": "mean"}})
    monkeypatch.setattr(evaluation, "test_rows", lambda store: [{"video": v} for v in VIDEOS])
    headline = ensemble.evaluate(paths_of("ensemble"))
    assert (headline["architecture"], headline["input"], headline["test_videos"]) == ("ensemble", "predictions", 4)
    assert headline["parameters"] == 150 and headline["latency_ms"] == 5.0 and headline["example_accuracy"] is None
    combined = (A.probabilities + B.probabilities) / 2
    assert headline["top1"] == pytest.approx(np.mean(combined.argmax(1) == LABELS))
    assert headline["accuracy_motion"] == pytest.approx(np.mean(combined.argmax(1)[[0, 1, 3]] == LABELS[[0, 1, 3]]))
    assert Predictions.read(PREDICTIONS / "ensemble.csv").videos == VIDEOS
    monkeypatch.setattr(evaluation, "test_rows", lambda store: [{"video": v} for v in VIDEOS[:3]])
    with pytest.raises(DataError, match="predictions.csv: its videos are not the test split of data/frames"):
        ensemble.evaluate(paths_of("ensemble"))


# --- combining members -------------------------------------------------------------------------

PA = np.array([[0.2, 0.8], [0.6, 0.4]])
PB = np.array([[0.4, 0.6], [1.0, 0.0]])


def test_ensemble_combines_member_probabilities():
    np.testing.assert_allclose(ensemble.combine([PA, PB]), [[0.3, 0.7], [0.8, 0.2]])
    np.testing.assert_allclose(ensemble.combine([PA, PB], "weighted", [3, 1]), [[0.25, 0.75], [0.7, 0.3]])
    np.testing.assert_allclose(ensemble.combine([PA, PB], "weighted", [0.9, 0.0]), PA)
    np.testing.assert_allclose(ensemble.combine([PA]), PA)


@pytest.mark.parametrize(
    "args, key",
    [
        (([],), "ensemble.members"),
        (([PA, PB[:1]],), "ensemble.members"),
        (([PA, PB], "median"), "ensemble.method"),
        (([PA, PB], "weighted"), "ensemble.weights"),
        (([PA, PB], "weighted", [1.0]), "ensemble.weights"),
        (([PA, PB], "weighted", [1.0, -0.5]), "ensemble.weights"),
        (([PA, PB], "weighted", [0, 0]), "ensemble.weights"),
    ],
)
def test_ensemble_errors(args, key):
    with pytest.raises(ParamError) as err:
        ensemble.combine(*args)
    assert err.value.key == key


# --- scoring a trained model on the frame store ------------------------------------------------

EVALUATE = {"batch_videos": 4, "clips": 2, "crops": 3, "latency_repeats": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project directory with data/frames and data/flow (6 test videos) and tiny untrained models."""
    from actionrec.data.flow import build_flow_store
    from actionrec.data.framestore import extract

    root = tmp_path_factory.mktemp("project")
    make_dataset(root / "raw", classes=CLASSES, groups=2, n_frames=10)  # groups 1 and 2: all test videos of split 1
    ucf101.write_class_kinds(root / "raw" / ucf101.LISTS_DIR, KINDS)  # the store carries them to scoring
    extract(root / "raw", root / FRAMES, split=1, **STORE, workers=1, strict=True)
    build_flow_store(root / FRAMES, root / FLOW_STORE, **FLOW, workers=1)
    for arch in SAMPLING:
        save_tiny_model(
            root / MODELS,
            arch,
            CLASSES,
            input_size=24,
            sampling=SAMPLING[arch],
            store=STORE,
            flow=FLOW if arch == "two_stream" else None,
            params=TINY[arch],
        )
    return root


def per_video(trained, row, clips, crops):
    """A video's examples through the single-video path (what predict uses), and the model's outputs on them."""
    from actionrec.evaluate.inference import video_inputs

    flow = (FLOW_STORE / row["frames"]).read_bytes() if trained.sampling.flow_stack else None
    x = video_inputs(trained, (FRAMES / row["frames"]).read_bytes(), row["num_frames"], row["height"], row["width"], flow, clips, crops)
    return np.asarray(trained.model.predict_on_batch(x), np.float64)


@pytest.mark.parametrize("arch", list(SAMPLING))
def test_predict_test_is_one_row_per_video_the_mean_over_its_views(arch, project, monkeypatch):
    from actionrec.data.inputs import Source
    from actionrec.evaluate.inference import load_trained

    monkeypatch.chdir(project)
    trained = load_trained(arch, MODELS / arch)
    rows = evaluation.test_rows(FRAMES)
    assert len(rows) == 6
    source = Source.of(FRAMES, paths_of(arch).flow, rows, trained.sampling)
    pred, example_accuracy = evaluation.predict_test(trained, source, batch_videos=4, clips=2, crops=3)  # batches of 4 and 2
    assert pred.videos == [r["video"] for r in rows] and pred.classes == CLASSES
    np.testing.assert_array_equal(pred.labels, [r["label"] for r in rows])
    assert pred.probabilities.shape == (6, len(CLASSES))
    np.testing.assert_allclose(pred.probabilities.sum(axis=1), 1.0, rtol=1e-5)

    outputs = [per_video(trained, row, 2, 3) for row in rows]
    assert all(len(o) == trained.sampling.examples_per_video(2, 3) for o in outputs)  # 18 frames or 6 clips
    np.testing.assert_allclose(pred.probabilities, [o.mean(axis=0) for o in outputs], rtol=1e-4, atol=1e-6)
    correct = np.concatenate([o.argmax(axis=1) == row["label"] for o, row in zip(outputs, rows)])
    assert example_accuracy == pytest.approx(correct.mean())

    one_by_one, _ = evaluation.predict_test(trained, source, batch_videos=1, clips=2, crops=3)
    np.testing.assert_allclose(one_by_one.probabilities, pred.probabilities, rtol=1e-4, atol=1e-6)
    centre, _ = evaluation.predict_test(trained, source, batch_videos=4)  # default: one centre view
    np.testing.assert_allclose(centre.probabilities, [per_video(trained, r, 1, 1).mean(axis=0) for r in rows], rtol=1e-4, atol=1e-6)


def test_evaluate_scores_a_trained_model_on_the_store(project, monkeypatch):
    monkeypatch.chdir(project)
    headline = evaluation.evaluate("basic_cnn", config.Evaluate(**EVALUATE), paths_of("basic_cnn"))
    written = Predictions.read(PREDICTIONS / "basic_cnn.csv")
    assert written.videos == [r["video"] for r in evaluation.test_rows(FRAMES)] and written.probabilities.shape == (6, 3)
    assert json.loads((TEST_METRICS / "basic_cnn.json").read_text()) == headline
    assert headline["accuracy_motion"] is not None and headline["accuracy_appearance"] is not None  # the store's class kinds
    assert (headline["architecture"], headline["input"], headline["test_videos"]) == ("basic_cnn", "frames", 6)
    assert 0 <= headline["example_accuracy"] <= 1 and headline["latency_ms"] > 0 and headline["parameters"] > 0
    assert (project / PLOTS / "basic_cnn" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_a_model_trained_on_another_store(project, monkeypatch, tmp_path):
    monkeypatch.chdir(project)
    models_dir = tmp_path / "models"
    shutil.copytree(project / MODELS / "cnn_lstm", models_dir / "cnn_lstm")
    paths = EvaluationPaths(**{**vars(paths_of("cnn_lstm")), "model": models_dir / "cnn_lstm"})
    meta = json.loads((models_dir / "cnn_lstm" / "classes.json").read_text())
    write_json(models_dir / "cnn_lstm" / "classes.json", {**meta, "store": {**STORE, "short_side": 64}})
    with pytest.raises(DataError, match=r"trained on a frame store built with .*short_side.: 64.*rerun `dvc repro train@cnn_lstm`"):
        evaluation.evaluate("cnn_lstm", config.Evaluate(**EVALUATE), paths)
    write_json(models_dir / "cnn_lstm" / "classes.json", {**meta, "classes": ["Falling", "Rising", "Triangle"]})
    with pytest.raises(DataError, match=r"other classes.*dvc repro train@cnn_lstm"):
        evaluation.evaluate("cnn_lstm", config.Evaluate(**EVALUATE), paths)
    assert not (project / PREDICTIONS / "cnn_lstm.csv").exists()


def test_evaluation_settings_read_the_views():
    assert config.check(config.Evaluate, EVALUATE, "evaluate").model_dump() == EVALUATE
    assert (config.Evaluate().clips, config.Evaluate().crops) == (1, 1)  # one centre view where params.yaml says nothing


@pytest.mark.parametrize(
    "key, value",
    [("crops", 2), ("crops", "three"), ("crops", True), ("clips", 0), ("clips", 1.5), ("batch_videos", 0), ("latency_repeats", True)],
)
def test_bad_evaluation_settings_name_the_key(key, value):
    with pytest.raises(ParamError, match=rf"'evaluate\.{key}': {value!r}"):
        config.check(config.Evaluate, {**EVALUATE, key: value}, "evaluate")


def fake_evaluations(skip: str | None = None) -> None:
    for i, arch in enumerate(entries.SCORED):
        if arch == skip:
            continue
        write_json(
            TEST_METRICS / f"{arch}.json",
            {
                "architecture": arch,
                "input": ensemble.INPUT if arch == entries.ENSEMBLE else models.get(arch).INPUT,
                "top1": i / 10,
                "top5": 0.9,
                "macro_f1": i / 11,
                "auc_macro": 0.8,
                "accuracy_motion": 0.5,
                "accuracy_appearance": 0.6,
                "parameters": 1000 + i,
                "latency_ms": 1.5,
            },
        )
        if arch != "ensemble":
            write_json(TRAIN_METRICS / f"{arch}.json", {"train_seconds": 10.0 + i})
    write_json(MODELS / "ensemble" / "ensemble.json", {"members": ["basic_cnn", "vgg"]})


def leaderboard_rows() -> list[dict]:
    return reporting.leaderboard_rows(trained=TRAIN_METRICS, evaluated=TEST_METRICS, ensemble_dir=MODELS / "ensemble")


def test_leaderboard_holds_exactly_the_ten_architectures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_evaluations()
    rows = leaderboard_rows()
    assert sorted(r["architecture"] for r in rows) == sorted(entries.SCORED)
    assert [r["top1"] for r in rows] == sorted((r["top1"] for r in rows), reverse=True)
    assert next(r for r in rows if r["architecture"] == "ensemble")["train_seconds"] == 10.0 + 11.0  # its members'
    reporting.write_leaderboard(rows, out=Path("plots/leaderboard"), metrics_file=Path("metrics/leaderboard.json"))
    table = (tmp_path / "plots/leaderboard/leaderboard.md").read_text().splitlines()
    assert len(table) == 2 + 10 and table[2].split("|")[1].strip() == "ensemble"
    header, rule = [cell.strip() for cell in table[0].split("|")[1:-1]], table[1].split("|")[1:-1]
    assert header[:3] == ["architecture", "input", "top1"] and rule[0].startswith(":") and rule[2].endswith(":")  # text left, numbers right
    assert (tmp_path / "plots/leaderboard/leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(json.loads((tmp_path / "metrics/leaderboard.json").read_text())) == set(entries.SCORED)


def test_leaderboard_with_a_missing_evaluation_names_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_evaluations(skip="two_stream")
    with pytest.raises(PipelineError, match=r"metrics/evaluate/two_stream.json: not found \(run `dvc repro evaluate@two_stream`\)"):
        leaderboard_rows()


def test_report_of_the_selected_model(workdir):
    headline, report = evaluation.score("cnn_lstm", "clip", A, KINDS, example_accuracy=0.7, parameters=100, latency_ms=2.0)
    write_json(TEST_METRICS / "cnn_lstm.json", headline)
    write_json(PLOTS / "cnn_lstm" / "report.json", report)
    history = [{"epoch": e, "loss": 1 / e, "accuracy": e / 3, "val_loss": 1.2 / e, "val_accuracy": e / 4} for e in (1, 2, 3)]
    write_json(MODELS / "cnn_lstm" / "history.json", history)
    selected = reporting.write_report(
        "cnn_lstm",
        model_dir=MODELS / "cnn_lstm",
        predictions=PREDICTIONS / "cnn_lstm.csv",
        test_metrics=TEST_METRICS / "cnn_lstm.json",
        report=PLOTS / "cnn_lstm" / "report.json",
        out=Path("plots/selected"),
        metrics_file=Path("metrics/selected.json"),
    )
    assert selected["model"] == "cnn_lstm" and selected["top1"] == pytest.approx(0.75)
    assert json.loads((workdir / "metrics/selected.json").read_text()) == selected
    out = workdir / "plots/selected"
    for name in ("training_curves.png", "confusion.png", "roc.png", "per_class_accuracy.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]] for line in (out / "report.md").read_text().splitlines() if line.startswith("|")
    ]
    assert ["Falling", "Rising", "1", "1.00"] in rows
    assert (out / "worst_confusions.csv").read_text().splitlines()[1] == "Falling,Rising,1,1.0"


def test_select_model_rejects_an_unknown_name_listing_the_valid_ones(tmp_path):
    params = (REPO / "params.yaml").read_text().replace("\nmodel: ensemble", "\nmodel: twostream")
    assert "model: twostream" in params
    (tmp_path / "params.yaml").write_text(params)
    result = subprocess.run(
        [sys.executable, *stage_argv("select_model")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "model" in result.stderr and "twostream" in result.stderr
    assert all(name in result.stderr for name in entries.SCORED)
    assert not (tmp_path / "data/selected.json").exists()
