"""The user workflow end to end on a tiny configuration, in a temporary copy of the repository:
`dvc repro` of the whole DAG, `dvc exp run -S model=...`, `dvc metrics diff`, `dvc plots show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_pipeline import commit, copy_repo, dvc, stages_run, tiny_params

import models
from actionrec.evaluate import entries

pytestmark = pytest.mark.slow

TINY_MODELS = {
    "basic_cnn": {"filters": 4, "blocks": 2},
    "vgg": {"filters": 4, "blocks": 2, "dense": 16},
    "cnn_lstm": {"filters": 4, "blocks": 2, "features": 8, "lstm_units": 8},
    "conv3d": {"filters": 4, "blocks": 2},
    "two_stream": {"filters": 4, "blocks": 2},
    "pretrained_cnn_lstm": {"features": 8, "lstm_units": 8},
}


def tiny_everything(params: dict) -> dict:
    params = tiny_params(params)
    for arch, settings in params["architectures"].items():
        settings.update(epochs=1, **TINY_MODELS.get(arch, {}))
    params["evaluate"]["latency_repeats"] = 2
    params["model"] = "cnn_lstm"
    return params


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("workflow") / "repo", tiny_everything)


def test_full_repro_then_model_switch_metrics_diff_and_plots(repo):
    out = dvc(repo, "repro")
    expected = {"select_model", "download", "extract", "flow", "pretrain", "visualize", "ensemble", "leaderboard", "report"}
    expected |= {f"train@{a}" for a in models.ARCHITECTURES} | {f"evaluate@{a}" for a in entries.SCORED}
    assert stages_run(out) == expected

    board = json.loads((repo / "metrics/leaderboard.json").read_text())
    assert set(board) == set(entries.SCORED)
    assert all(0 <= row["top1"] <= 1 and row["latency_ms"] > 0 for row in board.values())
    # Validation scores for all ten, the ensemble's from its members' validation predictions.
    assert all(0 <= row["val_top1"] <= 1 and "val_motion" in row for row in board.values())
    two_stream = json.loads((repo / "metrics/train/two_stream.json").read_text())
    assert two_stream["fusion_flow_weight"] in [round(0.1 * i, 1) for i in range(11)]
    selected = json.loads((repo / "metrics/selected.json").read_text())
    assert selected["model"] == "cnn_lstm" and selected["top1"] == board["cnn_lstm"]["top1"]
    assert stages_run(dvc(repo, "repro")) == set()
    commit(repo, "baseline")  # dvc.lock and the metrics: what `dvc metrics diff` compares against

    out = dvc(repo, "exp", "run", "-S", "model=conv3d")
    assert stages_run(out) <= {"select_model", "report"} and "report" in stages_run(out)
    selected = json.loads((repo / "metrics/selected.json").read_text())
    assert selected["model"] == "conv3d" and selected["top1"] == board["conv3d"]["top1"]
    diff = dvc(repo, "metrics", "diff", "--md")
    assert "metrics/selected.json" in diff, diff

    dvc(repo, "plots", "show", "-o", "plots_html")
    html = (repo / "plots_html" / "index.html").read_text()
    # dvc names each plot's element after its path ("plots/x/y.csv" -> id "plots_x_y_csv").
    for arch in entries.SCORED:
        assert f'id = "plots_evaluate_{arch}_confusion_csv"' in html, arch
        assert f'id = "plots_evaluate_{arch}_roc_csv"' in html, arch
        assert f"{arch} confusion matrix (test videos)" in html, arch
    assert 'id = "plots_leaderboard_leaderboard_csv"' in html and "dvclive/conv3d/plots/metrics" in html
    static = {p.name for p in (repo / "plots_html" / "static").iterdir()}
    for png in ("confusion.png", "roc.png", "per_class_accuracy.png"):
        assert any(name.endswith(f"evaluate_two_stream_{png}") for name in static), png


def test_unknown_model_fails_at_once_listing_the_valid_names(repo):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "exp", "run", "-S", "model=twostream"], cwd=repo, env=env, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "twostream" in output and all(name in output for name in entries.SCORED), output
    assert stages_run(output) == {"select_model"}, output  # nothing else was attempted
    assert time.monotonic() - started < 120


def test_report_of_one_model_on_a_fresh_checkout_builds_only_what_it_needs(tmp_path):
    root = copy_repo(tmp_path / "repo", tiny_everything)
    out = dvc(root, "exp", "run", "-S", "model=conv3d", "report")
    assert stages_run(out) == {"select_model", "download", "extract", "pretrain", "train@conv3d", "evaluate@conv3d", "report"}
    assert json.loads((root / "metrics/selected.json").read_text())["model"] == "conv3d"
