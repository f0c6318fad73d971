"""Precise batch-norm statistics (PySlowFast's ``BN.USE_PRECISE_STATS``), measured on the trained
models: does recomputing the moving statistics with the final weights change validation?

    python bench/precise_bn.py                         # the five CNNs trained from scratch
    python bench/precise_bn.py --archs conv3d --batches 400

For each architecture it loads ``data/models/<arch>/model.keras`` (what the train stage wrote:
early stopping's best weights), rebuilds the stage's training and validation videos (params.yaml's
seed and ``train.val_groups``) and scores the validation videos as the stage does (centre view,
video level) twice: with the moving statistics training left, then after replacing every batch
norm layer's moving mean and variance by their average over ``--batches`` augmented training
batches run forward in training mode with the final weights (PySlowFast: 200 batches). The
average is exact, not exponential: batch k updates with momentum k / (k + 1).

Prints, per architecture, validation accuracy (overall, motion, appearance) and the validation
videos' mean log-loss before and after, and how far the statistics moved. Choose on these
validation figures only; the test split is not read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from actionrec import config  # noqa: E402
from actionrec.cluster import distributed  # noqa: E402
from actionrec.data.inputs import make_dataset  # noqa: E402
from actionrec.train.settings import TrainPaths, prepare  # noqa: E402
from actionrec.train.training import source, split_videos, validate_videos  # noqa: E402

SCRATCH = ["basic_cnn", "vgg", "cnn_lstm", "conv3d", "two_stream"]  # the models whose batch norm trains


def batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every batch-norm layer that trains, nested models (FrameWise's frame encoder) included."""
    return [layer for layer in distributed.layers_of(model) if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def precise_statistics(model: keras.Model, batches, count: int) -> float:
    """Replace the moving statistics by their exact average over ``count`` batches; returns the
    largest relative change of a moving variance (how stale the trained statistics were)."""
    layers = batch_norms(model)
    before = [np.array(layer.moving_variance) for layer in layers]
    momentum = [layer.momentum for layer in layers]
    for k, (x, _) in enumerate(batches.take(count)):
        for layer in layers:
            layer.momentum = k / (k + 1)  # k = 0: the batch's own statistics; then a running mean
        if x.shape.rank == len(model.input.shape) + 1:  # a frame model's consensus example: a video's K frames
            x = keras.ops.reshape(x, (-1, *x.shape[2:]))
        model(x, training=True)
    for layer, value in zip(layers, momentum):
        layer.momentum = value
    return max(float(np.max(np.abs(np.array(layer.moving_variance) / np.maximum(b, 1e-6) - 1))) for layer, b in zip(layers, before))


def scores(run, model, val_source, store) -> dict:
    result, predictions = validate_videos(
        run.module, model, val_source, run.sampling, run.size, store["classes"], store["class_kinds"], run.settings.batch_size
    )
    picked = predictions.probabilities[np.arange(len(predictions.labels)), predictions.labels]
    return {
        "top1": result["val_video_accuracy"],
        "motion": result.get("val_accuracy_motion"),
        "appearance": result.get("val_accuracy_appearance"),
        "log_loss": float(-np.mean(np.log(np.maximum(picked, 1e-7)))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=SCRATCH)
    parser.add_argument("--batches", type=int, default=200, help="training batches the statistics are averaged over")
    parser.add_argument("--models", type=Path, default=ROOT / "data/models")
    args = parser.parse_args()
    params = config.load(ROOT / "params.yaml")
    world = distributed.World(rank=0, size=1, local_rank=0)
    rows = []
    for arch in args.archs:
        paths = TrainPaths(ROOT / "data/frames", ROOT / "data/flow", args.models / arch, *(Path("unused"),) * 4)
        run = prepare(arch, params, paths)
        videos = split_videos(run, world)
        model = keras.models.load_model(args.models / arch / "model.keras")
        if not batch_norms(model):
            print(f"{arch}: no batch norm that trains, skipped")
            continue
        keras.utils.set_random_seed(run.settings.seed)
        train = make_dataset(
            source(run, videos.train),
            run.sampling,
            input_size=run.size,
            batch_size=run.settings.batch_size,
            training=True,
            seed=run.settings.seed,
            augment=run.augment,
            steps_per_epoch=videos.steps,
        )
        val_source = source(run, videos.val)
        before = scores(run, model, val_source, run.store)
        started = time.perf_counter()
        moved = precise_statistics(model, train, args.batches)
        seconds = time.perf_counter() - started
        after = scores(run, model, val_source, run.store)
        rows.append((arch, before, after, moved))
        print(f"{arch}: {len(batch_norms(model))} batch norm layers, {args.batches} batches in {seconds:.0f} s", flush=True)

    print(f"\nvalidation videos, trained statistics -> precise statistics ({args.batches} training batches)")
    print(f"{'architecture':<14} {'top-1':>15} {'motion':>15} {'appearance':>15} {'log-loss':>15} {'max var change':>15}")
    for arch, before, after, moved in rows:
        cells = ["-" if before[k] is None else f"{before[k]:.3f} -> {after[k]:.3f}" for k in ("top1", "motion", "appearance", "log_loss")]
        print(f"{arch:<14} " + " ".join(f"{c:>15}" for c in cells) + f" {moved:>15.1%}")


if __name__ == "__main__":
    main()
