"""Training one architecture on the frame store: splits, validation, resume, logging, outputs.

Called by ``stages/train.py`` on every horovod rank. Rank 0 alone writes files and prints
progress; every rank reads its own shard of the data.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import models
from actionrec import checkpoints, config, distributed, metrics, synthetic
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
MODELS_DIR, LOGS = Path("data/models"), Path("logs")
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


def _shard(rows: list[dict], world: distributed.World, what: str) -> list[dict]:
    if len(rows) < world.size:
        raise DataError(f"the {what} set has {len(rows)} videos, fewer than train.processes={world.size}: every rank needs at least one")
    return rows[world.rank :: world.size]


@dataclass
class Run:
    """One architecture's training configuration, every setting checked before anything is built."""

    arch: str
    module: object  # its models/<arch>.py
    arch_params: dict
    settings: Settings
    recipe: Recipe
    store: dict  # data/frames/store.json
    sampling: Sampling
    size: int  # input_size
    augment: Augment

    @property
    def kind(self) -> str:
        return self.module.INPUT

    @property
    def spec(self) -> models.InputSpec:
        frames = 1 if self.kind == "frames" else self.sampling.clip_len
        return models.InputSpec(frames=frames, height=self.size, width=self.size, flow_stack=self.sampling.flow_stack)


def prepare(arch: str, params: dict) -> Run:
    module = models.get(arch)
    arch_params = dict(config.get(params, f"architectures.{arch}") or {})
    settings = read_settings(params, arch)
    recipe = Recipe.from_params(params, arch)
    store = read_store(FRAMES, params)
    prefix = f"architectures.{arch}"
    sampling = read_sampling(params, arch, module.INPUT)
    size = check_input_size(arch_params.get("input_size"), store["short_side"], f"{prefix}.input_size")
    need = module.min_frames(arch_params)
    if module.INPUT != "frames" and sampling.clip_len < need:
        raise ParamError(f"{prefix}.sampling.clip_len", sampling.clip_len, f"at least {need} for {arch}")
    augment = Augment.from_params(arch_params.get("augment"), f"{prefix}.augment")
    return Run(arch, module, arch_params, settings, recipe, store, sampling, size, augment)


@dataclass
class Videos:
    """The training and validation videos, all of them and this rank's share."""

    train: list[dict]
    val: list[dict]
    my_train: list[dict]
    my_val: list[dict]
    per_video: int  # training examples per video and epoch
    steps: int  # per epoch, identical on every rank so that allreduce never waits forever
    short: int  # videos shorter than one example: they loop (clips, flow stacks) or repeat frames (segments)


def split_videos(run: Run, world: distributed.World) -> Videos:
    train_rows, val_rows = split_train_val(read_manifest(FRAMES), run.settings.val_groups, run.settings.seed)
    # A frame model's training example is a frame: K of them per video and epoch (one per segment).
    per_video = examples_per_video(run.sampling, 1, 1)
    per_rank = len(train_rows) // world.size * per_video
    if run.settings.batch_size > per_rank:
        raise ParamError("train.batch_size", run.settings.batch_size, f"at most {per_rank} (training examples per process)")
    return Videos(
        train_rows,
        val_rows,
        _shard(train_rows, world, "training"),
        _shard(val_rows, world, "validation"),
        per_video,
        per_rank // run.settings.batch_size,
        sum(run.sampling.short(r["num_frames"]) for r in train_rows + val_rows),
    )


def build_trainer(run: Run, world: distributed.World, steps: int):
    """(the model, the compiled horovod trainer around its training heads, the trainer's optimizer)."""
    keras.utils.set_random_seed(run.settings.seed)
    make_reproducible(world)
    keras.mixed_precision.set_global_policy(run.settings.precision)
    model = models.build(run.arch, len(run.store["classes"]), run.spec, run.arch_params)
    heads, head_weights = models.training_heads(run.arch, model, run.arch_params)
    trainer = distributed.DistributedModel(inputs=model.inputs, outputs=heads[0] if len(heads) == 1 else keras.ops.stack(heads, axis=1))
    trainer.compile(
        optimizer=run.recipe.make_optimizer(world.size, run.settings.epochs, steps),
        loss=ClassificationLoss(run.recipe.label_smoothing, head_weights),
        metrics=[HeadAccuracy()],
        jit_compile=run.settings.xla,
    )
    # Under mixed_float16 compile() wrapped the optimizer in a LossScaleOptimizer, whose loss scale
    # is state too: trainer.optimizer (the wrapper) is what is saved and restored.
    return model, trainer, trainer.optimizer


def checkpoint_dir(run: Run, params: dict) -> Path:
    # Which machines run the ranks does not change the result: a job resubmitted on other nodes resumes.
    shared = {k: v for k, v in config.get(params, "train").items() if k != "hosts"}
    parts = (run.arch, run.arch_params, shared, run.sampling.as_dict(), run.store, run.settings.seed, file_digest(FRAMES / "manifest.csv"))
    return checkpoints.CHECKPOINTS / run.arch / checkpoints.config_hash(*parts)


def announce(run: Run, videos: Videos, world: distributed.World, model, first_epoch: int) -> None:
    resumed = f", resuming after epoch {first_epoch}" if first_epoch else ""
    print(
        f"train {run.arch}: {len(videos.train)} train / {len(videos.val)} val videos, {world.size} process(es), "
        f"{videos.steps} steps/epoch, {model.count_params():,} parameters{resumed}"
    )
    recipe = run.recipe
    print(
        f"train {run.arch}: {recipe.optimizer} at peak rate {recipe.peak_rate(world.size):g} ({recipe.warmup_epochs:g} warmup epochs, "
        f"{recipe.schedule}), weight decay {recipe.weight_decay:g}, label smoothing {recipe.label_smoothing:g}"
    )
    if videos.short:
        print(f"train {run.arch}: {videos.short} videos shorter than one example ({run.sampling.as_dict()}) loop or repeat frames")


def fit(run: Run, videos: Videos, trainer, world: distributed.World, ckpt_dir: Path, state: dict | None, best_weights) -> list[dict]:
    """Train from the epoch after ``state``'s (or from scratch) to the end; returns the whole history."""
    settings = run.settings
    first_epoch = state["epoch"] if state else 0
    train_ds = make_dataset(
        Source(FRAMES, videos.my_train, FLOW),
        run.sampling,
        input_size=run.size,
        batch_size=settings.batch_size,
        training=True,
        seed=settings.seed + world.rank,
        augment=run.augment,
        first_epoch=first_epoch,
        steps_per_epoch=videos.steps,
    )
    val_ds = make_dataset(
        Source(FRAMES, videos.my_val, FLOW),
        run.sampling,
        input_size=run.size,
        batch_size=settings.batch_size,
        training=False,
        seed=settings.seed,
    )
    early = ResumableEarlyStopping(state, best_weights, monitor="val_loss", patience=settings.patience, restore_best_weights=True)
    checkpoint = Checkpoint(ckpt_dir, early, world.is_chief)
    checkpoint.history = list(state["history"]) if state else []
    callbacks: list = [
        distributed.AverageStatisticsOverRanks(),
        distributed.AverageMetricsOverRanks(len(videos.my_val) * videos.per_video),
        distributed.DropoutSeedsPerRank(settings.seed, world.rank),
        early,
        checkpoint,
    ]
    live = None
    if world.is_chief:
        live = Live(str(LIVE_DIR / run.arch), report=None, save_dvc_exp=False, dvcyaml=None)
        callbacks += [LiveLogger(live, checkpoint.history), keras.callbacks.TensorBoard(str(LOGS / run.arch))]
    if first_epoch < settings.epochs:
        trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=settings.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=videos.steps,
            callbacks=callbacks,
            verbose=2 if world.is_chief else 0,
        )
    if live is not None:
        live.end()
    return checkpoint.history


def float32_model(run: Run, model, optimizer, world: distributed.World) -> tuple[object, bool]:
    """The trained model with float32 layers whatever the training precision, and whether every
    rank ended with the same weights and optimizer state (an error if not)."""
    in_sync = distributed.ranks_in_sync(model.weights + optimizer.variables)
    if not in_sync:
        raise RuntimeError(f"train {run.arch}: the {world.size} horovod ranks ended with different weights or optimizer state")
    if run.settings.precision == "float32":
        return model, in_sync
    # Saved in float32 (the variables already are): evaluation and prediction run on any
    # device, a CPU included, where some float16 kernels (MaxPool3D) do not exist.
    keras.mixed_precision.set_global_policy("float32")
    trained = model.get_weights()
    model = models.build(run.arch, len(run.store["classes"]), run.spec, run.arch_params)
    model.set_weights(trained)
    return model, in_sync


def save_outputs(run: Run, model, history: list[dict], val_predictions: Predictions, summary: dict) -> None:
    """``data/models/<arch>/`` (model, what inference needs, history, validation predictions) and the metrics."""
    out = MODELS_DIR / run.arch
    with atomic_file(out / "model.keras", ".tmp.keras") as tmp:
        model.save(tmp)
    # Everything inference needs to turn a new video into this model's input exactly as here.
    meta = {
        "classes": run.store["classes"],
        "input": run.kind,
        "input_size": run.size,
        "sampling": run.sampling.as_dict(),
        "store": {k: run.store[k] for k in ("short_side", "fps", "quality")},
    }
    if run.kind == "clip+flow":
        flow = json.loads((FLOW / "flow.json").read_text())
        meta["flow"] = {"method": flow["method"], "bound": flow["bound"], "quality": flow["quality"]}
    write_json(out / "classes.json", meta)
    write_json(out / "history.json", history)
    val_predictions.write(out / "val_predictions.csv")  # for the ensemble's own validation score
    write_json(METRICS_DIR / f"{run.arch}.json", summary)
    checkpoints.remove(run.arch)


def train(arch: str, params: dict, world: distributed.World) -> dict:
    """Train one architecture (resuming its last checkpoint) and, on rank 0, write its outputs."""
    run = prepare(arch, params)
    videos = split_videos(run, world)
    model, trainer, optimizer = build_trainer(run, world, videos.steps)
    ckpt_dir = checkpoint_dir(run, params)
    state, best_weights = resume(trainer, optimizer, ckpt_dir, world)
    if world.is_chief:
        announce(run, videos, world, model, state["epoch"] if state else 0)
    history = fit(run, videos, trainer, world, ckpt_dir, state, best_weights)
    if state and state["epoch"] >= run.settings.epochs and best_weights is not None:
        model.set_weights(best_weights)  # nothing was left to train: early stopping's choice, as the finished run had it
    model, in_sync = float32_model(run, model, optimizer, world)
    validation, val_predictions = {}, None
    if world.is_chief:
        val_source = Source(FRAMES, videos.val, FLOW if run.sampling.flow_stack else None)
        validation, val_predictions = validate_videos(
            run.module, model, val_source, run.sampling, run.size, run.store["classes"], run.settings.batch_size
        )
    best = min(history, key=lambda r: r["val_loss"])
    summary = {
        "architecture": arch,
        "input": run.kind,
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
        "videos_shorter_than_example": videos.short,
        "precision": run.settings.precision,
        "xla": run.settings.xla,
    }
    if world.is_chief:
        save_outputs(run, model, history, val_predictions, summary)
    return summary
