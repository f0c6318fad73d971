"""Stage outputs: written atomically (a stage killed half-way never leaves a half-written file or
directory behind), read back with an error that names the stage that makes them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from actionrec.errors import PipelineError


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


@contextmanager
def atomic_file(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling file (``suffix``: the extension its writer needs) that replaces
    ``path`` only if the block succeeds; the temporary file never outlives the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_array(path: Path, array: np.ndarray) -> None:
    with atomic_file(path, ".tmp.npy") as tmp:
        np.save(tmp, array)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (ties a derived output or a checkpoint to its inputs)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_json(path: Path, stage: str) -> dict:
    """The JSON a stage wrote, or a PipelineError saying to run ``dvc repro <stage>``."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: not found (run `dvc repro {stage}`)")
    return json.loads(path.read_text())


def remove(path: Path) -> None:
    """Delete a file, a symlink or a directory tree, if there is one (a partial output before a retry)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
