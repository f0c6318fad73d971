"""Dense frame store extraction benchmark: contenders side by side in one run on the same videos.

    python bench/extract.py [--videos 60] [--frames 150 200] [--workers 2] [--short-side 128] [--quality 90]
    python bench/extract.py --quick                 # a smoke run: 8 videos, no goal is meaningful
    python bench/extract.py --raw data/raw --videos 100   # real videos instead (a UCF101-layout directory)

On one set of UCF101-like videos (320x240, 25 fps, 150-200 frames; synthetic clips written with
XVID, UCF101's codec, where this OpenCV can write it; cached between runs, see bench/common.py):

  naive        one process: ``cap.read()`` of every frame, all kept in memory, then each resized
               to the short side (as the stage: INTER_LINEAR below a 2x shrink), JPEG-encoded and the pack written.
               Its packs must be byte-identical to the stage's (checked: same work, same output);
  extract      ``framestore.extract`` (the extract stage's function) with ``--workers`` processes:
               decode, resize, encode as each frame arrives, one pack per video, manifest;
  decode-only  one process, ``grab()`` + ``retrieve()`` of every frame and nothing else: the
               decoding limit a worker cannot beat.

Ratios: naive / extract (goal >= 1.7x with 2 workers) and the time per worker against decode-only
(extract's wall time x workers / decode-only, goal <= 2x; also from the CPU seconds the workers
used, which other load on the machine does not inflate). A single-process loop over the same
videos then splits one worker's time into decode, resize, colour conversion (the stage converts
BGR -> RGB after the resize and back before the encoder), encode and pack + write.

Size: bytes per stored frame at ``--short-side``/``--quality`` (default: the profile's
frames.short_side and frames.quality, ucf101: 128 and 90) and the projection to UCF101 (13,320
videos, 2,484,199 frames: the count usually quoted, ~27 h at 25 fps; --ucf101-frames to change
it). The flow store (``flow.build_flow_store`` on this store, the profile's flow.method/bound/
quality, ucf101: farneback, 20, 90) is measured the same way: bytes per field (both components),
UCF101 fields = frames - videos. Goal: at most 20 GB each. The CPU hours the two stages would
take over UCF101 at the measured rates are printed beside.
The synthetic clips (a still camera, one object, a textured background) compress better than
real footage, and give less flow: take the sizes from a ``--raw`` run on real UCF101 videos.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import common
import cv2

from actionrec import config
from actionrec.data import ucf101
from actionrec.data.flow import build_flow_store
from actionrec.data.framestore import extract, frames_path, pack, read_manifest
from actionrec.data.video import stored_size
from actionrec.io import write_bytes

GOAL_SPEEDUP, GOAL_PER_WORKER, GOAL_GB = 1.7, 2.0, 20.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def naive(raw: Path, rels: list[str], out: Path, short_side: int, quality: int) -> int:
    """The straightforward way: read everything, then resize, encode and write. Returns frames."""
    total = 0
    for rel in rels:
        cap = cv2.VideoCapture(str(raw / rel))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
        size = stored_size(frames[0].shape[1], frames[0].shape[0], short_side)
        interpolation = cv2.INTER_AREA if frames[0].shape[1] >= 2 * size[0] else cv2.INTER_LINEAR  # as video.resize_rgb
        small = [cv2.resize(f, size, interpolation=interpolation) if (f.shape[1], f.shape[0]) != size else f for f in frames]
        jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes() for f in small]
        write_bytes(frames_path(out, rel), pack(jpegs))
        total += len(frames)
    return total


def decode_only(raw: Path, rels: list[str]) -> int:
    total = 0
    for rel in rels:
        cap = cv2.VideoCapture(str(raw / rel))
        while cap.grab():
            cap.retrieve()
            total += 1
        cap.release()
    return total


def breakdown(raw: Path, rels: list[str], out: Path, short_side: int, quality: int) -> dict[str, float]:
    """CPU seconds per phase of the stage's per-frame work (video.decode_video + framestore.encode_video).

    CPU time of the process (``time.process_time``: every thread, FFmpeg's included), so other
    jobs on the machine do not inflate a phase; the phases run in the stage's order, frame by frame.
    """
    t = dict.fromkeys(("decode", "resize", "colour", "encode", "pack + write"), 0.0)
    clock = time.process_time
    for rel in rels:
        cap = cv2.VideoCapture(str(raw / rel))
        jpegs, size = [], None
        while True:
            t0 = clock()
            if not cap.grab():
                t["decode"] += clock() - t0
                break
            ok, frame = cap.retrieve()
            t1 = clock()
            if size is None:
                size = stored_size(frame.shape[1], frame.shape[0], short_side)
                interpolation = cv2.INTER_AREA if frame.shape[1] >= 2 * size[0] else cv2.INTER_LINEAR  # as video.resize_rgb
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=interpolation)
            t2 = clock()
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # video.resize_rgb
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # framestore.encode_jpeg
            t3 = clock()
            jpegs.append(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
            t4 = clock()
            t["decode"] += t1 - t0
            t["resize"] += t2 - t1
            t["colour"] += t3 - t2
            t["encode"] += t4 - t3
        cap.release()
        t0 = clock()
        write_bytes(frames_path(out, rel), pack(jpegs))
        t["pack + write"] += clock() - t0
    return t


def pool_startup(workers: int) -> None:
    """Start and stop the stage's process pool (spawn) doing nothing: a fixed part of extract's time."""
    from actionrec.data.framestore import _init_worker

    with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        pool.map(abs, range(workers))


def decode_threads(raw: Path, rels: list[str]) -> dict[str, float]:
    """CPU us per frame of decode-only with FFmpeg's default threads and with one (the stage's workers).

    ``cv2.setNumThreads(1)`` does not reach FFmpeg's decoder: a ``VideoCapture`` decodes with one
    thread per core (``CAP_PROP_N_THREADS``) unless told, so the stage's workers ask for one.
    """
    out = {}
    for name, opener in (
        (f"FFmpeg's default (CAP_PROP_N_THREADS {threads_of(raw / rels[0])})", lambda p: cv2.VideoCapture(str(p))),
        ("CAP_PROP_N_THREADS 1 (the stage's workers)", lambda p: cv2.VideoCapture(str(p), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])),
    ):
        frames, start = 0, time.process_time()
        for rel in rels:
            cap = opener(raw / rel)
            while cap.grab():
                cap.retrieve()
                frames += 1
            cap.release()
        out[name] = (time.process_time() - start) / frames * 1e6
    return out


def threads_of(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    threads = int(cap.get(cv2.CAP_PROP_N_THREADS))
    cap.release()
    return threads


def resize_alternatives(raw: Path, rel: str, short_side: int) -> dict[str, float]:
    """CPU us per frame of other ways to make the same size (not what the stage does; for comparison)."""
    cap = cv2.VideoCapture(str(raw / rel))
    frames = []
    while cap.grab():
        frames.append(cap.retrieve()[1])
    cap.release()
    size = stored_size(frames[0].shape[1], frames[0].shape[0], short_side)
    half = (frames[0].shape[1] // 2, frames[0].shape[0] // 2)
    ways = {
        "INTER_AREA": lambda f: cv2.resize(f, size, interpolation=cv2.INTER_AREA),
        "INTER_LINEAR (the stage below a 2x shrink)": lambda f: cv2.resize(f, size, interpolation=cv2.INTER_LINEAR),
        "INTER_AREA to 1/2, then INTER_LINEAR": lambda f: cv2.resize(
            cv2.resize(f, half, interpolation=cv2.INTER_AREA), size, interpolation=cv2.INTER_LINEAR
        ),
    }
    out = {}
    for name, fn in ways.items():
        start = time.process_time()
        for f in frames:
            fn(f)
        out[name] = (time.process_time() - start) / len(frames) * 1e6
    return out


def timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process, CPU seconds of reaped children)."""
    c0, k0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
    return result, wall, time.process_time() - c0, children


def cpu_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} CPU hours"


def same_packs(a: Path, b: Path, rels: list[str]) -> bool:
    return all(frames_path(a, r).read_bytes() == frames_path(b, r).read_bytes() for r in rels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=None, help="videos (default 60, quick 8)")
    parser.add_argument(
        "--frames", type=int, nargs="+", default=None, metavar="N", help="frames per video: N, or MIN MAX (default 150 200)"
    )
    parser.add_argument("--workers", type=int, default=2, help="extract processes (default 2)")
    parser.add_argument("--profile", default="ucf101", help="profiles/<name>.yaml for the store and flow settings (default ucf101)")
    parser.add_argument("--short-side", type=int, default=None, help="default: the profile's frames.short_side (ucf101: 128)")
    parser.add_argument("--quality", type=int, default=None, help="default: the profile's frames.quality (ucf101: 90)")
    parser.add_argument("--fourcc", default=None, help="codec of the synthetic videos (default: XVID, else mp4v, else MJPG)")
    parser.add_argument("--raw", type=Path, default=None, help="use real videos from this UCF101-layout directory instead")
    parser.add_argument("--ucf101-frames", type=int, default=common.UCF101_FRAMES)
    parser.add_argument("--no-flow", action="store_true", help="skip the flow store (its size)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 videos of 150-160 frames")
    args = parser.parse_args()
    videos = args.videos or (8 if args.quick else 60)
    frames = tuple(args.frames or ((150, 160) if args.quick else (150, 200)))
    if len(frames) not in (1, 2):
        parser.error("--frames takes N or MIN MAX")
    params, _ = common.profile_params(args.profile)
    typed = config.check(config.Params, params)
    args.short_side = args.short_side or typed.frames.short_side
    args.quality = args.quality or typed.frames.quality
    cv2.setNumThreads(1)  # every contender: one OpenCV thread per process (the stage's workers do the same)
    sys.stdout.reconfigure(line_buffering=True)
    load = os.getloadavg()[0]

    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        if args.raw:
            raw, info = common.real_subset(args.raw, videos, work / "raw")
        else:
            raw, info = common.synthetic_videos(videos, frames, fourcc=args.fourcc)
        rels = [v.path for v in ucf101.index_dataset(raw, 1)]
        source = "synthetic clips" if info["source"] == "synthetic" else f"videos of {info['source']}"
        print(
            f"{len(rels)} {source}, {info['frames']} frames ({info['frames'] / len(rels):.0f} per video), "
            f"codec {info['fourcc']}, {info['bytes'] / info['frames']:.0f} bytes per video frame "
            f"(UCF101: ~{common.UCF101_RAR_BYTES / common.UCF101_FRAMES:.0f}); short side {args.short_side}, "
            f"JPEG quality {args.quality}; {os.cpu_count()} CPU cores, load average {load:.2f}"
        )

        # Warm the page cache (and the codec's first-use costs) so no contender pays for them alone.
        decode_only(raw, rels[:2])
        n_naive, t_naive, c_naive, _ = timed(naive, raw, rels, work / "naive", args.short_side, args.quality)
        n_decode, t_decode, c_decode, _ = timed(decode_only, raw, rels)
        summary, t_extract, _, c_workers = timed(
            extract,
            raw,
            work / "frames",
            split=1,
            short_side=args.short_side,
            fps=None,
            quality=args.quality,
            workers=args.workers,
            strict=True,
        )
        _, t_pool, _, c_pool = timed(pool_startup, args.workers)
        phases = breakdown(raw, rels, work / "breakdown", args.short_side, args.quality)
        rows = read_manifest(work / "frames")
        identical = same_packs(work / "naive", work / "frames", rels)
        every_frame = summary["frames"] == n_decode == n_naive

        n = len(rels)
        print(f"\n{'':34s} {'wall':>8s} {'CPU':>8s} {'videos/s':>9s} {'frames/s':>9s}")
        for name, wall, cpu in (
            ("naive read() + resize/encode, 1 proc", t_naive, c_naive),
            (f"framestore.extract, {args.workers} workers", t_extract, c_workers),
            ("decode-only (grab+retrieve), 1 proc", t_decode, c_decode),
        ):
            print(f"{name:34s} {wall:7.2f}s {cpu:7.2f}s {n / wall:9.1f} {n_decode / wall:9.0f}")
        print(
            f"  (extract includes starting its pool of {args.workers} processes: {t_pool:.2f} s wall, {c_pool:.2f} CPU s, "
            "measured alone; extract's CPU is the workers' own)"
        )
        print(
            f"  stored frames = decoded frames: {'yes' if every_frame else 'NO'} ({summary['frames']} stored, {n_decode} decoded); "
            f"naive packs byte-identical to extract's: {'yes' if identical else 'NO'}"
        )

        total = sum(phases.values())
        print(f"\none worker's time, by phase (CPU seconds, a single-process loop over the same {n} videos, {n_decode} frames):")
        for name, seconds in phases.items():
            print(f"  {name:14s} {seconds:6.2f} s {seconds / n_decode * 1e6:7.0f} us/frame {seconds / total:6.1%}")
        print(f"  {'total':14s} {total:6.2f} s {total / n_decode * 1e6:7.0f} us/frame   = {total / phases['decode']:.2f}x its decode")
        print("  decode-only in CPU us per frame, FFmpeg's threads (all videos):")
        for name, us in decode_threads(raw, rels).items():
            print(f"    {name:46s} {us:6.0f}")
        print("  the same resize done otherwise (CPU us per frame, first video; not what the stage does):")
        for name, us in resize_alternatives(raw, rels[0], args.short_side).items():
            print(f"    {name:46s} {us:6.0f}")

        speedup = t_naive / t_extract
        per_worker = t_extract * args.workers / t_decode
        per_worker_cpu = (c_workers - c_pool) / c_decode  # the workers' CPU less what starting them costs
        goals = [
            f"extract vs naive: {speedup:.2f}x   (goal >= {GOAL_SPEEDUP} with 2 workers)   {verdict(speedup >= GOAL_SPEEDUP)}",
            f"time per worker / decode-only: {per_worker:.2f}x wall   (goal <= {GOAL_PER_WORKER})   {verdict(per_worker <= GOAL_PER_WORKER)}"
            f"   [CPU seconds, pool start-up excluded: {per_worker_cpu:.2f}x; phase loop: {total / phases['decode']:.2f}x]",
        ]

        # --- sizes ---------------------------------------------------------------------------------
        frame_bytes = summary["bytes"] / summary["frames"]
        ucf_frames = args.ucf101_frames
        frames_total = frame_bytes * ucf_frames
        size = (rows[0]["width"], rows[0]["height"])
        print(
            f"\nframe store: {summary['bytes'] / 2**20:.1f} MiB for {summary['frames']} frames of {size[0]}x{size[1]}: "
            f"{frame_bytes:.0f} bytes per frame (pack headers included)"
        )
        print(
            f"  UCF101 projection: {ucf_frames:,} frames x {frame_bytes:.0f} B = {common.gb(frames_total)}; "
            f"extraction {cpu_hours((c_workers - c_pool) / summary['frames'] * ucf_frames)} at this rate"
        )
        goals.append(
            f"UCF101 frame store: {frames_total / 1e9:.1f} GB   (goal <= {GOAL_GB:.0f} GB)   {verdict(frames_total / 1e9 <= GOAL_GB)}"
        )
        if not args.no_flow:
            flow = config.check(config.Params, params).flow
            method, bound, quality = flow.method, flow.bound, flow.quality
            flow, t_flow, _, c_flow = timed(
                build_flow_store, work / "frames", work / "flow", method=method, bound=bound, quality=quality, workers=args.workers
            )
            field_bytes = flow["bytes"] / flow["fields"]
            c_flow = max(c_flow - c_pool, 0.0)  # less starting the pool, as for extract
            ucf_fields = ucf_frames - common.UCF101_VIDEOS
            flow_total = field_bytes * ucf_fields
            print(
                f"flow store ({method}, bound {bound:g}, quality {quality}): {flow['bytes'] / 2**20:.1f} MiB for {flow['fields']} fields: "
                f"{field_bytes:.0f} bytes per field (x and y); built in {t_flow:.1f} s with {args.workers} workers "
                f"({c_flow / flow['fields'] * 1e3:.1f} CPU ms per field)"
            )
            print(
                f"  UCF101 projection: {ucf_fields:,} fields (frames - videos) x {field_bytes:.0f} B = {common.gb(flow_total)}; "
                f"flow {cpu_hours(c_flow / flow['fields'] * ucf_fields)} at this rate"
            )
            goals.append(
                f"UCF101 flow store: {flow_total / 1e9:.1f} GB   (goal <= {GOAL_GB:.0f} GB)   {verdict(flow_total / 1e9 <= GOAL_GB)}"
            )
        if info["source"] == "synthetic":
            print(
                "  (synthetic clips: a still camera and smooth textures compress better and move less than UCF101's "
                "footage; take the sizes from a --raw run on real videos)"
            )

        print(f"\n--- goals (load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end)")
        for line in goals:
            print(line)
        if args.quick:
            print("(--quick: too few videos for the timings to mean much; the pool start-up weighs on extract)")
        if not (identical and every_frame):
            sys.exit("bench/extract.py: the stores disagree (see above)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
