"""horovodrun's process count and host list from the environment of a SLURM job.

Slots per node (horovod processes on each node), first rule that applies:

1. ``SLURM_TASKS_PER_NODE`` (``4(x2),2``: one count per node, in node-list order), set by
   sbatch/salloc whenever the job has a task count;
2. ``SLURM_NTASKS_PER_NODE`` (``--ntasks-per-node``), the same on every node;
3. GPUs per node (``SLURM_GPUS_PER_NODE`` from ``--gpus-per-node``, else ``SLURM_GPUS_ON_NODE``).

Tasks come first because SLURM reserved CPUs and memory for them. One process per GPU is the
intended setup, so a job requests ``--ntasks-per-node`` equal to its GPUs per node; when the
two differ, :func:`gpu_warnings` says so (more tasks than GPUs share GPUs, fewer leave some idle).

CLI (stdout is meant for a shell's word splitting, e.g. ``dvc exp run $(python -m actionrec.cluster.slurm)``)::

    python -m actionrec.cluster.slurm          # -S train.processes=8 -S train.hosts='gpu01:4,gpu02:4'
    python -m actionrec.cluster.slurm --plain  # 8 gpu01:4,gpu02:4
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actionrec.cli import run
from actionrec.errors import PipelineError

NODELIST_VARS = ("SLURM_JOB_NODELIST", "SLURM_NODELIST")
NUM_NODES_VARS = ("SLURM_JOB_NUM_NODES", "SLURM_NNODES")
MAX_HOSTS = 100_000  # guards against a typo such as node[1-9999999]

_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_TASKS = re.compile(r"(\d+)(?:\(x(\d+)\))?")
_GPUS = re.compile(r"(?:[\w.-]+:)*(\d+)")  # [type:]count, e.g. 4, a100:4, gpu:a100:4


class SlurmError(PipelineError):
    """A SLURM variable that is missing or cannot be read; names the variable and its value."""

    def __init__(self, variable: str, value: str | None, reason: str):
        self.variable, self.value = variable, value
        shown = f"{variable} is not set" if value is None else f"{variable}={value!r}"
        super().__init__(f"SLURM environment: {shown}: {reason}")


@dataclass(frozen=True)
class Allocation:
    """The nodes of a job and the horovod processes (slots) on each, in SLURM's node order."""

    slots: tuple[tuple[str, int], ...]

    @property
    def processes(self) -> int:
        return sum(n for _, n in self.slots)

    @property
    def hosts(self) -> str:
        """horovodrun's ``-H`` value: ``gpu01:4,gpu02:4``."""
        return ",".join(f"{host}:{n}" for host, n in self.slots)

    def dvc_args(self) -> list[str]:
        """``dvc exp run`` overrides. The host list is single-quoted because DVC reads ``-S``
        values with Hydra's grammar, where an unquoted ``a,b`` is a sweep (refused without --queue)."""
        return ["-S", f"train.processes={self.processes}", "-S", f"train.hosts='{self.hosts}'"]


# SLURM's compressed host lists ("gpu[01-03,07],cpu-a5", "rack[1-2]-n[1-4]"). Hand-written rather
# than python-hostlist: that package is GPL-2.0-or-later, every other dependency here is
# permissively licensed, and the grammar is this small. `scontrol show hostnames` is the reference.


def expand_hostlist(expr: str, variable: str = "SLURM_JOB_NODELIST") -> list[str]:
    """Expand a SLURM host list; ranges keep the zero padding of their first bound."""

    def fail(reason: str):
        raise SlurmError(variable, expr, reason)

    hosts: list[str] = []
    for part in _split_top_level(expr, fail):
        hosts.extend(_expand_part(part, fail))
        if len(hosts) > MAX_HOSTS:
            fail(f"expands to more than {MAX_HOSTS} hosts")
    for host in hosts:
        if not _HOSTNAME.fullmatch(host):
            fail(f"{host!r} is not a host name" if host else "empty host name")
    if len(set(hosts)) != len(hosts):
        fail("a host is listed twice")
    return hosts


def _split_top_level(expr: str, fail) -> list[str]:
    """Split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(expr):
        if char == "[":
            depth += 1
            if depth > 1:
                fail("nested brackets")
        elif char == "]":
            depth -= 1
            if depth < 0:
                fail("unbalanced brackets")
        elif char == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    if depth:
        fail("unbalanced brackets")
    parts.append(expr[start:])
    return parts


def _expand_part(part: str, fail) -> list[str]:
    """``rack[1-2]-n[01,03]`` -> every combination of the bracket groups, in order."""
    choices = [_expand_ranges(piece[1:-1], fail) if piece.startswith("[") else [piece] for piece in re.split(r"(\[[^\]]*\])", part)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def _expand_ranges(ranges: str, fail) -> list[str]:
    out = []
    for item in ranges.split(","):
        m = _RANGE.fullmatch(item)
        if not m:
            fail(f"bad range {item!r} in brackets (expected N or N-M)")
        low, high = m.group(1), m.group(2) or m.group(1)
        if int(high) < int(low):
            fail(f"range {item!r} goes backwards")
        if int(high) - int(low) >= MAX_HOSTS:
            fail(f"range {item!r} is too large")
        out.extend(f"{i:0{len(low)}d}" for i in range(int(low), int(high) + 1))
    return out


def parse_tasks_per_node(value: str, variable: str = "SLURM_TASKS_PER_NODE") -> list[int]:
    """``4(x2),2`` -> ``[4, 4, 2]``."""
    counts: list[int] = []
    for item in value.split(","):
        m = _TASKS.fullmatch(item.strip())
        if not m:
            raise SlurmError(variable, value, f"bad entry {item!r} (expected e.g. '4(x2),2')")
        tasks, repeat = int(m.group(1)), int(m.group(2) or 1)
        if tasks < 1 or repeat < 1 or len(counts) + repeat > MAX_HOSTS:
            raise SlurmError(variable, value, f"entry {item!r} is not a positive task count")
        counts += [tasks] * repeat
    return counts


def gpus_per_node(env: Mapping[str, str]) -> int | None:
    """GPUs per node from ``SLURM_GPUS_PER_NODE`` (``[type:]N``, comma-separated types summed) or
    ``SLURM_GPUS_ON_NODE``; None when the job has no GPU variables."""
    for variable in ("SLURM_GPUS_PER_NODE", "SLURM_GPUS_ON_NODE"):
        value = env.get(variable, "").strip()
        if not value:
            continue
        matches = [_GPUS.fullmatch(item.strip()) for item in value.split(",")]
        if not all(matches):
            raise SlurmError(variable, value, "expected a GPU count such as 4 or a100:4")
        return sum(int(m.group(1)) for m in matches)
    return None


def _first(env: Mapping[str, str], names: Sequence[str]) -> tuple[str, str | None]:
    """The first of ``names`` that is set (non-empty), else the first name and None."""
    for name in names:
        if env.get(name, "").strip():
            return name, env[name].strip()
    return names[0], None


def allocation(env: Mapping[str, str] | None = None) -> Allocation:
    """Read the job's nodes and slots per node (rules in the module docstring)."""
    env = os.environ if env is None else env
    var, nodelist = _first(env, NODELIST_VARS)
    if nodelist is None:
        raise SlurmError(var, None, f"not inside a SLURM job? (neither {' nor '.join(NODELIST_VARS)} is set)")
    hosts = expand_hostlist(nodelist, var)
    _check_node_count(env, len(hosts), var)
    counts = _slots(env, len(hosts))
    return Allocation(tuple(zip(hosts, counts)))


def _check_node_count(env: Mapping[str, str], found: int, list_var: str) -> None:
    var, value = _first(env, NUM_NODES_VARS)
    if value is None:
        return
    if not value.isdigit():
        raise SlurmError(var, value, "expected a number of nodes")
    if int(value) != found:
        raise SlurmError(var, value, f"but {list_var} names {found} node(s)")


def _slots(env: Mapping[str, str], nodes: int) -> list[int]:
    if tasks := env.get("SLURM_TASKS_PER_NODE", "").strip():
        counts = parse_tasks_per_node(tasks)
        if len(counts) != nodes:
            raise SlurmError("SLURM_TASKS_PER_NODE", tasks, f"gives {len(counts)} node(s) but the job has {nodes}")
        return counts
    if per_node := env.get("SLURM_NTASKS_PER_NODE", "").strip():
        counts = parse_tasks_per_node(per_node, "SLURM_NTASKS_PER_NODE")
        if len(counts) != 1:
            raise SlurmError("SLURM_NTASKS_PER_NODE", per_node, "expected one number")
        return counts * nodes
    if gpus := gpus_per_node(env):
        return [gpus] * nodes
    raise SlurmError(
        "SLURM_TASKS_PER_NODE",
        None,
        "no task count either (SLURM_NTASKS_PER_NODE, GPUs per node): submit with "
        "--ntasks-per-node equal to the GPUs per node (CPU-only: the processes per node)",
    )


def gpu_warnings(alloc: Allocation, env: Mapping[str, str] | None = None) -> list[str]:
    """Nodes whose slot count differs from the GPUs per node (the intended setup is one process per GPU)."""
    gpus = gpus_per_node(os.environ if env is None else env)
    if not gpus:
        return []
    odd = [f"{host} ({n})" for host, n in alloc.slots if n != gpus]
    if not odd:
        return []
    return [
        f"{gpus} GPU(s) per node but other process counts on {', '.join(odd)}: one process per "
        f"GPU is the intended setup (--ntasks-per-node={gpus}); extra processes share a GPU, "
        "missing ones leave GPUs idle"
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m actionrec.cluster.slurm", description="Print horovodrun's process count and host list for the current SLURM job."
    )
    parser.add_argument(
        "--plain", action="store_true", help="print 'NP HOSTS' (e.g. '8 gpu01:4,gpu02:4') instead of dvc exp run -S options"
    )
    args = parser.parse_args(argv)
    alloc = allocation()
    for warning in gpu_warnings(alloc):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{alloc.processes} {alloc.hosts}" if args.plain else " ".join(alloc.dvc_args()))


if __name__ == "__main__":
    run(main)
