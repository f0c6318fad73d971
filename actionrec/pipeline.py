"""A stage's command line as dvc.yaml gives it, resolved by DVC: what tests and benchmarks run
outside ``dvc repro`` (in scratch projects, under their own ``horovodrun``), so that the paths a
stage reads and writes are written in dvc.yaml alone."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def stage_argv(target: str, fallback: bool = False) -> tuple[str, ...]:
    """``("-m", "stages.train", "conv3d", "--frames", "data/frames", ...)`` for ``train@conv3d``: the
    ``python -m stages.<name>`` part of the stage's command, without the interpreter and the
    ``horovodrun`` launcher in front; the command after ``||`` with ``fallback``."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        (stage,) = repo.stage.collect(target)
    words = shlex.split(stage.cmd.split("||")[1 if fallback else 0])
    return tuple(words[words.index("-m") :])
