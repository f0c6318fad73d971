"""The Keras side of a training run's checkpoints and logs: the callbacks (per-epoch checkpoints,
early stopping that survives a resume, DVCLive logging) and the restore a resumed run starts with."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from actionrec.cluster import distributed
from actionrec.train import checkpoints


class Checkpoint(keras.callbacks.Callback):
    """Saves everything a resumed run needs after every epoch (rank 0): :func:`checkpoints.save`."""

    def __init__(self, directory: Path, early: keras.callbacks.EarlyStopping, chief: bool):
        super().__init__()
        self.directory, self.early, self.chief = Path(directory), early, chief
        self.history: list[dict] = []
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        self.history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "seconds": seconds})
        if not self.chief:
            return
        state = {
            "epoch": epoch + 1,
            "history": self.history,
            "best": self.early.best,
            "best_epoch": self.early.best_epoch,
            "wait": self.early.wait,
        }
        # Every model variable, the dropout seed generators' state included (save_weights omits it).
        variables = [v.numpy() for v in self.model.variables]
        checkpoints.save(self.directory, variables, [v.numpy() for v in self.model.optimizer.variables], self.early.best_weights, state)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose state survives a restart (Keras resets it in on_train_begin)."""

    def __init__(self, resume_state: dict | None, best_weights: list | None, **kwargs):
        super().__init__(**kwargs)
        self.resume_state, self.resume_best_weights = resume_state, best_weights

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume_state:
            self.best = self.resume_state["best"]
            self.best_epoch = self.resume_state["best_epoch"]
            self.wait = self.resume_state["wait"]
            self.best_weights = self.resume_best_weights


class LiveLogger(keras.callbacks.Callback):
    """Per-epoch metrics to DVCLive (``dvc exp show``/``dvc plots``); replays history on resume."""

    def __init__(self, live, history: list[dict]):
        super().__init__()
        self.live = live
        for row in history:
            self._log(row)

    def _log(self, row: dict):
        for key, value in row.items():
            if key not in ("epoch", "seconds"):
                self.live.log_metric(key if key.startswith("val_") else f"train_{key}", value)
        self.live.next_step()

    def on_epoch_end(self, epoch, logs=None):
        self._log({k: float(v) for k, v in (logs or {}).items()})


def resume(trainer, optimizer, ckpt_dir: Path, world: distributed.World) -> tuple[dict | None, list | None]:
    """Restore the last checkpoint of this configuration, if any: (its state, early stopping's best weights).

    Rank 0 alone writes checkpoints, so rank 0 alone reads them: the others get the state by
    broadcast and need no shared storage.
    """
    resume_from = checkpoints.latest(ckpt_dir) if world.is_chief else None
    state = checkpoints.read_state(resume_from) if resume_from else None
    state = distributed.broadcast_object(state, "checkpoint_state")
    best_weights = None
    if state:
        optimizer.build(trainer.trainable_variables)
        if world.is_chief:
            for variables, name in ((trainer.variables, "variables.npz"), (optimizer.variables, "optimizer.npz")):
                for variable, value in zip(variables, checkpoints.read_arrays(resume_from / name, len(variables))):
                    variable.assign(value)
            best_weights = checkpoints.read_best(resume_from)
        distributed.broadcast_variables(optimizer.variables)
        best_weights = distributed.broadcast_object(best_weights, "checkpoint_best_weights")
    distributed.broadcast_variables(trainer.variables)
    return state, best_weights
