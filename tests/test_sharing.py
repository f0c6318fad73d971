"""Shared storage and parallel experiments, for real, in a temporary copy of the repository:
a DVC remote on a local directory (`dvc push` here, `git clone` + `dvc pull` there, nothing
re-trains), and a learning-rate sweep with `dvc exp run --queue` + `dvc queue start -j 2`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_pipeline import commit, copy_repo, dvc, stages_run
from test_workflow import tiny_everything

pytestmark = pytest.mark.slow

QUEUE_TIMEOUT_S = 900  # generous: the machine may be shared; nothing asserts on time
SWEEP = (0.001, 0.003)
BASELINE_LR = 0.002


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A tiny copy with a local-directory remote, basic_cnn trained and dvc.lock committed."""
    base = tmp_path_factory.mktemp("sharing")
    # basic_cnn: 1 epoch, 4 filters, 2 blocks, and a committed learning rate outside the sweep
    # below, so that both queued experiments train; .dvc/config carries the remote.
    root = copy_repo(
        base / "origin",
        lambda p: set_baseline_lr(tiny_everything(p)),
        before_commit=lambda r: dvc(r, "remote", "add", "-d", "shared", str(base / "remote")),
    )
    out = dvc(root, "repro", "train@basic_cnn")
    assert stages_run(out) == {"download", "extract", "pretrain", "train@basic_cnn"}, out
    commit(root, "train basic_cnn")  # dvc.lock, metrics and DVCLive plots go to git
    return root


def set_baseline_lr(params: dict) -> dict:
    params["architectures"]["basic_cnn"]["learning_rate"] = BASELINE_LR
    return params


def md5_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push_then_clone_and_pull_restores_models_without_retraining(origin, tmp_path):
    dvc(origin, "push")
    assert "in sync" in dvc(origin, "status", "--cloud")
    assert any((origin.parent / "remote").rglob("*")), "nothing was pushed to the remote"

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    assert not (clone / "data/models/basic_cnn").exists()  # git carries no DVC outputs
    # The outputs of this stage and its upstream (a bare `dvc pull` also wants the stages never run here).
    dvc(clone, "pull", "--with-deps", "train@basic_cnn")

    status = dvc(clone, "status", "--with-deps", "train@basic_cnn")
    assert "Data and pipelines are up to date" in status, status
    assert "in sync" in dvc(clone, "status", "--cloud", "--with-deps", "train@basic_cnn")
    model = Path("data/models/basic_cnn/model.keras")
    assert (clone / model).is_file()
    assert (clone / model).read_bytes() == (origin / model).read_bytes()
    for folder in ("data/models/basic_cnn", "data/frames", "data/raw"):
        assert md5_tree(clone / folder) == md5_tree(origin / folder), folder

    assert stages_run(dvc(clone, "repro", "train@basic_cnn")) == set()  # no re-training


def dvc_unchecked(root: Path, *args: str, **kwargs) -> str:
    """`dvc ...` whose failure is returned, not raised (polling, diagnostics)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=root, env=env, text=True, **({"capture_output": True} | kwargs)
    )
    return (result.stdout or "") + (result.stderr or "")


def queue_states(root: Path, names: list[str]) -> dict[str, str]:
    """{name: Queued | Running | Success | Failed} from the task table of `dvc queue status`.

    Unchecked: with several workers, the worker-status part of the command can fail on a
    half-written message of DVC's file-system broker (a known race); the table comes first."""
    states = {}
    for line in dvc_unchecked(root, "queue", "status").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] in names:
            states[fields[1]] = fields[-1]
    return states


def exp_rows(root: Path) -> dict[str, dict]:
    """{experiment name: its `data` (params, metrics)} from `dvc exp show --json`."""
    rows = {}
    for baseline in json.loads(dvc(root, "exp", "show", "--json", "--no-fetch")):
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name"):
                    rows[rev["name"]] = rev.get("data") or {}
    return rows


def test_queued_learning_rate_sweep_runs_two_experiments_in_parallel(origin):
    values = ",".join(str(v) for v in SWEEP)
    out = dvc(origin, "exp", "run", "--queue", "-n", "lr", "-S", f"architectures.basic_cnn.learning_rate={values}", "train@basic_cnn")
    names = [f"lr-{i + 1}" for i in range(len(SWEEP))]  # a sweep named `lr` queues lr-1, lr-2
    assert out.count("Queued experiment") == len(SWEEP), out
    assert queue_states(origin, names) == {name: "Queued" for name in names}

    # The workers it starts inherit its stdout/stderr: a pipe would stay open until they exit.
    start_log = origin.parent / "queue_start.log"
    with start_log.open("w") as log:
        dvc_unchecked(origin, "queue", "start", "-j", "2", stdout=log, stderr=subprocess.STDOUT, capture_output=False)
    assert "Started '2' new experiments task queue workers" in start_log.read_text(), start_log.read_text()

    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    states, most_running = {}, 0  # most_running is reported, never asserted: overlap depends on load
    try:
        while time.monotonic() < deadline:
            states = queue_states(origin, names)
            most_running = max(most_running, list(states.values()).count("Running"))
            if len(states) == len(names) and set(states.values()) <= {"Success", "Failed"}:
                break
            time.sleep(10)
    finally:
        # Always: an idle worker whose monitor thread died on the broker race above never exits on its own.
        dvc_unchecked(origin, "queue", "stop", "--kill")
    if states != {name: "Success" for name in names}:
        logs = "\n".join(f"--- dvc queue logs {n} ---\n{dvc_unchecked(origin, 'queue', 'logs', n)}" for n in names)
        pytest.fail(f"queued experiments did not all succeed within {QUEUE_TIMEOUT_S} s: {states}\n{logs}")
    print(f"at most {most_running} of {len(names)} queued experiments were seen running at once")
    for name in names:
        # Each runs in its own workspace under .dvc/tmp/exps, which starts from the committed
        # dvc.lock: download and extract are checked out from the shared cache, not re-run.
        assert stages_run(dvc(origin, "queue", "logs", name)) == {"train@basic_cnn"}, name

    rows = exp_rows(origin)
    assert set(names) <= set(rows), sorted(rows)
    seen = {}
    for name in names:
        params = rows[name]["params"]["params.yaml"]["data"]
        metrics = rows[name]["metrics"]["metrics/train/basic_cnn.json"]["data"]
        assert metrics["architecture"] == "basic_cnn" and metrics["epochs_run"] == 1
        assert 0 <= metrics["val_accuracy"] <= 1
        seen[name] = params["architectures"]["basic_cnn"]["learning_rate"]
    assert sorted(seen.values()) == sorted(SWEEP), seen
