"""Training throughput of every architecture at the UCF101 profile's input size, and what a full
UCF101 epoch costs at that rate.

    python bench/scale.py                       # all nine, profile sizes, this machine's device
    python bench/scale.py --archs conv3d two_stream --batch 8 --steps 5

For each trainable architecture: the compiled train step on an in-memory batch of the profile's
shape (frames.size, frames.count / train.clip_frames, train.batch_size unless --batch), timed
after warm-up, in float32 and, on a GPU, in mixed precision; printed as clips (or frames) per
second, the mixed/float32 ratio, and the extrapolated time of one epoch over UCF101 split 1's
9,537 training videos. The input pipeline is not part of this number (bench/train.py shows it is
not the bottleneck). Models use ``weights: null`` here: the cost is the same as with ImageNet
weights, and nothing needs downloading. `horovodrun -np 2` against `-np 1` is measured by
bench/train.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

import models  # noqa: E402
from actionrec import profiles  # noqa: E402

UCF101_TRAIN_VIDEOS = 9537  # split 1


def profile_settings(name: str) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    overrides = dict(profiles.leaves(profiles.load(str(ROOT / "profiles" / f"{name}.yaml"))))
    for key, value in overrides.items():
        node = params
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return params


def model_params(params: dict, arch: str) -> dict:
    p = dict(params["architectures"][arch])
    for key in models.TRAINER_KEYS:
        p.pop(key, None)
    if "weights" in p:
        p["weights"] = None  # same cost, nothing to download
    return p


def batch_for(arch: str, spec: models.InputSpec, batch: int, classes: int):
    rng = np.random.default_rng(0)
    kind = models.get(arch).INPUT
    pixels = lambda *shape: rng.uniform(0, 255, shape).astype("float32")  # noqa: E731
    if kind == "frames":
        x = pixels(batch, spec.height, spec.width, 3)
    elif kind == "clip":
        x = pixels(batch, spec.frames, spec.height, spec.width, 3)
    else:
        x = {"rgb": pixels(batch, spec.frames, spec.height, spec.width, 3), "flow": pixels(batch, spec.frames - 1, spec.height, spec.width, 2)}
    return x, rng.integers(0, classes, batch)


def examples_per_second(arch: str, params: dict, spec, batch: int, steps: int, mixed: bool, classes: int = 101) -> float:
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(0)
    model = models.build(arch, classes, spec, model_params(params, arch))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    x, y = batch_for(arch, spec, batch, classes)
    model.train_on_batch(x, y)  # trace and warm up
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - start
    keras.backend.clear_session()
    return batch * steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="ucf101", help="profiles/<name>.yaml whose sizes to use (default ucf101)")
    parser.add_argument("--archs", nargs="+", default=[a for a in models.ARCHITECTURES if a != "ensemble"])
    parser.add_argument("--batch", type=int, help="examples per step (default: the profile's train.batch_size)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    args = parser.parse_args()

    params = profile_settings(args.profile)
    (w, h), count = params["frames"]["size"], params["frames"]["count"]
    clip = params["train"].get("clip_frames") or count
    batch = args.batch or params["train"]["batch_size"]
    per_clip = params["train"]["frames_per_clip"]
    gpu = bool(tf.config.list_physical_devices("GPU"))
    device = tf.config.list_physical_devices("GPU")[0].name if gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"profile {args.profile}: {w}x{h} frames, clips of {clip}, batch {batch}; device {device}")
    print("frame models: an example is a frame, and an epoch draws train.frames_per_clip "
          f"= {per_clip} frames per video\n")
    print(f"{'architecture':22} {'examples/s fp32':>16} {'mixed':>10} {'mixed/fp32':>11} {'epoch (fp32)':>14}")
    for arch in args.archs:
        spec = models.InputSpec(frames=count if models.get(arch).INPUT == "frames" else clip, height=h, width=w)
        fp32 = examples_per_second(arch, params, spec, batch, args.steps, mixed=False)
        mixed = examples_per_second(arch, params, spec, batch, args.steps, mixed=True) if gpu else None
        examples = UCF101_TRAIN_VIDEOS * (per_clip if models.get(arch).INPUT == "frames" else 1)
        epoch_min = examples / fp32 / 60
        mixed_text = f"{mixed:10.1f} {mixed / fp32:10.2f}x" if mixed else f"{'n/a':>10} {'(no GPU)':>11}"
        print(f"{arch:22} {fp32:16.1f} {mixed_text} {epoch_min:11.1f} min")
    if not gpu:
        print("\nNo GPU here: mixed precision is not measured (on CPU it only adds casts). "
              "Run this script on the GPU machine for per-GPU figures.")


if __name__ == "__main__":
    main()
