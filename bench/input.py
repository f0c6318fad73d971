"""Input pipeline throughput per CPU core at the UCF101 profile's sizes, against merely decoding the same frames.

    python bench/input.py [--seconds 5] [--videos 20] [--batch 32] [--profile ucf101]
    python bench/input.py --quick            # a smoke run: 8 videos, 1.5 s per measurement

The frame store is built once by ``framestore.extract`` at the profile's frames.short_side and
frames.quality (ucf101: 128 and 90) from written 320x240 25 fps videos of 150-200 frames (XVID
where this OpenCV can write it; see bench/common.py), its flow store by
``flow.build_flow_store`` at the profile's flow.method/bound/quality; both are cached in the
temp directory for the next run. Three training streams (``inputs.make_dataset(...,
training=True)``), each with its architecture's sampling, input_size and augmentation in the
profile (read as the train stage reads them; ucf101: the multi-scale crop of scales 1, .875,
.75, .66 of the short side resized to 112, and a horizontal flip):

  clip        conv3d's: 16 consecutive frames (clip_len 16, frame_interval 1), 112x112;
  frames      basic_cnn's (TSN): 3 segments, one 112x112 frame each (an example is a frame);
  clip+flow   two_stream's: an 8-frame RGB clip and a stack of flow.stack = 10 flow fields
              (20 grayscale images) centred on it, 112x112.

Per core: ``make_dataset(parallel=1)`` (the map's num_parallel_calls=1) and ``tf.data.Options``
with a private thread pool of 1 thread and max_intra_op_parallelism 1; TensorFlow's own inter/
intra-op pools are set to 1 thread too. In the same run and with the same settings, a
"decode-only" stream reads the same packs, picks the same frames (``sampling.train_indices`` with
the same seeds) and only ``tf.io.decode_jpeg``s them at full size (INTEGER_ACCURATE, as the
pipeline; no crop, resize, flip or cast), batched alike; and a "read-only" stream stops before
decoding (``read_file`` + the pack header).

Rates are per CPU second of this process (``time.process_time``: every thread, the tf.data and
prefetch threads included), so other jobs on the machine barely change them; the wall rates are
printed beside. Goals: clip >= 250 clips per CPU second, and every stream >= 0.5x its decode-only
rate. Then one clip's cost step by step, with cheaper ways to do the costly steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402

GOAL_CLIPS, GOAL_RATIO = 250.0, 0.5
STREAMS = {"clip": "conv3d", "frames": "basic_cnn", "clip+flow": "two_stream"}  # stream -> the architecture whose settings it uses
DCT = "INTEGER_ACCURATE"  # as examples._decode


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def build_stores(videos: int, frames: tuple[int, int], store_params: dict, flow_params: dict) -> tuple[Path, Path]:
    """(frames store, flow store) for ``videos`` written videos, cached under the bench cache."""
    import shutil

    from actionrec.data.flow import build_flow_store
    from actionrec.data.framestore import extract

    raw, info = common.synthetic_videos(videos, frames)
    code = tuple(common.REPO / f"actionrec/{m}.py" for m in ("framestore", "video", "flow"))
    key = common.digest("input-stores", raw.name, store_params, flow_params, files=code)
    root = common.cache_root() / f"input-stores-{key}"
    frames_dir, flow_dir = root / "frames", root / "flow"
    if (flow_dir / "flow.json").is_file():
        print(f"stores cached at {root}")
        return frames_dir, flow_dir
    shutil.rmtree(root, ignore_errors=True)
    workers = len(os.sched_getaffinity(0))
    started = time.perf_counter()
    extract(raw, frames_dir, split=1, **store_params, workers=workers, strict=True)
    build_flow_store(frames_dir, flow_dir, workers=workers, **flow_params)
    print(f"built the stores at {root} from {info['videos']} {info['fourcc']} videos in {time.perf_counter() - started:.0f} s")
    return frames_dir, flow_dir


def per_core(ds, tf):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def decode_only(source, sampling, batch: int, seed: int, tf, decode: bool):
    """The same packs and frames as make_dataset's training stream, only read (and decoded at full size)."""
    from actionrec.data.examples import _flow_images, _images
    from actionrec.data.inputs import epoch_order
    from actionrec.data.sampling import flow_indices, train_indices

    rows = source.rows
    frames = tf.constant([str(Path(source.frames_root) / r["frames"]) for r in rows])
    flows = tf.constant([str(Path(source.flow_root) / r["frames"]) for r in rows])
    counts = tf.constant([r["num_frames"] for r in rows], tf.int32)
    n = len(rows)

    def jpegs(images, channels):
        if not decode:
            return tf.strings.length(images)  # read + parse only
        return tf.map_fn(
            lambda j: tf.io.decode_jpeg(j, channels=channels, dct_method=DCT),
            images,
            fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8),
        )

    def load(position, index):
        # The seeds make_dataset's training stream uses for the frame indices of this element.
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), position]), 4)
        indices = train_indices(sampling, counts[index], seeds[0])
        out = [jpegs(_images(tf.io.read_file(frames[index]), indices), 3)]
        if sampling.flow_stack:
            fields = flow_indices(sampling, indices, counts[index])
            out.append(jpegs(_images(tf.io.read_file(flows[index]), _flow_images(fields)), 1))
        return tuple(out)

    ds = epoch_order(n, seed).map(load, num_parallel_calls=1, deterministic=True)
    if sampling.kind.per_frame:
        ds = ds.unbatch()
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def phase_breakdown(source, scales: tuple[float, ...], size: int, length: int, reps: int, tf) -> list[tuple[str, float, bool]]:
    """CPU ms per ``length``-frame clip of each step of a training clip, one thread, as graph functions.

    Returns (step, ms, whether the pipeline does it); the "alt" lines are what the same step costs
    done another way. Crops are drawn by ``sampling.train_crop`` as in training (4 of them,
    averaged). Each step is the best of 3 trials of ``reps`` calls, less the cost of calling an
    empty graph function the same way.
    """
    from actionrec.data.examples import _images
    from actionrec.data.sampling import train_crop

    row = source.rows[0]
    path = tf.constant(str(Path(source.frames_root) / row["frames"]))
    indices = tf.range(min(length, row["num_frames"]))
    h, w = row["height"], row["width"]
    windows = [train_crop(h, w, scales, tf.constant([0, i], tf.int64)) for i in range(4)]
    jpegs = _images(tf.io.read_file(path), indices)

    def crop(win):
        return tf.map_fn(lambda j: tf.io.decode_and_crop_jpeg(j, win, channels=3, dct_method=DCT), jpegs, fn_output_signature=tf.uint8)

    decoded = [crop(win) for win in windows]
    floats = [tf.cast(d, tf.float32) for d in decoded]
    size = [size, size]
    resized = [tf.image.resize(f, size) for f in floats]
    flip = tf.constant(True)
    steps = [
        ("read_file + pack header", lambda k: tf.strings.length(_images(tf.io.read_file(path), indices)), True),
        ("decode_and_crop_jpeg (the crop only)", lambda k: crop(windows[k]), True),
        (
            "  alt: decode_jpeg, whole frame",
            lambda k: tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3, dct_method=DCT), jpegs, fn_output_signature=tf.uint8),
            False,
        ),
        (
            "  alt: decode_jpeg, whole frame, INTEGER_FAST",
            lambda k: tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3, dct_method="INTEGER_FAST"), jpegs, fn_output_signature=tf.uint8),
            False,
        ),
        ("cast to float32", lambda k: tf.cast(decoded[k], tf.float32), True),
        ("resize, bilinear (no antialias)", lambda k: tf.image.resize(floats[k], size), True),
        ("  alt: resize, antialias=True", lambda k: tf.image.resize(floats[k], size, antialias=True), False),
        ("flip: cond(flip, reverse(float))", lambda k: tf.cond(flip, lambda: tf.reverse(resized[k], axis=[2]), lambda: resized[k]), True),
        ("  alt: where(scalar flip, reverse(float), float)", lambda k: tf.where(flip, tf.reverse(resized[k], axis=[2]), resized[k]), False),
        (
            "  alt: cond(flip, reverse(uint8 crop))",
            lambda k: tf.cond(flip, lambda: tf.reverse(decoded[k], axis=[2]), lambda: decoded[k]),
            False,
        ),
    ]

    def cost(make) -> float:
        fns = [tf.function(lambda k=k: make(k), autograph=False) for k in range(len(windows))]
        for f in fns:
            f()
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(reps):
                for f in fns:
                    f()
            best = min(best, (time.process_time() - start) / reps / len(fns))
        return best

    empty = cost(lambda k: indices[:1])
    return [(name, max(cost(make) - empty, 0.0) * 1e3, used) for name, make, used in steps]


def measure(ds, seconds: float, warmup: int, per_batch: int) -> tuple[float, float, float]:
    """(examples per CPU second, examples per wall second, CPU seconds / wall seconds)."""
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    examples, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while (wall := time.perf_counter() - wall0) < seconds or examples == 0:
        next(iterator)
        examples += per_batch
    cpu = time.process_time() - cpu0
    del iterator
    return examples / cpu, examples / wall, cpu / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 videos, 1.5 s per measurement")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement after warm-up (default 5, quick 1.5)")
    parser.add_argument("--videos", type=int, default=None, help="videos in the store (default 20, quick 8)")
    parser.add_argument("--frames", type=int, nargs=2, default=(150, 200), metavar=("MIN", "MAX"))
    parser.add_argument("--batch", type=int, default=32, help="examples per batch (default 32, train.batch_size)")
    parser.add_argument("--warmup", type=int, default=None, help="batches before timing (default 5, quick 2)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the step-by-step cost of one clip")
    parser.add_argument("--profile", default="ucf101", help="profiles/<name>.yaml whose settings to use (default ucf101)")
    parser.add_argument("--streams", nargs="+", choices=list(STREAMS), default=list(STREAMS))
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 5.0)
    videos = args.videos or (8 if args.quick else 20)
    warmup = args.warmup or (2 if args.quick else 5)
    sys.stdout.reconfigure(line_buffering=True)

    from actionrec import config

    params, _ = common.profile_params(args.profile)
    typed = config.check(config.Params, params)
    store_params = {
        "short_side": typed.frames.short_side,
        "fps": typed.frames.fps,
        "quality": typed.frames.quality,
    }
    flow_params = {
        "method": typed.flow.method,
        "bound": typed.flow.bound,
        "quality": typed.flow.quality,
    }
    frames_dir, flow_dir = build_stores(videos, tuple(args.frames), store_params, flow_params)

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    import models
    from actionrec.data.examples import Augment
    from actionrec.data.framestore import read_manifest
    from actionrec.data.inputs import Source, check_input_size, make_dataset
    from actionrec.train.settings import architecture, read_sampling

    rows = read_manifest(frames_dir)
    source = Source(frames_dir, rows, flow_dir)
    mean_frames = sum(r["num_frames"] for r in rows) / len(rows)
    load = os.getloadavg()[0]
    print(
        f"profile {args.profile}: store of {len(rows)} videos at {rows[0]['width']}x{rows[0]['height']} (short side "
        f"{store_params['short_side']}, quality {store_params['quality']}), {mean_frames:.0f} frames each on average; flow "
        f"{flow_params['method']} bound {flow_params['bound']:g}; batch {args.batch}; {seconds:g} s per measurement; "
        f"{os.cpu_count()} CPU cores, load average {load:.2f}"
    )

    results, settings = {}, {}
    for name in args.streams:
        arch = STREAMS[name]
        kind = models.get(arch).INPUT
        prefix = f"architectures.{arch}"
        section = architecture(typed, arch)  # as the train stage reads them
        sampling = read_sampling(typed, arch, kind)
        size = check_input_size(section.input_size, store_params["short_side"], f"{prefix}.input_size")
        augment = Augment.of(section.augment)
        settings[name] = (sampling, size, augment)
        per_video = sampling.examples_per_video()
        pipeline = per_core(
            make_dataset(source, sampling, input_size=size, batch_size=args.batch, training=True, seed=0, augment=augment, parallel=1), tf
        )
        x, _ = next(iter(pipeline))
        shapes = {k: tuple(v.shape) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape)
        rates = {"pipeline": measure(pipeline, seconds, warmup, args.batch)}
        for label, decode in (("decode-only", True), ("read-only", False)):
            rates[label] = measure(per_core(decode_only(source, sampling, args.batch, 0, tf, decode), tf), seconds, warmup, args.batch)
        results[name] = (sampling, per_video, shapes, rates)
        print(
            f"  {name:10s} {arch}'s sampling {sampling.as_dict()}, input {size}, augment scales {list(augment.scales)} "
            f"flip {augment.flip}: batches of {shapes}"
        )

    print("\nexamples per second: a clip (clip), a frame (frames: 3 per video), an RGB clip + flow stack (clip+flow)")
    print(
        f"{'stream':10s} {'contender':12s} {'per CPU s':>10s} {'per wall s':>11s} {'cores used':>11s} {'videos/CPU s':>13s} {'/ decode-only':>14s}"
    )
    goals = []
    for name, (_sampling, per_video, shapes, rates) in results.items():
        decode_rate = rates["decode-only"][0]
        for label, (cpu_rate, wall_rate, cores) in rates.items():
            ratio = f"{cpu_rate / decode_rate:13.2f}x" if label != "decode-only" else ""
            print(f"{name:10s} {label:12s} {cpu_rate:10.0f} {wall_rate:11.0f} {cores:11.2f} {cpu_rate / per_video:13.0f} {ratio}")
        pipeline_rate = rates["pipeline"][0]
        ratio = pipeline_rate / decode_rate
        if name == "clip":
            goals.append(
                f"clip ({'x'.join(map(str, shapes[1:-1]))}) {pipeline_rate:.0f} clips per CPU second   (goal >= {GOAL_CLIPS:.0f})   "
                f"{verdict(pipeline_rate >= GOAL_CLIPS)}"
            )
        goals.append(f"{name} pipeline / decode-only: {ratio:.2f}x   (goal >= {GOAL_RATIO})   {verdict(ratio >= GOAL_RATIO)}")
    if not args.no_breakdown:
        sampling, size, augment = settings.get("clip") or next(iter(settings.values()))
        length = sampling.length
        print(
            f"\none {length}-frame clip, step by step (CPU ms, one thread, graph functions, 4 training crops of the store's first video):"
        )
        steps = phase_breakdown(source, augment.scales, size, length, 5 if args.quick else 20, tf)
        for name, ms, _ in steps:
            print(f"  {name:48s} {ms:6.2f} ms")
        total = sum(ms for _, ms, used in steps if used)
        print(
            f"  {'the pipeline steps together':48s} {total:6.2f} ms = {1e3 / total:.0f} clips/s per core at most "
            f"(the batch copy and the tf.data machinery come on top)"
        )
    print(f"\n--- goals (load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end)")
    for line in goals:
        print(line)
    if args.quick:
        print("(--quick: short measurements on few videos; rates are indicative only)")


if __name__ == "__main__":
    main()
