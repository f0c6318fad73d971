"""Training one architecture on the frame store: splits, validation, resume, logging, outputs.

Called by ``stages/train.py`` on every horovod rank. Rank 0 alone writes files and prints
progress; every rank reads its own shard of the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import models
from actionrec import config, distributed, metrics, synthetic
from actionrec.errors import DataError, ParamError
from actionrec.framestore import read_manifest, read_store
from actionrec.inference import video_probabilities
from actionrec.inputs import Augment, Source, check_input_size, examples_per_video, make_dataset
from actionrec.io import atomic_file, file_digest, write_json
from actionrec.predictions import Predictions
from actionrec.recipe import ClassificationLoss, HeadAccuracy, Recipe
from actionrec.sampling import Sampling
from dvclive import Live

FRAMES, FLOW = Path("data/frames"), Path("data/flow")
MODELS_DIR, CHECKPOINTS, LOGS = Path("data/models"), Path("data/checkpoints"), Path("logs")
METRICS_DIR, LIVE_DIR = Path("metrics/train"), Path("dvclive")


@dataclass
class Settings:
    epochs: int
    batch_size: int
    patience: int
    val_groups: int
    seed: int
    precision: str  # a Keras dtype policy: float32, mixed_float16 or mixed_bfloat16
    xla: bool


def _auto(params: dict, key: str, gpu: bool) -> bool:
    value = config.get(params, key)
    if value == "auto":
        return gpu
    if not isinstance(value, bool):
        raise ParamError(key, value, "auto, true or false")
    return value


PRECISIONS = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16", False: "float32"}


def bfloat16_gpu() -> bool:
    """True when the first GPU computes in bfloat16 natively (NVIDIA compute capability 8.0, Ampere, or later)."""
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    return tuple(details.get("compute_capability") or (0, 0)) >= (8, 0)


def read_precision(params: dict, gpu: bool) -> str:
    """``train.mixed_precision``: auto picks bfloat16 (no loss scaling) where the GPU has it, float16
    (with dynamic loss scaling) on older GPUs, and float32 on CPU."""
    value = config.get(params, "train.mixed_precision")
    if value == "auto":
        if not gpu:
            return "float32"
        return "mixed_bfloat16" if bfloat16_gpu() else "mixed_float16"
    if isinstance(value, str) and value in PRECISIONS or value is False:
        return PRECISIONS[value]
    raise ParamError("train.mixed_precision", value, "auto, float16, bfloat16 or false")


def _epochs(params: dict, arch: str) -> int:
    """``architectures.<arch>.epochs`` where given, else ``train.epochs`` (always validated)."""
    shared = config.positive_int(params, "train.epochs")
    if "epochs" in (config.get(params, f"architectures.{arch}") or {}):
        return config.positive_int(params, f"architectures.{arch}.epochs")
    return shared


def read_settings(params: dict, arch: str) -> Settings:
    gpu = bool(tf.config.list_physical_devices("GPU"))
    return Settings(
        epochs=_epochs(params, arch),
        batch_size=config.positive_int(params, "train.batch_size"),
        patience=config.positive_int(params, "train.patience"),
        val_groups=config.positive_int(params, "train.val_groups"),
        seed=config.get(params, "seed"),
        precision=read_precision(params, gpu),
        xla=_auto(params, "train.xla", gpu),
    )


def read_sampling(params: dict, arch: str, kind: str) -> Sampling:
    """``architectures.<arch>.sampling`` (and ``flow.stack`` for two-stream models), validated."""
    stack = config.positive_int(params, "flow.stack") if kind == "clip+flow" else 0
    sampling = config.get(params, f"architectures.{arch}.sampling")
    return Sampling.from_params(sampling, f"architectures.{arch}.sampling", kind, stack)


def make_reproducible(world: distributed.World) -> None:
    """Bit-exact reruns and resumes with one process on CPU (before the first TensorFlow op runs).

    Op determinism alone is not enough: with several ops in flight at once, conv3d, cnn_lstm and
    pretrained_cnn_lstm still drifted from run to run (4th decimal of the first epoch's loss).
    One op at a time, each op still using every core, makes their weights bit-identical.
    Several processes or a GPU make no such promise (allreduce and GPU kernel order), so they
    keep full parallelism.
    """
    if world.size == 1 and not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_inter_op_parallelism_threads(1)


def split_train_val(rows: list[dict], val_groups: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out whole training groups for validation (never clips of a group on both sides)."""
    groups = sorted({r["group"] for r in rows if r["split"] == "train"})
    if len(groups) <= val_groups:
        raise ParamError("train.val_groups", val_groups, f"fewer than the {len(groups)} training groups")
    held = set(random.Random(seed).sample(groups, val_groups))
    train = [r for r in rows if r["split"] == "train" and r["group"] not in held]
    val = [r for r in rows if r["split"] == "train" and r["group"] in held]
    return train, val


def config_hash(*parts) -> str:
    """Identifies a training configuration; a checkpoint from any other one is never reused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpoint(keras.callbacks.Callback):
    """Saves everything a resumed run needs after every epoch (rank 0), atomically.

    weights, optimizer state, early-stopping state (best value, wait, best weights) and the
    history so far; the data stream needs nothing since it is a function of (seed, epoch).
    """

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
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # Every model variable, the dropout seed generators' state included (save_weights omits it).
        np.savez(tmp / "variables.npz", *[v.numpy() for v in self.model.variables])
        np.savez(tmp / "optimizer.npz", *[v.numpy() for v in self.model.optimizer.variables])
        if self.early.best_weights is not None:
            np.savez(tmp / "best.npz", *self.early.best_weights)
        state = {
            "epoch": epoch + 1,
            "history": self.history,
            "best": self.early.best,
            "best_epoch": self.early.best_epoch,
            "wait": self.early.wait,
        }
        write_json(tmp / "state.json", state)
        # A directory cannot be replaced atomically: keep the previous epoch as .old until the new
        # one is in place, so a kill at any moment leaves one complete checkpoint (see latest()).
        old = previous(self.directory)
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            os.replace(self.directory, old)
        os.replace(tmp, self.directory)
        shutil.rmtree(old, ignore_errors=True)


def previous(directory: Path) -> Path:
    return directory.with_name(directory.name + ".old")


def latest(directory: Path) -> Path | None:
    """The complete checkpoint of a configuration: its directory, or the previous epoch's if a
    kill came between the two renames of Checkpoint.on_epoch_end."""
    for candidate in (directory, previous(directory)):
        if (candidate / "state.json").is_file():
            return candidate
    return None


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


def validate_videos(
    module, model, source: Source, sampling: Sampling, size: int, classes: list[str], batch_size: int
) -> tuple[dict, Predictions]:
    """Video-level accuracy on the validation videos (centre view), overall and per class kind:
    what the models are tuned and compared on (the test split never is).

    A late-fusion two-stream model first gets its flow weight: the one of 0, 0.1, ..., 1 with the
    best validation accuracy (ties: the nearest to an equal weighting).
    """
    batch_videos = max(1, batch_size // examples_per_video(sampling, 1, 1))
    labels = np.array([r["label"] for r in source.rows])
    result = {}
    streams = module.stream_outputs(model) if hasattr(module, "stream_outputs") else None
    if streams:
        (rgb, flow), _ = video_probabilities(keras.Model(model.inputs, streams), source, sampling, size, batch_videos)
        grid = np.round(np.linspace(0, 1, 11), 1)
        accuracy = [float(np.mean(((1 - w) * rgb + w * flow).argmax(1) == labels)) for w in grid]
        weight = float(max(grid, key=lambda w: (accuracy[int(round(w * 10))], -abs(w - 0.5))))
        module.set_fusion(model, weight)
        result.update(fusion_flow_weight=weight, val_video_accuracy_rgb=accuracy[0], val_video_accuracy_flow=accuracy[-1])
    probs, _ = video_probabilities(model, source, sampling, size, batch_videos)
    predictions = Predictions([r["video"] for r in source.rows], labels, probs, classes)
    return {**result, **validation_scores(predictions)}, predictions


def validation_scores(predictions: Predictions) -> dict:
    """``val_video_accuracy`` and, on the synthetic set, ``val_accuracy_<kind>`` of validation predictions."""
    p = predictions
    return metrics.video_accuracy(p.labels, p.probabilities, p.classes, synthetic.class_kinds(p.classes), prefix="val_")


def _assign(variables, npz: Path) -> None:
    saved = np.load(npz)
    if len(saved.files) != len(variables):
        raise DataError(f"{npz}: {len(saved.files)} arrays for {len(variables)} variables (delete {npz.parent} to start over)")
    for variable, name in zip(variables, saved.files):
        variable.assign(saved[name])


def _shard(rows: list[dict], world: distributed.World, what: str) -> list[dict]:
    if len(rows) < world.size:
        raise DataError(f"the {what} set has {len(rows)} videos, fewer than train.processes={world.size}: every rank needs at least one")
    return rows[world.rank :: world.size]


def train(arch: str, params: dict, world: distributed.World) -> dict:
    module = models.get(arch)
    arch_params = dict(config.get(params, f"architectures.{arch}") or {})
    settings = read_settings(params, arch)
    recipe = Recipe.from_params(params, arch)
    store = read_store(FRAMES, params)
    kind = module.INPUT
    prefix = f"architectures.{arch}"
    sampling = read_sampling(params, arch, kind)
    size = check_input_size(arch_params.get("input_size"), store["short_side"], f"{prefix}.input_size")
    spec = models.InputSpec(frames=1 if kind == "frames" else sampling.clip_len, height=size, width=size, flow_stack=sampling.flow_stack)
    need = module.min_frames(arch_params)
    if kind != "frames" and sampling.clip_len < need:
        raise ParamError(f"{prefix}.sampling.clip_len", sampling.clip_len, f"at least {need} for {arch}")
    augment = Augment.from_params(arch_params.get("augment"), f"{prefix}.augment")

    rows = read_manifest(FRAMES)
    train_rows, val_rows = split_train_val(rows, settings.val_groups, settings.seed)
    # A frame model's training example is a frame: K of them per video and epoch (one per segment).
    per_video = examples_per_video(sampling, 1, 1)
    per_rank = len(train_rows) // world.size * per_video
    if settings.batch_size > per_rank:
        raise ParamError("train.batch_size", settings.batch_size, f"at most {per_rank} (training examples per process)")
    my_train, my_val = _shard(train_rows, world, "training"), _shard(val_rows, world, "validation")
    steps = per_rank // settings.batch_size  # identical on every rank, so allreduce never waits forever
    # Videos shorter than one example loop (clips, flow stacks) or repeat frames (segments): counted, never an error.
    short = sum(sampling.short(r["num_frames"]) for r in train_rows + val_rows)

    def source(part):
        return Source(FRAMES, part, FLOW)

    keras.utils.set_random_seed(settings.seed)
    make_reproducible(world)
    keras.mixed_precision.set_global_policy(settings.precision)
    classes = store["classes"]
    model = models.build(arch, len(classes), spec, arch_params)
    heads, head_weights = models.training_heads(arch, model, arch_params)
    trainer = distributed.DistributedModel(inputs=model.inputs, outputs=heads[0] if len(heads) == 1 else keras.ops.stack(heads, axis=1))
    trainer.compile(
        optimizer=recipe.make_optimizer(world.size, settings.epochs, steps),
        loss=ClassificationLoss(recipe.label_smoothing, head_weights),
        metrics=[HeadAccuracy()],
        jit_compile=settings.xla,
    )
    # Under mixed_float16 compile() wrapped the optimizer in a LossScaleOptimizer, whose loss scale
    # is state too: trainer.optimizer (the wrapper) is what is saved and restored.
    optimizer = trainer.optimizer

    # Which machines run the ranks does not change the result: a job resubmitted on other nodes resumes.
    shared = {k: v for k, v in config.get(params, "train").items() if k != "hosts"}
    key = config_hash(arch, arch_params, shared, sampling.as_dict(), store, settings.seed, file_digest(FRAMES / "manifest.csv"))
    ckpt_dir = CHECKPOINTS / arch / key
    # Rank 0 alone writes checkpoints, so rank 0 alone reads them: the others get the state by
    # broadcast and need no shared storage.
    resume_from = latest(ckpt_dir) if world.is_chief else None
    state = json.loads((resume_from / "state.json").read_text()) if resume_from else None
    state = distributed.broadcast_object(state, "checkpoint_state")
    best_weights = None
    if state:
        optimizer.build(trainer.trainable_variables)
        if world.is_chief:
            _assign(trainer.variables, resume_from / "variables.npz")
            _assign(optimizer.variables, resume_from / "optimizer.npz")
            if (resume_from / "best.npz").is_file():
                with np.load(resume_from / "best.npz") as best_npz:
                    best_weights = [best_npz[n] for n in best_npz.files]
        distributed.broadcast_variables(optimizer.variables)
        best_weights = distributed.broadcast_object(best_weights, "checkpoint_best_weights")
    distributed.broadcast_variables(trainer.variables)
    first_epoch = state["epoch"] if state else 0
    if world.is_chief:
        resumed = f", resuming after epoch {first_epoch}" if state else ""
        print(
            f"train {arch}: {len(train_rows)} train / {len(val_rows)} val videos, {world.size} process(es), "
            f"{steps} steps/epoch, {model.count_params():,} parameters{resumed}"
        )
        print(
            f"train {arch}: {recipe.optimizer} at peak rate {recipe.peak_rate(world.size):g} ({recipe.warmup_epochs:g} warmup epochs, "
            f"{recipe.schedule}), weight decay {recipe.weight_decay:g}, label smoothing {recipe.label_smoothing:g}"
        )
        if short:
            print(f"train {arch}: {short} videos shorter than one example ({sampling.as_dict()}) loop or repeat frames")

    train_ds = make_dataset(
        source(my_train),
        sampling,
        input_size=size,
        batch_size=settings.batch_size,
        training=True,
        seed=settings.seed + world.rank,
        augment=augment,
        first_epoch=first_epoch,
        steps_per_epoch=steps,
    )
    val_ds = make_dataset(source(my_val), sampling, input_size=size, batch_size=settings.batch_size, training=False, seed=settings.seed)
    val_samples = len(my_val) * per_video

    early = ResumableEarlyStopping(state, best_weights, monitor="val_loss", patience=settings.patience, restore_best_weights=True)
    checkpoint = Checkpoint(ckpt_dir, early, world.is_chief)
    checkpoint.history = list(state["history"]) if state else []
    callbacks: list = [
        distributed.AverageStatisticsOverRanks(),
        distributed.AverageMetricsOverRanks(val_samples),
        distributed.DropoutSeedsPerRank(settings.seed, world.rank),
        early,
        checkpoint,
    ]
    live = None
    if world.is_chief:
        live = Live(str(LIVE_DIR / arch), report=None, save_dvc_exp=False, dvcyaml=None)
        callbacks += [LiveLogger(live, checkpoint.history), keras.callbacks.TensorBoard(str(LOGS / arch))]
    if first_epoch >= settings.epochs:
        callbacks.remove(checkpoint)

    if first_epoch < settings.epochs:
        trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=settings.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=2 if world.is_chief else 0,
        )
    elif best_weights is not None:
        model.set_weights(best_weights)
    in_sync = distributed.ranks_in_sync(model.weights + optimizer.variables)
    if not in_sync:
        raise RuntimeError(f"train {arch}: the {world.size} horovod ranks ended with different weights or optimizer state")
    if settings.precision != "float32":
        # Saved in float32 (the variables already are): evaluation and prediction run on any
        # device, a CPU included, where some float16 kernels (MaxPool3D) do not exist.
        keras.mixed_precision.set_global_policy("float32")
        trained = model.get_weights()
        model = models.build(arch, len(classes), spec, arch_params)
        model.set_weights(trained)
    history = checkpoint.history
    best = min(history, key=lambda r: r["val_loss"])
    validation, val_predictions = {}, None
    if world.is_chief:
        val_source = Source(FRAMES, val_rows, FLOW if sampling.flow_stack else None)
        validation, val_predictions = validate_videos(module, model, val_source, sampling, size, classes, settings.batch_size)
    summary = {
        "architecture": arch,
        "input": kind,
        "parameters": int(model.count_params()),
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "val_loss": best["val_loss"],
        "val_accuracy": best["val_accuracy"],
        **validation,
        "train_accuracy": best["accuracy"],
        "train_seconds": round(sum(r["seconds"] for r in history), 1),
        "processes": world.size,
        "ranks_in_sync": in_sync,
        "videos_shorter_than_example": short,
        "precision": settings.precision,
        "xla": settings.xla,
    }
    if world.is_chief:
        out = MODELS_DIR / arch
        with atomic_file(out / "model.keras", ".tmp.keras") as tmp:
            model.save(tmp)
        # Everything inference needs to turn a new video into this model's input exactly as here.
        meta = {
            "classes": classes,
            "input": kind,
            "input_size": size,
            "sampling": sampling.as_dict(),
            "store": {k: store[k] for k in ("short_side", "fps", "quality")},
        }
        if kind == "clip+flow":
            flow = json.loads((FLOW / "flow.json").read_text())
            meta["flow"] = {"method": flow["method"], "bound": flow["bound"], "quality": flow["quality"]}
        write_json(out / "classes.json", meta)
        write_json(out / "history.json", history)
        val_predictions.write(out / "val_predictions.csv")  # for the ensemble's own validation score
        write_json(METRICS_DIR / f"{arch}.json", summary)
        live.end()
        shutil.rmtree(CHECKPOINTS / arch, ignore_errors=True)
    return summary
