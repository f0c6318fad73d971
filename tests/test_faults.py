"""A horovod rank that dies or hangs mid-training: the train stage fails within a bounded time,
says why, and running it again resumes after the last completed epoch.

The command is train@<arch>'s own from dvc.yaml (``horovodrun ... || ... --after-failure``), with
two local processes, run in a small project directory as tests/test_training.py does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import REPO
from test_training import BIN, checkpoint_epoch, project, run, set_params, store  # noqa: F401 (fixtures)

from actionrec.pipeline import stage_argv

pytestmark = pytest.mark.slow
BOUND = 180  # seconds the failed command may take to exit once a rank is gone; it never waits without end
EPOCHS = 6


def stage_cmd(arch: str, processes: int = 2) -> str:
    """train@<arch>'s cmd from dvc.yaml, interpolated as DVC does, for `processes` local ranks."""
    cmd = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]["do"]["cmd"]
    values = {"${train.processes}": str(processes), "${train.hosts}": f"localhost:{processes}", "${key}": arch}
    for name, value in values.items():
        cmd = cmd.replace(name, value)
    return cmd


def rank_process(launcher: psutil.Process, rank: int) -> psutil.Process:
    """The python process of horovod rank `rank` among the launcher's descendants."""
    for proc in launcher.children(recursive=True):
        try:
            if proc.environ().get("HOROVOD_RANK") == str(rank) and "stages.train" in proc.cmdline():
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"rank {rank} is not running")


def start_and_hurt(root: Path, arch: str, rank: int, hurt, log: Path, env_extra: dict | None = None):
    """Start the stage, wait for its first checkpoint, then `hurt` the given rank's process.

    Returns (exit status, seconds from the hurt to the command's exit, output, the rank's process).
    """
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    with open(log, "w") as out:
        proc = subprocess.Popen(
            stage_cmd(arch), shell=True, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.time() + 300
            while checkpoint_epoch(root, arch) < 1 and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, f"the run ended before it could be hurt:\n{log.read_text()[-3000:]}"
            victim = rank_process(psutil.Process(proc.pid), rank)
            hurt(victim)
            hurt_at = time.time()
            code = proc.wait(timeout=BOUND)
            return code, time.time() - hurt_at, log.read_text(), victim
        finally:
            if proc.poll() is None:  # only when the bound was exceeded: leave nothing behind
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "chief"])
def test_a_killed_rank_fails_the_stage_and_a_rerun_resumes(project, tmp_path, victim):
    arch = "conv3d"
    set_params(project, lambda p: p["architectures"][arch].update(epochs=EPOCHS))
    code, seconds, out, _ = start_and_hurt(project, arch, victim, lambda p: p.kill(), tmp_path / "killed.log")

    assert code != 0, out[-3000:]
    survivor = 1 - victim
    assert f"Process {victim} exit with status code 137" in out  # horovodrun names the killed rank
    assert f"train {arch}: rank {survivor} of 2 " in out, out[-3000:]  # the survivor says why it stopped
    done = checkpoint_epoch(project, arch)
    assert 1 <= done < EPOCHS, "the run should be killed after its first epoch and before the end"
    assert f"The last checkpoint is epoch {done} " in out and "`dvc repro` resumes after it" in out, out[-3000:]
    assert f"[{survivor}]<stderr>:Traceback" not in out  # one line from the survivor, not a traceback
    assert not (project / f"data/models/{arch}/model.keras").exists()
    print(f"killed rank {victim}: the command failed {seconds:.1f} s later")

    result = run(project, "sh", "-c", stage_cmd(arch))
    assert f"resuming after epoch {done}" in result.stdout
    summary = json.loads((project / f"metrics/train/{arch}.json").read_text())
    assert summary["processes"] == 2 and summary["ranks_in_sync"] is True
    history = json.loads((project / f"data/models/{arch}/history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert not (project / f"data/checkpoints/{arch}").exists()


def test_a_rank_that_stops_answering_is_timed_out(project, tmp_path):
    """A frozen rank (as from a lost host) keeps its sockets open: the Gloo timeout ends the wait."""
    arch = "conv3d"
    set_params(project, lambda p: p["architectures"][arch].update(epochs=EPOCHS))
    code, seconds, out, frozen = start_and_hurt(
        project, arch, 1, lambda p: p.suspend(), tmp_path / "frozen.log", {"HOROVOD_GLOO_TIMEOUT_SECONDS": "10"}
    )
    assert code != 0, out[-3000:]
    # Gloo's timeout shows as the wait that ran out (a collective under way) or as the pair it
    # closed (horovod's background loop got there first): which one depends on timing.
    assert "Timed out waiting 10000ms" in out or "Application timeout caused pair closure" in out, out[-3000:]
    assert "train conv3d: rank 0 of 2 stopped: another rank failed or stopped answering" in out, out[-3000:]
    assert "`dvc repro` resumes after it" in out
    assert gone(frozen)  # horovodrun killed the frozen rank too
    print(f"frozen rank 1: the command failed {seconds:.1f} s later")


def test_after_failure_without_a_checkpoint_says_training_starts_over(project):
    result = run(project, sys.executable, *stage_argv("train@conv3d", fallback=True), check=False)
    assert result.returncode == 1
    assert "No epoch had completed: `dvc repro` starts the training over" in result.stderr


def test_peer_failures_are_told_apart_from_other_errors():
    import tensorflow as tf

    from actionrec.cluster.distributed import peer_failed
    from actionrec.errors import ParamError

    reset = "[gloo/transport/tcp/pair.cc:589] Read error [127.0.0.1]:8383: Connection reset by peer"
    shut = "Horovod has been shut down. This was caused by an exception on one of the ranks"
    for message in (reset, shut, "gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 60000ms for recv"):
        assert peer_failed(tf.errors.UnknownError(None, None, message))
    try:
        try:
            raise tf.errors.UnknownError(None, None, shut)
        except tf.errors.UnknownError:
            raise KeyboardInterrupt  # noqa: B904 (the context is what is tested): e.g. the SIGTERM that arrives while the error propagates
    except KeyboardInterrupt as err:
        assert peer_failed(err)
    assert not peer_failed(ParamError("train.epochs", 0, "an integer >= 1"))
    assert not peer_failed(tf.errors.InvalidArgumentError(None, None, "Mismatched allreduce tensor shapes"))
