"""Training one architecture on the frame store: splits, validation, resume, logging, outputs.

Called by ``stages/train.py`` on every horovod rank. Rank 0 alone writes files and prints
progress; every rank reads its own shard of the data.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from dvclive import Live

import models
from actionrec import config
from actionrec.cluster import distributed
from actionrec.data.framestore import read_manifest
from actionrec.data.inputs import Source, make_dataset
from actionrec.data.sampling import Sampling
from actionrec.errors import DataError, ParamError
from actionrec.evaluate import metrics
from actionrec.evaluate.inference import video_probabilities
from actionrec.evaluate.predictions import Predictions
from actionrec.io import atomic_file, file_digest, write_json
from actionrec.train import checkpoints
from actionrec.train.callbacks import Checkpoint, LiveLogger, ResumableEarlyStopping, resume
from actionrec.train.recipe import ClassificationLoss, HeadAccuracy
from actionrec.train.settings import Run, TrainPaths, make_reproducible, prepare


def split_train_val(rows: list[dict], val_groups: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out whole training groups for validation (never clips of a group on both sides)."""
    groups = sorted({r["group"] for r in rows if r["split"] == "train"})
    if len(groups) <= val_groups:
        raise ParamError("train.val_groups", val_groups, f"fewer than the {len(groups)} training groups")
    held = set(random.Random(seed).sample(groups, val_groups))
    train = [r for r in rows if r["split"] == "train" and r["group"] not in held]
    val = [r for r in rows if r["split"] == "train" and r["group"] in held]
    return train, val


def validate_videos(
    module, model, source: Source, sampling: Sampling, size: int, classes: list[str], kinds: dict | None, batch_size: int
) -> tuple[dict, Predictions]:
    """Video-level accuracy on the validation videos (centre view), overall and per class kind:
    what the models are tuned and compared on (the test split never is).

    A late-fusion two-stream model first gets its flow weight: the one of 0, 0.1, ..., 1 with the
    best validation accuracy (ties: the nearest to an equal weighting).
    """
    batch_videos = max(1, batch_size // sampling.training_examples_per_video())
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
    return {**result, **metrics.video_accuracy(labels, probs, classes, kinds, prefix="val_")}, predictions


def source(run: Run, rows: list[dict]) -> Source:
    return Source.of(run.paths.frames, run.paths.flow, rows, run.sampling)


def _shard(rows: list[dict], world: distributed.World, what: str) -> list[dict]:
    if len(rows) < world.size:
        raise DataError(f"the {what} set has {len(rows)} videos, fewer than train.processes={world.size}: every rank needs at least one")
    return rows[world.rank :: world.size]


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
    train_rows, val_rows = split_train_val(read_manifest(run.paths.frames), run.settings.val_groups, run.settings.seed)
    # A frame model's training example is a frame: K of them per video and epoch (one per segment),
    # unless the segmental consensus makes the K frames one example.
    per_video = run.sampling.training_examples_per_video()
    per_rank = len(train_rows) // world.size * per_video
    if run.settings.batch_size > per_rank:
        raise ParamError(run.settings.batch_key, run.settings.batch_size, f"at most {per_rank} (training examples per process)")
    return Videos(
        train_rows,
        val_rows,
        _shard(train_rows, world, "training"),
        _shard(val_rows, world, "validation"),
        per_video,
        per_rank // run.settings.batch_size,
        sum(run.sampling.short(r["num_frames"]) for r in train_rows + val_rows),
    )


def segmental_consensus(model, segments: int) -> tuple[list, list, None]:
    """A frame model trained through TSN's segmental consensus: (inputs, heads, head weights) of
    a trainer whose example is a video's K frames and whose output is the mean of the frame
    model's class probabilities over them.

    That mean is the video score the evaluator computes, so the loss is on what is tested: a
    frame that shows the class can carry the video while frames that show nothing need not be
    pushed to it (TSN averages pre-softmax scores; these models end in a softmax, and averaging
    it matches evaluation). The frame model is a layer of the trainer, shares its weights and is
    what gets saved.
    """
    frame = tuple(model.input.shape[1:])
    video = keras.Input((segments, *frame), name="segments")
    scores = model(keras.ops.reshape(video, (-1, *frame)))
    return [video], [keras.ops.mean(keras.ops.reshape(scores, (-1, segments, scores.shape[-1])), axis=1)], None


def build_trainer(run: Run, world: distributed.World, steps: int):
    """(the model, the compiled horovod trainer around its training heads, the trainer's optimizer)."""
    keras.utils.set_random_seed(run.settings.seed)
    make_reproducible(world)
    keras.mixed_precision.set_global_policy(run.settings.precision)
    model = models.build(run.arch, len(run.store["classes"]), run.spec, run.section)
    if run.sampling.consensus:
        inputs, heads, head_weights = segmental_consensus(model, run.sampling.segments)
    else:
        inputs = model.inputs
        heads, head_weights = models.training_heads(run.arch, model, run.section)
    trainer = distributed.DistributedModel(inputs=inputs, outputs=heads[0] if len(heads) == 1 else keras.ops.stack(heads, axis=1))
    trainer.compile(
        optimizer=run.recipe.make_optimizer(world.size, run.settings.epochs, steps, models.rate_scales(run.arch, model, run.section)),
        loss=ClassificationLoss(run.recipe.label_smoothing, head_weights),
        metrics=[HeadAccuracy()],
        jit_compile=run.settings.xla,
    )
    # Under mixed_float16 compile() wrapped the optimizer in a LossScaleOptimizer, whose loss scale
    # is state too: trainer.optimizer (the wrapper) is what is saved and restored.
    return model, trainer, trainer.optimizer


def checkpoint_dir(run: Run, params: config.Params) -> Path:
    # Which machines run the ranks does not change the result: a job resubmitted on other nodes resumes.
    shared = params.train.model_dump(exclude={"hosts"})
    manifest = file_digest(run.paths.frames / "manifest.csv")
    parts = (run.arch, run.section.model_dump(), shared, run.sampling.as_dict(), run.store, run.settings.seed, manifest)
    return run.paths.checkpoints / checkpoints.config_hash(*parts)


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
        source(run, videos.my_train),
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
        source(run, videos.my_val),
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
        live = Live(str(run.paths.live), report=None, save_dvc_exp=False, dvcyaml=None)
        callbacks += [LiveLogger(live, checkpoint.history), keras.callbacks.TensorBoard(str(run.paths.logs))]
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
    elif best_weights is not None:
        trainer.set_weights(best_weights)  # nothing was left to train: early stopping's choice, as the finished run had it
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
    model = models.build(run.arch, len(run.store["classes"]), run.spec, run.section)
    model.set_weights(trained)
    return model, in_sync


def save_outputs(run: Run, model, history: list[dict], val_predictions: Predictions, summary: dict) -> None:
    """The model directory (model, what inference needs, history, validation predictions) and the metrics."""
    out = run.paths.out
    with atomic_file(out / "model.keras", ".tmp.keras") as tmp:
        model.save(tmp)
    # Everything inference needs to turn a new video into this model's input exactly as here.
    meta = {
        "classes": run.store["classes"],
        "input": run.kind.name,
        "input_size": run.size,
        "sampling": run.sampling.as_dict(),
        "store": {k: run.store[k] for k in ("short_side", "fps", "quality")},
    }
    if run.kind.flow:
        flow = json.loads((run.paths.flow / "flow.json").read_text())
        meta["flow"] = {"method": flow["method"], "bound": flow["bound"], "quality": flow["quality"]}
    write_json(out / "classes.json", meta)
    write_json(out / "history.json", history)
    val_predictions.write(out / "val_predictions.csv")  # for the ensemble's own validation score
    write_json(run.paths.metrics, summary)
    checkpoints.remove(run.paths.checkpoints)


def train(arch: str, params: config.Params, world: distributed.World, paths: TrainPaths) -> dict:
    """Train one architecture (resuming its last checkpoint) and, on rank 0, write its outputs."""
    run = prepare(arch, params, paths)
    videos = split_videos(run, world)
    model, trainer, optimizer = build_trainer(run, world, videos.steps)
    ckpt_dir = checkpoint_dir(run, params)
    state, best_weights = resume(trainer, optimizer, ckpt_dir, world)
    if world.is_chief:
        announce(run, videos, world, model, state["epoch"] if state else 0)
    history = fit(run, videos, trainer, world, ckpt_dir, state, best_weights)
    model, in_sync = float32_model(run, model, optimizer, world)
    validation, val_predictions = {}, None
    if world.is_chief:
        store = run.store
        validation, val_predictions = validate_videos(
            run.module,
            model,
            source(run, videos.val),
            run.sampling,
            run.size,
            store["classes"],
            store["class_kinds"],
            run.settings.batch_size,
        )
    best = min(history, key=lambda r: r["val_loss"])
    summary = {
        "architecture": arch,
        "input": run.kind.name,
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
