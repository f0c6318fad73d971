"""Training benchmark: ratios measured side by side in one run on the synthetic data.

    python bench/train.py [--quick] [--parts input memory scaling reproducible] [--videos 1000] [--seconds 10]

Four parts (``--parts`` picks them; all four by default):

input     The input pipeline alone against the training step alone, for the fastest frame model
          (basic_cnn) and for conv3d (``--archs`` to choose; two_stream needs a flow store).
          "input" iterates ``actionrec.data.inputs.make_dataset(..., training=True, augment=...)``
          streaming from the dense frame store (--frames, default data/frames; a temporary
          synthetic one built from params.yaml when that is missing) with the architecture's
          own sampling (``settings.read_sampling``), ``input_size`` and augmentation, the
          training rows and the architecture's batch size in params.yaml, and nothing else. "train"
          calls the same model's compiled train step (the stage's horovod-aware model, under
          ``sampling.consensus`` the stage's segmental-consensus trainer around it; Adam, the same
          loss and metrics) with ``train_on_batch`` on one fixed batch already in memory, so no
          input work at all. Both are timed after a warm-up. Examples are counted as the model
          consumes them: a frame model's example is one frame (the pipeline reads a video's pack
          and decodes one frame in each of its ``sampling.segments`` segments), or under the
          consensus one video of K frames; a clip model's is one clip of ``sampling.clip_len``
          frames.
          Goal: input >= 3x what training consumes, so the pipeline never starves the model.

memory    Peak RSS of the real train stage (``python -m stages.train basic_cnn``, one process)
          at 1x and 4x the number of videos (--videos, default 1000 and 4000, rounded to whole
          clips per group of the synthetic set's 10 classes x 25 groups). Each size gets its
          own temporary working copy (params.yaml with data.synthetic.clips_per_group scaled and
          train.epochs --memory-epochs; frames.* as params.yaml) whose frame store is built by
          the real ``stages.download`` and ``stages.extract``. The peak is the child's own
          ru_maxrss, read with os.wait4 on that process alone by a small launcher.
          Goal: peak(4x) / peak(1x) < 1.15: the frame store streams, nothing loads the dataset.
          The output also shows the ratio holding the decoded frames (uint8) in memory would give.

scaling   ``horovodrun -np 2 -H localhost:2`` against ``-np 1`` running the same train stage
          (basic_cnn, --scaling-epochs epochs) in a temporary working copy that reads the frame
          store (--frames). Throughput = training examples per epoch (steps x batch x
          processes) / the epoch's seconds from data/models/basic_cnn/history.json, averaged over
          the epochs after the first (the first one traces the graph). Those seconds include the
          epoch's validation pass, which is sharded over the ranks too. No goal is set: on a
          2-core machine both ranks, their TensorFlow thread pools and the tf.data threads share
          the same two cores, and gradients are averaged with Gloo over loopback, so this shows
          the overhead of the distributed path rather than a speed-up; with a GPU (or enough
          cores) per rank the same command measures the real speed-up.

reproducible  What the stage's bit-exact setup (``actionrec.train.settings.make_reproducible``: op
          determinism plus one op at a time) costs, against op determinism alone, for basic_cnn,
          conv3d, cnn_lstm and pretrained_cnn_lstm at params.yaml's input_size and sampling. Each
          setting runs in its own fresh process (TensorFlow fixes its thread pools once per
          process), twice, alternating, on one fixed in-memory batch: --steps train steps after
          a warm-up, timed, then a digest of the weights. Output: ms per step for each setting,
          their ratio, and whether the two runs of a setting ended with bit-identical weights.
          Goal: every model bit-identical under the stage's setup.

Nothing is written inside the repository: the working copies live in a temporary directory
that is removed at the end. The default run takes a few minutes on 2 CPU cores; --quick is a
smoke run (shorter timings, 250/1000 videos, fewer epochs, a smaller temporary store).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ARCHS = ("basic_cnn", "conv3d")
PARTS = ("input", "memory", "scaling", "reproducible")
SYNTHETIC_CLASSES = 10  # classes of the synthetic set (actionrec.data.synthetic.CLASSES)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def child_env() -> dict:
    """Children run this checkout's code with this interpreter's environment (horovodrun included)."""
    path = os.environ.get("PYTHONPATH")
    return dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(REPO) + (os.pathsep + path if path else ""),
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    )


# Runs the measured command as its own child and writes that child's ru_maxrss (kB) to argv[1].
# Why a launcher: on Linux, exec records the high-water RSS of the memory image it replaces, and
# Python spawns with vfork, so a child started straight from this process (which holds TensorFlow
# after the input part) would report at least this process's peak. The launcher is a small
# fresh interpreter, so the figure is the train stage's own peak.
PEAK_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_stage(cwd: Path, *cmd: str, peak: bool = False) -> tuple[str, float, int | None]:
    """Run one command in ``cwd``; returns (output, wall seconds, peak RSS in bytes or None).

    With ``peak``, the peak is the command's own ru_maxrss, from os.wait4 on that one process
    (the maximum over its life, not a sum over children), taken by PEAK_LAUNCHER.
    """
    index = len(list(cwd.glob(".bench-*.log")))
    log, peak_file = cwd / f".bench-{index}.log", cwd / f".bench-{index}.peak"
    argv = (sys.executable, "-c", PEAK_LAUNCHER, str(peak_file), *cmd) if peak else cmd
    start = time.perf_counter()
    with open(log, "w+") as out:
        code = subprocess.run(argv, cwd=cwd, env=child_env(), stdout=out, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if code != 0:
        sys.exit(f"bench/train.py: `{' '.join(cmd)}` failed with exit code {code}:\n{text[-3000:]}")
    return text, seconds, int(peak_file.read_text()) * 1024 if peak else None


def base_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def write_params(root: Path, params: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def set_epochs(params: dict, arch: str, epochs: int) -> None:
    params["train"]["epochs"] = epochs
    params["architectures"][arch]["epochs"] = epochs


# --------------------------------------------------------------------------- the frame store the parts read


_STORES: dict[str, Path] = {}  # the stores resolved (or built) so far in this run


def resolve_stores(args, params: dict, work: Path, need_flow: bool) -> tuple[Path, Path | None]:
    """(frame store, flow store or None): --frames/--flow, else temporary ones built in ``work``.

    The temporary frame store is the synthetic set of params.yaml's data.synthetic (with --quick
    one clip per group) extracted with its frames.*, so the train stage accepts it as its own;
    a temporary flow store is built from whichever frame store is used. Nothing is written in
    the repository.
    """
    from actionrec import config
    from actionrec.data import synthetic
    from actionrec.data.flow import build_flow_store
    from actionrec.data.framestore import extract

    typed = config.check(config.Params, params)
    if "frames" not in _STORES:
        frames = (REPO / args.frames).resolve()
        if not (frames / "store.json").is_file():
            frames = work / "store" / "frames"
            syn = typed.data.synthetic.model_dump()
            if args.quick:
                syn["clips_per_group"] = 1
            print(
                f"(no frame store at {args.frames}: building a temporary synthetic one, {syn['groups']} groups x "
                f"{syn['clips_per_group']} clips x {len(synthetic.CLASSES)} classes, frames.* of params.yaml)"
            )
            raw = work / "store" / "raw"
            synthetic.generate(
                raw,
                groups=syn["groups"],
                clips_per_group=syn["clips_per_group"],
                frames=tuple(syn["frames"]),
                size=tuple(syn["size"]),
                fps=syn["fps"],
                seed=typed.seed,
            )
            extract(
                raw,
                frames,
                split=typed.data.split,
                short_side=typed.frames.short_side,
                fps=typed.frames.fps,
                quality=typed.frames.quality,
                workers=config.cores(typed.frames.workers),
                strict=False,
            )
        _STORES["frames"] = frames
    if need_flow and "flow" not in _STORES:
        flow = (REPO / args.flow).resolve()
        if not flow_of(flow, _STORES["frames"]):
            print(f"(no flow store of {_STORES['frames']} at {args.flow}: building a temporary one with flow.* of params.yaml)")
            flow = work / "store" / "flow"
            build_flow_store(
                _STORES["frames"],
                flow,
                method=typed.flow.method,
                bound=typed.flow.bound,
                quality=typed.flow.quality,
                workers=config.cores(typed.flow.workers),
            )
        _STORES["flow"] = flow
    return _STORES["frames"], _STORES.get("flow")


def flow_of(flow: Path, frames: Path) -> bool:
    """Whether ``flow`` is a flow store built from the frame store ``frames`` (flow.json's digests)."""
    from actionrec.io import file_digest

    info = flow / "flow.json"
    if not info.is_file():
        return False
    recorded = json.loads(info.read_text()).get("frame_store", {})
    return bool(recorded) and all(recorded.get(name) == file_digest(frames / name) for name in ("store.json", "manifest.csv"))


def example_count(x) -> int:
    return int((x["rgb"] if isinstance(x, dict) else x).shape[0])


# --------------------------------------------------------------------------- input vs train step


def bench_input(args, params: dict, work: Path) -> list[str]:
    import keras
    import tensorflow as tf

    import models
    from actionrec import config
    from actionrec.cluster import distributed
    from actionrec.data import kinds as input_kinds
    from actionrec.data.examples import Augment
    from actionrec.data.framestore import read_manifest, read_store
    from actionrec.data.inputs import Source, check_input_size, make_dataset
    from actionrec.train.settings import architecture, make_reproducible, read_sampling
    from actionrec.train.training import segmental_consensus, split_train_val

    kinds = {arch: models.get(arch).INPUT for arch in args.archs}
    frames, flow = resolve_stores(args, params, work, need_flow=any(input_kinds.get(kind).flow for kind in kinds.values()))
    typed = config.check(config.Params, params)
    store = read_store(frames, typed.frames)
    seed = typed.seed
    train_rows, _ = split_train_val(read_manifest(frames), typed.train.val_groups, seed)
    source = Source(frames, train_rows, flow)
    # As the stage does with one process (bit-exact reruns on CPU); it applies to both sides.
    make_reproducible(distributed.World(0, 1, 0))
    print(
        f"[input] frame store {frames}: {len(train_rows)} training videos, short side {store['short_side']}, "
        f"{args.seconds:g} s per measurement after warm-up, {os.cpu_count()} CPU cores"
    )

    results = []
    for arch, kind in kinds.items():
        section = architecture(typed, arch)  # as the train stage reads them
        augment = Augment.of(section.augment)
        sampling = read_sampling(typed, arch, kind)
        size = check_input_size(section.input_size, store["short_side"], f"architectures.{arch}.input_size")
        batch = args.batch_size or section.batch_size or typed.train.batch_size  # as the stage reads it
        ds = make_dataset(source, sampling, input_size=size, batch_size=batch, training=True, seed=seed, augment=augment)

        # Input pipeline alone: batches pulled as fast as it delivers them.
        iterator = iter(ds)
        for _ in range(args.warmup_batches):
            x, y = next(iterator)
        examples, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds:
            x, y = next(iterator)
            examples += example_count(x)
        input_rate = examples / elapsed
        del iterator  # stops its prefetch threads before the training side is timed
        gc.collect()

        # Training step alone, on the last batch, held in memory.
        keras.utils.set_random_seed(seed)
        spec = models.InputSpec(
            frames=sampling.kind.frames_per_example(sampling.clip_len), height=size, width=size, flow_stack=sampling.flow_stack
        )
        model = models.build(arch, len(store["classes"]), spec, section)
        if sampling.consensus:  # as the stage trains it: a video's K frames per example, the loss on their mean
            inputs, heads, _ = segmental_consensus(model, sampling.segments)
            trainer = distributed.DistributedModel(inputs=inputs, outputs=heads[0])
        else:
            trainer = distributed.DistributedModel(inputs=model.inputs, outputs=model.outputs)
        trainer.compile(
            optimizer=keras.optimizers.Adam(section.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=False,
        )
        x, y = tf.nest.map_structure(tf.identity, x), tf.identity(y)
        for _ in range(args.warmup_steps):
            trainer.train_on_batch(x, y)
        steps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds or steps < 3:
            trainer.train_on_batch(x, y)
            steps += 1
        train_rate = steps * example_count(x) / elapsed
        if sampling.consensus:
            unit = f"videos of {sampling.segments} frames of {size}x{size} (segmental consensus: 1 example = 1 video)"
        elif sampling.kind.per_frame:
            unit = f"frames of {size}x{size} (1 example = 1 frame, {sampling.segments} segments per video read)"
        else:
            unit = f"clips of {sampling.clip_len}x{size}x{size} (frame_interval {sampling.frame_interval})"
            unit += f" + {sampling.flow_stack} flow fields" if sampling.flow_stack else ""
        results.append((arch, f"{unit}, batch {batch}", sampling.training_examples_per_video(), input_rate, train_rate))
        del trainer, model
        keras.backend.clear_session()
        gc.collect()

    print(f"{'':20s} {'input pipeline':>16s} {'train step':>14s} {'input/train':>12s}   examples are")
    for arch, unit, _, input_rate, train_rate in results:
        print(f"{arch:20s} {input_rate:10.0f} ex/s {train_rate:8.0f} ex/s {input_rate / train_rate:11.1f}x   {unit}")
    for arch, _, per_video, input_rate, _ in results:
        if per_video > 1:
            print(f"  ({arch}: the pipeline's {input_rate:.0f} frames/s = {input_rate / per_video:.0f} videos/s read from the store)")
    return [f"input/train {arch}: {i / r:.1f}x   (goal >= 3)   {verdict(i / r >= 3)}" for arch, _, _, i, r in results]


# --------------------------------------------------------------------------- peak memory at 1x and 4x


def bench_memory(args, params: dict, work: Path) -> list[str]:
    from actionrec.data.framestore import read_manifest
    from actionrec.pipeline import stage_argv

    groups = params["data"]["synthetic"]["groups"]
    clips = max(1, round(args.videos / (SYNTHETIC_CLASSES * groups)))
    arch = "basic_cnn"
    print(
        f"[memory] train stage `python -m stages.train {arch}` ({args.memory_epochs} epoch(s)) on stores of "
        f"{SYNTHETIC_CLASSES} classes x {groups} groups x {clips} and x {4 * clips} clips, built by the real stages"
    )
    rows = []
    for scale in (1, 4):
        root = work / f"memory-{scale}x"
        p = copy.deepcopy(params)
        p["data"].update(source="synthetic", fraction=1.0, classes=None)
        p["data"]["synthetic"].update(groups=groups, clips_per_group=clips * scale)
        set_epochs(p, arch, args.memory_epochs)
        write_params(root, p)
        _, t_download, _ = run_stage(root, sys.executable, *stage_argv("download"))
        _, t_extract, _ = run_stage(root, sys.executable, *stage_argv("extract"))
        videos = json.loads((root / "data/frames/store.json").read_text())["videos"]
        size_mb = sum(f.stat().st_size for f in (root / "data/frames/videos").rglob("*.jpgs")) / 2**20
        decoded_mb = sum(r["num_frames"] * r["width"] * r["height"] * 3 for r in read_manifest(root / "data/frames")) / 2**20
        _, t_train, peak = run_stage(root, sys.executable, *stage_argv(f"train@{arch}"), peak=True)
        rows.append((scale, videos, size_mb, decoded_mb, t_download + t_extract, t_train, peak))
        shutil.rmtree(root, ignore_errors=True)

    print(f"{'':4s} {'videos':>7s} {'store (JPEG)':>13s} {'decoded':>10s} {'data stages':>12s} {'train stage':>12s} {'peak RSS':>10s}")
    for scale, videos, size_mb, decoded_mb, t_data, t_train, peak in rows:
        print(f"{scale}x   {videos:7d} {size_mb:10.0f} MB {decoded_mb:7.0f} MB {t_data:10.1f} s {t_train:10.1f} s {peak / 2**20:7.0f} MB")
    ratio = rows[1][-1] / rows[0][-1]
    # What the test would see if the stage held the decoded frames in memory (as uint8, the cheapest form).
    extra = rows[1][3] - rows[0][3]
    loaded = (rows[0][-1] + extra * 2**20) / rows[0][-1]
    print(f"  (holding the decoded frames in memory as uint8 would add {extra:.0f} MB at 4x: a ratio of {loaded:.2f})")
    return [f"peak RSS 4x / 1x videos: {ratio:.3f}   (goal < 1.15)   {verdict(ratio < 1.15)}"]


# --------------------------------------------------------------------------- horovod np 2 vs np 1


def bench_scaling(args, params: dict, work: Path) -> list[str]:
    from actionrec.pipeline import stage_argv

    frames, _ = resolve_stores(args, params, work, need_flow=False)
    arch = "basic_cnn"
    horovodrun = shutil.which("horovodrun", path=child_env()["PATH"])
    if horovodrun is None:
        sys.exit("bench/train.py: horovodrun not found next to this Python (run `make setup`)")
    print(
        f"[scaling] `horovodrun -np P -H localhost:P python -m stages.train {arch}`, {args.scaling_epochs} epochs, "
        f"store {frames} ({json.loads((frames / 'store.json').read_text())['videos']} videos), {os.cpu_count()} CPU cores"
    )
    rows = []
    for procs in (1, 2):
        root = work / f"scaling-np{procs}"
        p = copy.deepcopy(params)
        set_epochs(p, arch, args.scaling_epochs)
        p["train"].update(processes=procs, hosts=f"localhost:{procs}")
        write_params(root, p)
        (root / "data").mkdir()
        os.symlink(frames, root / "data" / "frames")  # read only: the stage writes models, logs, metrics in root
        cmd = (horovodrun, "-np", str(procs), "-H", f"localhost:{procs}", sys.executable, *stage_argv(f"train@{arch}"))
        output, wall, _ = run_stage(root, *cmd)
        found = re.search(r"(\d+) steps/epoch", output)
        if not found:
            sys.exit(f"bench/train.py: no 'steps/epoch' in the train stage's output:\n{output[-2000:]}")
        steps = int(found.group(1))
        history = json.loads((root / "data/models" / arch / "history.json").read_text())
        timed = history[1:] or history  # the first epoch also traces the graph
        seconds = statistics.mean(r["seconds"] for r in timed)
        examples = steps * p["train"]["batch_size"] * procs
        rows.append((procs, steps, examples, seconds, examples / seconds, wall))
        shutil.rmtree(root, ignore_errors=True)

    print(f"{'':6s} {'steps/epoch':>11s} {'examples/epoch':>15s} {'s/epoch':>8s} {'examples/s':>11s} {'stage wall':>11s}")
    for procs, steps, examples, seconds, rate, wall in rows:
        print(f"np {procs}  {steps:11d} {examples:15d} {seconds:8.2f} {rate:11.0f} {wall:9.1f} s")
    speedup = rows[1][4] / rows[0][4]
    print("  (examples = frames; s/epoch: mean over epochs 2+ from history.json, validation pass included)")
    return [
        f"horovod np 2 / np 1 throughput: {speedup:.2f}x   (ideal 2.0 with one device per rank; no goal on 2 CPU cores: "
        f"both ranks, their TF thread pools and the tf.data threads share 2 cores, gradients go through Gloo over loopback)"
    ]


# --------------------------------------------------------------------------- cost of bit-exact reruns

REPRODUCIBLE_ARCHS = ("basic_cnn", "conv3d", "cnn_lstm", "pretrained_cnn_lstm")

# One measurement in a fresh process: argv = arch, setting ("stage" | "ops-only"), warm-up steps, steps, batch.
# Prints "<ms per step> <digest of the weights after the steps>".
REPRODUCIBLE_CHILD = """
import hashlib, sys, time
import keras, numpy as np, tensorflow as tf, yaml
import models
from actionrec import config
from actionrec.cluster import distributed
from actionrec.train.settings import architecture, make_reproducible, read_sampling
arch, setting, warmup, steps, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
if setting == "stage":
    make_reproducible(distributed.World(0, 1, 0))
else:
    tf.config.experimental.enable_op_determinism()
params = yaml.safe_load(open("params.yaml"))
kind = models.get(arch).INPUT
typed = config.check(config.Params, params)
section = architecture(typed, arch)
sampling, size = read_sampling(typed, arch, kind), section.input_size
t = sampling.kind.frames_per_example(sampling.clip_len)
keras.utils.set_random_seed(config.get(params, "seed"))
model = models.build(arch, 10, models.InputSpec(t, size, size, sampling.flow_stack), section)
model.compile(optimizer=keras.optimizers.Adam(section.learning_rate), loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
pixels = lambda *shape: tf.constant(rng.integers(0, 256, shape).astype("float32"))
x = pixels(batch, size, size, 3) if sampling.kind.per_frame else pixels(batch, t, size, size, 3)
if sampling.flow_stack:
    x = {"rgb": x, "flow": pixels(batch, sampling.flow_stack, size, size, 2)}
y = tf.constant(rng.integers(0, 10, batch))
for _ in range(warmup):
    model.train_on_batch(x, y)
start = time.perf_counter()
for _ in range(steps):
    model.train_on_batch(x, y)
ms = (time.perf_counter() - start) / steps * 1000
digest = hashlib.sha1(b"".join(np.ascontiguousarray(v).tobytes() for v in model.get_weights())).hexdigest()
print(f"{ms:.2f} {digest[:16]}")
"""


def bench_reproducible(args, params: dict, work: Path) -> list[str]:
    from actionrec import config

    batch = args.batch_size or config.check(config.Params, params).train.batch_size
    settings = ("ops-only", "stage")  # op determinism alone; make_reproducible (plus one op at a time)
    print(
        f"[reproducible] {args.steps} train steps on one in-memory batch of {batch} after {args.warmup_steps} warm-up "
        f"steps, each setting twice in fresh processes, alternating; input_size and sampling of params.yaml"
    )
    write_params(work / "reproducible", params)
    rows, goals = [], []
    for arch in REPRODUCIBLE_ARCHS:
        runs: dict[str, list[tuple[float, str]]] = {k: [] for k in settings}
        for _ in range(2):
            for setting in settings:
                cmd = (sys.executable, "-c", REPRODUCIBLE_CHILD, arch, setting, str(args.warmup_steps), str(args.steps), str(batch))
                output, _, _ = run_stage(work / "reproducible", *cmd)
                ms, digest = output.strip().splitlines()[-1].split()
                runs[setting].append((float(ms), digest))
        row = {k: (statistics.mean(ms for ms, _ in v), len({d for _, d in v}) == 1) for k, v in runs.items()}
        rows.append((arch, row))
        goals.append(f"bit-identical reruns {arch}: {'yes' if row['stage'][1] else 'NO'}   (goal: yes)   {verdict(row['stage'][1])}")

    print(f"{'':20s} {'ms/step, ops only':>18s} {'identical':>9s} {'ms/step, stage':>15s} {'identical':>9s} {'stage/ops-only':>15s}")
    for arch, row in rows:
        (ms_ops, same_ops), (ms_stage, same_stage) = row["ops-only"], row["stage"]
        print(
            f"{arch:20s} {ms_ops:18.1f} {'yes' if same_ops else 'no':>9s} {ms_stage:15.1f} {'yes' if same_stage else 'no':>9s} "
            f"{ms_stage / ms_ops:14.2f}x"
        )
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s timings, 250/1000 videos, fewer epochs")
    parser.add_argument(
        "--frames",
        default="data/frames",
        help="frame store read by the input and scaling parts (relative: to the "
        "repository root; missing: a temporary synthetic one is built)",
    )
    parser.add_argument(
        "--flow", default="data/flow", help="flow store for two-stream models in the input part (missing: built from the frame store)"
    )
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), help=f"input part: architectures (default {' '.join(ARCHS)})")
    parser.add_argument("--batch-size", type=int, default=None, help="input part (default: each architecture's, as the stage)")
    parser.add_argument("--seconds", type=float, default=None, help="input part: seconds per measurement (default 10, quick 3)")
    parser.add_argument("--warmup-batches", type=int, default=20)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--videos", type=int, default=None, help="memory part: videos at 1x (default 1000, quick 250)")
    parser.add_argument("--memory-epochs", type=int, default=None, help="memory part: train.epochs (default 2, quick 1)")
    parser.add_argument("--scaling-epochs", type=int, default=None, help="scaling part: train.epochs (default 3, quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="reproducible part: timed train steps per run (default 20, quick 5)")
    args = parser.parse_args()
    for name, default, quick in (
        ("seconds", 10.0, 3.0),
        ("videos", 1000, 250),
        ("memory_epochs", 2, 1),
        ("scaling_epochs", 3, 2),
        ("steps", 20, 5),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stdout.reconfigure(line_buffering=True)  # each part's lines show as it ends (the run takes minutes)
    params = base_params()

    goals: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    started, load = time.perf_counter(), os.getloadavg()[0]
    print(f"{os.cpu_count()} CPU cores, 1-minute load average {load:.2f} at start (other jobs share the machine when > 0)")
    try:
        if "input" in args.parts:
            goals += bench_input(args, params, work)
        if "memory" in args.parts:
            goals += bench_memory(args, params, work)
        if "scaling" in args.parts:
            goals += bench_scaling(args, params, work)
        if "reproducible" in args.parts:
            goals += bench_reproducible(args, params, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"--- goals ({time.perf_counter() - started:.0f} s in all; load average {os.getloadavg()[0]:.2f} at the end)")
    for line in goals:
        print(line)


if __name__ == "__main__":
    main()
