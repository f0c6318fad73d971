"""SLURM environment -> horovodrun process count and host list, its CLI and the sbatch script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actionrec.cluster import slurm
from actionrec.cluster.slurm import Allocation, SlurmError, allocation, expand_hostlist, parse_tasks_per_node
from actionrec.errors import PipelineError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "slurm" / "pipeline.sbatch"


def hosts_of(env: dict[str, str]) -> tuple[int, str]:
    alloc = allocation(env)
    return alloc.processes, alloc.hosts


# --- host lists --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("gpu01", ["gpu01"]),
        ("gpu[01-03,07],cpu-a5", ["gpu01", "gpu02", "gpu03", "gpu07", "cpu-a5"]),
        ("node[8-11]", ["node8", "node9", "node10", "node11"]),  # no padding: widths grow
        ("n[098-101]", ["n098", "n099", "n100", "n101"]),  # padding of the first bound
        ("a1,b2,c3", ["a1", "b2", "c3"]),  # commas without brackets
        ("r[1-2]-n[1,3]", ["r1-n1", "r1-n3", "r2-n1", "r2-n3"]),  # several bracket groups
        ("gpu[5]", ["gpu5"]),
        ("node.cluster.local,x_1", ["node.cluster.local", "x_1"]),
    ],
)
def test_expand_hostlist(expr, expected):
    assert expand_hostlist(expr) == expected


@pytest.mark.parametrize(
    "expr, reason",
    [
        ("gpu[01-03", "unbalanced"),
        ("gpu]01", "unbalanced"),
        ("gpu[[1]]", "nested"),
        ("gpu[3-1]", "backwards"),
        ("gpu[a-b]", "bad range"),
        ("gpu[]", "bad range"),
        ("gpu[1-2-3]", "bad range"),
        ("a,,b", "empty host name"),
        ("gpu01 gpu02", "not a host name"),
        ("gpu;rm", "not a host name"),
        ("a,a", "listed twice"),
        ("n[1-999999]", "too large"),
    ],
)
def test_expand_hostlist_rejects(expr, reason):
    with pytest.raises(SlurmError, match=reason) as err:
        expand_hostlist(expr, "SLURM_NODELIST")
    assert isinstance(err.value, PipelineError)
    assert f"SLURM_NODELIST={expr!r}" in str(err.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("4", [4]),
        ("4(x2),2", [4, 4, 2]),
        ("2(x3)", [2, 2, 2]),
        ("1,3(x2),1", [1, 3, 3, 1]),
    ],
)
def test_parse_tasks_per_node(value, expected):
    assert parse_tasks_per_node(value) == expected


@pytest.mark.parametrize("value", ["", "4(x2", "4x2", "four", "0", "2(x0)", "-1"])
def test_parse_tasks_per_node_rejects(value):
    with pytest.raises(SlurmError, match="SLURM_TASKS_PER_NODE="):
        parse_tasks_per_node(value)


# --- allocation --------------------------------------------------------------------------------


def test_single_node():
    env = {"SLURM_JOB_NODELIST": "gpu07", "SLURM_TASKS_PER_NODE": "4", "SLURM_JOB_NUM_NODES": "1"}
    assert hosts_of(env) == (4, "gpu07:4")


def test_several_nodes_with_ranges_and_padding():
    env = {"SLURM_JOB_NODELIST": "gpu[01-03,07]", "SLURM_TASKS_PER_NODE": "4(x4)", "SLURM_JOB_NUM_NODES": "4"}
    assert hosts_of(env) == (16, "gpu01:4,gpu02:4,gpu03:4,gpu07:4")


def test_mixed_task_counts_follow_node_order():
    env = {"SLURM_JOB_NODELIST": "gpu[01-02],cpu-a5", "SLURM_TASKS_PER_NODE": "4(x2),2"}
    assert hosts_of(env) == (10, "gpu01:4,gpu02:4,cpu-a5:2")


def test_nodelist_fallback_and_ntasks_per_node():
    env = {"SLURM_NODELIST": "a1,b2", "SLURM_NTASKS_PER_NODE": "3", "SLURM_NNODES": "2"}
    assert hosts_of(env) == (6, "a1:3,b2:3")


@pytest.mark.parametrize(
    "gpu_var, value",
    [
        ("SLURM_GPUS_PER_NODE", "2"),
        ("SLURM_GPUS_PER_NODE", "a100:2"),
        ("SLURM_GPUS_ON_NODE", "2"),
    ],
)
def test_gpus_per_node_when_no_task_count(gpu_var, value):
    assert hosts_of({"SLURM_JOB_NODELIST": "g[1-2]", gpu_var: value}) == (4, "g1:2,g2:2")


def test_tasks_take_precedence_over_gpus_with_a_warning():
    env = {"SLURM_JOB_NODELIST": "g[1-2]", "SLURM_TASKS_PER_NODE": "1(x2)", "SLURM_GPUS_ON_NODE": "4"}
    alloc = allocation(env)
    assert alloc.hosts == "g1:1,g2:1"
    [warning] = slurm.gpu_warnings(alloc, env)
    assert "--ntasks-per-node=4" in warning and "g1 (1)" in warning
    matched = {"SLURM_JOB_NODELIST": "g1", "SLURM_TASKS_PER_NODE": "4", "SLURM_GPUS_PER_NODE": "4"}
    assert slurm.gpu_warnings(allocation(matched), matched) == []


@pytest.mark.parametrize(
    "env, variable",
    [
        ({}, "SLURM_JOB_NODELIST is not set"),
        ({"SLURM_JOB_NODELIST": "g1"}, "SLURM_TASKS_PER_NODE is not set"),
        ({"SLURM_JOB_NODELIST": "g[1-", "SLURM_TASKS_PER_NODE": "1"}, "SLURM_JOB_NODELIST='g[1-'"),
        ({"SLURM_JOB_NODELIST": "g[1-3]", "SLURM_TASKS_PER_NODE": "4(x2)"}, "SLURM_TASKS_PER_NODE='4(x2)'"),
        ({"SLURM_JOB_NODELIST": "g[1-3]", "SLURM_TASKS_PER_NODE": "4(x3)", "SLURM_JOB_NUM_NODES": "2"}, "SLURM_JOB_NUM_NODES='2'"),
        ({"SLURM_JOB_NODELIST": "g1", "SLURM_NTASKS_PER_NODE": "4,4"}, "SLURM_NTASKS_PER_NODE='4,4'"),
        ({"SLURM_JOB_NODELIST": "g1", "SLURM_GPUS_PER_NODE": "many"}, "SLURM_GPUS_PER_NODE='many'"),
    ],
)
def test_missing_or_garbled_variables_are_named(env, variable):
    with pytest.raises(SlurmError) as err:
        allocation(env)
    assert variable in str(err.value)


def test_dvc_args_quote_the_host_list():
    alloc = Allocation((("gpu01", 4), ("gpu02", 4)))
    # Unquoted, DVC's Hydra parser would read the comma-separated list as a sweep.
    assert alloc.dvc_args() == ["-S", "train.processes=8", "-S", "train.hosts='gpu01:4,gpu02:4'"]


# --- CLI and sbatch script ---------------------------------------------------------------------


def slurm_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(
        {"SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_TASKS_PER_NODE": "4(x2)", "SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_ON_NODE": "4"},
        **extra,
    )
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actionrec.cluster.slurm", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_prints_dvc_options_and_plain_values():
    out = run_cli(env=slurm_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "-S train.processes=8 -S train.hosts='gpu01:4,gpu02:4'"
    assert out.stderr == ""
    plain = run_cli("--plain", env=slurm_env())
    assert plain.stdout.strip() == "8 gpu01:4,gpu02:4"


def test_cli_error_is_one_line_naming_the_variable():
    out = run_cli(env=slurm_env(SLURM_TASKS_PER_NODE="4(x2"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: SLURM environment: SLURM_TASKS_PER_NODE='4(x2': bad entry '4(x2' (expected e.g. '4(x2),2')"
    ]


def test_sbatch_script_syntax():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A VENV whose bin/ has the real python and stubs of dvc and horovodrun that print their argv.

    The dvc stub runs `horovodrun` the way a train stage would, so the wrapper that adds
    --network-interfaces is exercised too.
    """
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    stubs = {
        "python": f'#!/bin/sh\nexec {sys.executable} "$@"\n',
        "dvc": '#!/bin/sh\nprintf "dvc"; printf " [%s]" "$@"; echo\nexec horovodrun -np 1 python\n',
        "horovodrun": '#!/bin/sh\nprintf "horovodrun"; printf " [%s]" "$@"; echo\n',
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir.parent


def run_script(venv: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=slurm_env(VENV=str(venv), **env), capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_sbatch_script_passes_the_allocation_to_dvc(fake_venv):
    out = run_script(fake_venv, "train@conv3d", "-S", "train.epochs=2")
    assert out.returncode == 0, out.stderr
    dvc, horovodrun = out.stdout.splitlines()
    assert dvc == ("dvc [exp] [run] [-S] [train.processes=8] [-S] [train.hosts='gpu01:4,gpu02:4'] [train@conv3d] [-S] [train.epochs=2]")
    assert horovodrun == "horovodrun [-np] [1] [python]"
    assert "8 horovod processes on gpu01:4,gpu02:4" in out.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_sbatch_script_network_interfaces_and_errors(fake_venv):
    out = run_script(fake_venv, TRAIN_NETWORK_INTERFACES="ib0,eth1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "horovodrun [--network-interfaces] [ib0,eth1] [-np] [1] [python]"

    bad = run_script(fake_venv, SLURM_JOB_NODELIST="gpu[01-")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "SLURM_JOB_NODELIST='gpu[01-'" in bad.stderr

    missing = run_script(fake_venv.parent / "no-venv")
    assert missing.returncode == 2 and "make setup" in missing.stderr
