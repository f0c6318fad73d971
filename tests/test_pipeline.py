"""End to end: the real `dvc repro` on the data stages, in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, make_dataset
from tiny import shrink_inputs

from actionrec.data.flow import unpack_flow
from actionrec.data.framestore import load_frames, read_manifest
from actionrec.pipeline import stage_argv

pytestmark = pytest.mark.slow


def top_level_ignore(root: Path, *top: str, anywhere: tuple[str, ...] = ()):
    """A copytree ignore for copying ``root``: the ``top`` names only in ``root`` itself (actionrec/data/
    is code, data/ is output); Python caches and ``anywhere`` at any depth."""
    anywhere = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info", *anywhere)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return set(anywhere(directory, names)) | ({n for n in names if n in top} if Path(directory) == Path(root) else set())

    return ignore


COPY_IGNORE = top_level_ignore(REPO, ".venv", ".git", "data", "dvclive", anywhere=("cache", "tmp"))  # .dvc/cache, .dvc/tmp


def tiny_params(params: dict) -> dict:
    # Split 1 tests groups 1-7: groups 8-10 train (one of them held out for validation).
    params["data"]["synthetic"].update(groups=10, clips_per_group=1, frames=[8, 12], size=[64, 48])
    shrink_inputs(params)
    params["train"].update(epochs=2, batch_size=4, val_groups=1)
    for settings in params["architectures"].values():
        settings.pop("epochs", None)  # train.epochs for all
    params["architectures"]["basic_cnn"].update(filters=4, blocks=2)
    params["architectures"]["conv3d"].update(filters=4, blocks=2)
    params["visualize"]["samples_per_class"] = 2
    return params


def copy_repo(root: Path, change, before_commit=None) -> Path:
    """A committed git copy of the repository at ``root``: no data, no dvc.lock, params changed."""
    shutil.copytree(REPO, root, ignore=COPY_IGNORE)
    (root / "data").mkdir()
    shutil.copy(REPO / "data" / ".gitignore", root / "data" / ".gitignore")
    (root / "dvc.lock").unlink(missing_ok=True)  # the lock records only what the copy runs
    edit_params(root, change)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    if before_commit:
        before_commit(root)
    commit(root, "copy")  # DVCLive and `dvc exp` need a commit
    return root


def commit(root: Path, message: str) -> None:
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("project") / "repo", tiny_params)


def edit_params(root: Path, change) -> None:
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(change(yaml.safe_load(path.read_text())), sort_keys=False))


def dvc(root: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", output))


def test_repro_data_stages_then_noop_then_partial(project):
    out = dvc(project, "repro", "extract", "flow", "visualize")
    assert stages_run(out) == {"download", "extract", "flow", "visualize"}

    raw = project / "data" / "raw"
    assert (raw / "ucfTrainTestlist" / "classInd.txt").is_file()
    store = json.loads((project / "data/frames/store.json").read_text())
    assert store["short_side"] == 32 and store["videos"] > 0 and store["frames"] >= 8 * store["videos"]
    assert json.loads((project / "data/frames/skipped.json").read_text()) == []
    row = read_manifest(project / "data/frames")[0]
    assert load_frames(project / "data/frames", row).shape == (row["num_frames"], 32, 43, 3)  # every frame, 4:3 kept
    flow = unpack_flow((project / "data/flow" / row["frames"]).read_bytes())
    assert flow.shape == (row["num_frames"] - 1, 32, 43, 2) and flow.dtype == np.uint8
    for png in ("samples.png", "class_distribution.png"):
        assert (project / "plots/dataset" / png).read_bytes()[:4] == b"\x89PNG"

    assert stages_run(dvc(project, "repro", "extract", "flow", "visualize")) == set()

    edit_params(project, lambda p: {**p, "frames": {**p["frames"], "short_side": 36}})
    assert stages_run(dvc(project, "repro", "extract", "flow", "visualize")) == {"extract", "flow", "visualize"}
    assert load_frames(project / "data/frames", row).shape == (row["num_frames"], 36, 48, 3)

    edit_params(project, lambda p: {**p, "flow": {**p["flow"], "bound": 10.0}})
    assert stages_run(dvc(project, "repro", "extract", "flow", "visualize")) == {"flow"}


def test_train_branch_reruns_only_for_its_own_params(project):
    out = dvc(project, "repro", "train@conv3d", "train@basic_cnn")
    assert {"train@conv3d", "train@basic_cnn"} <= stages_run(out)
    assert (project / "data/models/conv3d/model.keras").is_file()
    summary = json.loads((project / "metrics/train/conv3d.json").read_text())
    assert summary["architecture"] == "conv3d" and summary["epochs_run"] == 2 and summary["processes"] == 1
    assert (project / "dvclive/conv3d/plots/metrics").is_dir()

    edit_params(
        project,
        lambda p: {**p, "architectures": {**p["architectures"], "conv3d": {**p["architectures"]["conv3d"], "learning_rate": 0.002}}},
    )
    assert stages_run(dvc(project, "repro", "train@conv3d", "train@basic_cnn")) == {"train@conv3d"}


def test_unknown_source_fails_naming_valid_ones(project, tmp_path):
    bad = tmp_path / "repo"
    shutil.copytree(project, bad, ignore=top_level_ignore(project, "data"))
    edit_params(bad, lambda p: {**p, "data": {**p["data"], "source": "youtube"}})
    result = subprocess.run([sys.executable, *stage_argv("download")], cwd=bad, capture_output=True, text=True)
    assert result.returncode == 2
    assert "data.source" in result.stderr and "synthetic, ucf101, kaggle, folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_folder_source_with_broken_videos_skips_and_lists_them(project, tmp_path):
    """A real folder: zero-byte, truncated and text-as-.avi files are skipped by `extract`, the rest kept."""
    folder = tmp_path / "my_videos"
    videos = make_dataset(folder, classes=("Alpha", "Beta"), groups=8, n_frames=20)
    broken = {
        "Alpha/v_Alpha_g01_c01.avi": "empty file",
        "Beta/v_Beta_g02_c01.avi": "truncated",
        "Beta/v_Beta_g03_c01.avi": "cannot open",
    }
    (folder / "Alpha/v_Alpha_g01_c01.avi").write_bytes(b"")
    truncated = folder / "Beta/v_Beta_g02_c01.avi"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size * 2 // 3])
    (folder / "Beta/v_Beta_g03_c01.avi").write_text("this is not a video\n")

    repo = tmp_path / "repo"
    shutil.copytree(project, repo, ignore=top_level_ignore(project, "data", ".dvc"))
    (repo / "data").mkdir()
    shutil.copy(REPO / "data" / ".gitignore", repo / "data" / ".gitignore")
    shutil.copytree(project / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    edit_params(repo, lambda p: {**p, "data": {**p["data"], "source": "folder", "path": str(folder)}})
    dvc(repo, "repro", "extract")

    skipped = {s["video"]: s["reason"] for s in json.loads((repo / "data/frames/skipped.json").read_text())}
    assert set(skipped) == set(broken)
    for video, reason in broken.items():
        assert reason in skipped[video], (video, skipped[video])
    rows = (repo / "data/frames/manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == len(videos) - len(broken)
    assert json.loads((repo / "data/frames/store.json").read_text())["skipped"] == len(broken)


def test_train_stage_with_two_horovod_processes_and_xla_through_dvc(project):
    """XLA forced on CPU (`auto` turns it on only with a GPU): the gradient allreduce must stay
    outside the compiled function, which has no HorovodAllreduce kernel."""
    edit_params(project, lambda p: {**p, "train": {**p["train"], "processes": 2, "hosts": "localhost:2", "xla": True}})
    try:
        assert "train@basic_cnn" in stages_run(dvc(project, "repro", "train@basic_cnn"))
        summary = json.loads((project / "metrics/train/basic_cnn.json").read_text())
        assert summary["processes"] == 2 and summary["ranks_in_sync"] is True and summary["xla"] is True
    finally:
        edit_params(project, lambda p: {**p, "train": {**p["train"], "processes": 1, "hosts": "localhost:1", "xla": "auto"}})
