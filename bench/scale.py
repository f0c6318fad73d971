"""Training throughput of every architecture at the UCF101 profile's input sizes, and what a full
UCF101 epoch costs at that rate.

    python bench/scale.py                       # all nine, profile sizes, this machine's device
    python bench/scale.py --archs conv3d two_stream --batch 8 --steps 5
    python bench/scale.py --quick               # a smoke run: batch 2, 1 timed step

For each trainable architecture: the compiled train step on an in-memory batch of the shape the
profile's settings give it (``architectures.<arch>.input_size``, its ``sampling``:
``clip_len`` frames for clip models, one frame per example for frame models; ``flow.stack``
fields for two-stream; ``train.batch_size`` unless --batch), timed after warm-up, in float32
and, on a GPU, in mixed precision; printed as clips (or frames) per second, the mixed/float32
ratio, and the extrapolated time of one epoch over UCF101 split 1's 9,537 training videos (a
frame model's epoch is ``sampling.segments`` frames per video). The input pipeline is not part
of this number (bench/train.py and bench/input.py measure it). Models use ``weights: null``
here: the cost is the same as with ImageNet weights, and nothing needs downloading.
`horovodrun -np 2` against `-np 1` is measured by bench/train.py.

Where the profile sets none of an architecture's ``input_size``/``sampling``, params.yaml's
value is used, and the run says so; profile keys params.yaml no longer has are listed (they
change nothing).
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

import common  # noqa: E402  (bench/common.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

import models  # noqa: E402
from actionrec import config  # noqa: E402
from actionrec.data import kinds  # noqa: E402
from actionrec.errors import ParamError  # noqa: E402
from actionrec.train.settings import read_sampling  # noqa: E402

UCF101_TRAIN_VIDEOS = 9537  # split 1


def stale_keys(overrides: dict) -> list[str]:
    """Profile keys that params.yaml lacks outside the architectures (left over from an older layout)."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    stale = []
    for key in overrides:
        if key.startswith("architectures."):
            continue
        try:
            config.get(base, key)
        except ParamError:
            stale.append(key)
    return stale


def input_of(params: dict, arch: str, input_size: int | None) -> tuple[models.InputSpec, object]:
    """The architecture's example shape, as the train stage derives it from params (spec, sampling)."""
    kind = models.get(arch).INPUT
    sampling = read_sampling(config.check(config.Params, params), arch, kind)
    size = input_size or params["architectures"][arch]["input_size"]
    frames = sampling.kind.frames_per_example(sampling.clip_len)
    return models.InputSpec(frames=frames, height=size, width=size, flow_stack=sampling.flow_stack), sampling


def model_params(params: dict, arch: str):
    """The architecture's model settings, with random weights: the same cost, nothing to download."""
    settings = models.model_settings(arch, params["architectures"][arch])
    return settings.model_copy(update={"weights": None}) if "weights" in type(settings).model_fields else settings


def batch_for(arch: str, spec: models.InputSpec, batch: int, classes: int):
    rng = np.random.default_rng(0)
    kind = kinds.get(models.get(arch).INPUT)
    pixels = lambda *shape: rng.uniform(0, 255, shape).astype("float32")  # noqa: E731
    rgb = pixels(batch, spec.height, spec.width, 3) if kind.per_frame else pixels(batch, spec.frames, spec.height, spec.width, 3)
    flow = pixels(batch, spec.flow_stack, spec.height, spec.width, 2) if kind.flow else None
    return kind.model_input(rgb, flow), rng.integers(0, classes, batch)


def examples_per_second(arch: str, params: dict, spec, batch: int, steps: int, mixed: bool, classes: int = 101) -> float:
    from actionrec.train.settings import bfloat16_gpu

    # The policy train.mixed_precision: auto picks on this GPU.
    keras.mixed_precision.set_global_policy(("mixed_bfloat16" if bfloat16_gpu() else "mixed_float16") if mixed else "float32")
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
    parser.add_argument("--archs", nargs="+", default=list(models.ARCHITECTURES))
    parser.add_argument("--batch", type=int, help="examples per step (default: the profile's train.batch_size; quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 5, quick 1)")
    parser.add_argument("--input-size", type=int, default=None, help="override every architecture's input_size")
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 2, 1 timed step")
    args = parser.parse_args()
    steps = args.steps or (1 if args.quick else 5)

    params, overrides = common.profile_params(args.profile)
    batch = args.batch or (2 if args.quick else params["train"]["batch_size"])
    gpu = bool(tf.config.list_physical_devices("GPU"))
    device = tf.config.list_physical_devices("GPU")[0].name if gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"profile {args.profile}: batch {batch}, {steps} timed steps; device {device}")
    stale = stale_keys(overrides)
    if stale:
        print(f"  profile keys params.yaml no longer has (ignored): {', '.join(stale)}")
    defaulted = [
        f"{a}.{k}"
        for a in args.archs
        for k in ("input_size", "sampling")
        if f"architectures.{a}.{k}" not in overrides and not any(o.startswith(f"architectures.{a}.{k}.") for o in overrides)
    ]
    if defaulted and args.input_size is None:
        print(f"  not set by the profile, params.yaml's value used: {', '.join(defaulted)}")
    print("frame models: an example is a frame, and an epoch draws sampling.segments frames per video\n")
    print(f"{'architecture':22} {'example':>22} {'examples/s fp32':>16} {'mixed':>10} {'mixed/fp32':>11} {'epoch (fp32)':>14}")
    for arch in args.archs:
        spec, sampling = input_of(params, arch, args.input_size)
        shape = f"{spec.height}x{spec.width}" if sampling.kind.per_frame else f"{spec.frames}x{spec.height}x{spec.width}"
        shape += f" +{spec.flow_stack} flow" if spec.flow_stack else ""
        fp32 = examples_per_second(arch, params, spec, batch, steps, mixed=False)
        mixed = examples_per_second(arch, params, spec, batch, steps, mixed=True) if gpu else None
        examples = UCF101_TRAIN_VIDEOS * sampling.examples_per_video()
        epoch_min = examples / fp32 / 60
        mixed_text = f"{mixed:10.1f} {mixed / fp32:10.2f}x" if mixed else f"{'n/a':>10} {'(no GPU)':>11}"
        print(f"{arch:22} {shape:>22} {fp32:16.1f} {mixed_text} {epoch_min:11.1f} min", flush=True)
    if not gpu:
        print(
            "\nNo GPU here: mixed precision is not measured (on CPU it only adds casts). "
            "Run this script on the GPU machine for per-GPU figures."
        )
    if args.quick:
        print("(--quick: batch 2 and one timed step: the rates only show that every model builds and trains)")


if __name__ == "__main__":
    main()
