"""Per-epoch training checkpoints on disk: where they live, how they are written and read back.

A checkpoint is a directory ``<checkpoints>/<config hash>/`` (dvc.yaml: ``data/checkpoints/<arch>/``) holding every model
variable (``variables.npz``), the optimizer's (``optimizer.npz``), early stopping's best weights
(``best.npz``) and ``state.json`` (epoch, history, early-stopping state); the data stream needs
nothing since it is a function of (seed, epoch). A checkpoint of any other configuration is
never reused: the hash covers everything that shapes the run.

Light on purpose (numpy only): the ``--after-failure`` message reads checkpoints without
loading TensorFlow. The Keras side is in :mod:`actionrec.train.callbacks` (the callback that
saves after every epoch, and the restore on resume).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from actionrec.errors import DataError
from actionrec.io import write_json


def config_hash(*parts) -> str:
    """Identifies a training configuration; a checkpoint from any other one is never reused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def previous(directory: Path) -> Path:
    return directory.with_name(directory.name + ".old")


def latest(directory: Path) -> Path | None:
    """The complete checkpoint of a configuration: its directory, or the previous epoch's if a
    kill came between the two renames of :func:`save`."""
    for candidate in (directory, previous(directory)):
        if (candidate / "state.json").is_file():
            return candidate
    return None


def save(directory: Path, variables: list[np.ndarray], optimizer: list[np.ndarray], best: list | None, state: dict) -> None:
    """Write one epoch's checkpoint so that a kill at any moment leaves one complete checkpoint."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / "variables.npz", *variables)
    np.savez(tmp / "optimizer.npz", *optimizer)
    if best is not None:
        np.savez(tmp / "best.npz", *best)
    write_json(tmp / "state.json", state)
    # A directory cannot be replaced atomically: keep the previous epoch as .old until the new
    # one is in place (see latest()).
    old = previous(directory)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def read_state(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / "state.json").read_text())


def _arrays(npz: Path) -> list[np.ndarray]:
    with np.load(npz) as saved:
        return [saved[name] for name in saved.files]


def read_arrays(npz: Path, expected: int) -> list[np.ndarray]:
    """The arrays of ``npz``, which must be one per variable (``expected``)."""
    arrays = _arrays(npz)
    if len(arrays) != expected:
        raise DataError(f"{npz}: {len(arrays)} arrays for {expected} variables (delete {npz.parent} to start over)")
    return arrays


def read_best(checkpoint: Path) -> list[np.ndarray] | None:
    path = Path(checkpoint) / "best.npz"
    return _arrays(path) if path.is_file() else None


def last_epoch(checkpoints: Path) -> tuple[int, Path] | None:
    """The most recently written checkpoint under ``checkpoints`` (any configuration): (its epoch, its directory)."""
    last = None
    for state in Path(checkpoints).glob("*/state.json"):
        try:
            found = (state.stat().st_mtime, read_state(state.parent)["epoch"], state.parent)
        except (OSError, ValueError, KeyError):
            continue
        last = max(last or found, found)
    return (last[1], last[2]) if last else None


def remove(checkpoints: Path) -> None:
    """Once a training run has finished, its checkpoints are no longer needed."""
    shutil.rmtree(checkpoints, ignore_errors=True)
