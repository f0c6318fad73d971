"""Frame extraction benchmark: ratios measured side by side in one run on the same videos.

    python bench/extract.py [--videos 60] [--frames 150 180] [--size 320 240] [--workers 2]

Compares, on one set of synthetic videos at UCF101's resolution (320x240, 150-180 frames,
written once into a temporary directory):
  naive        single process, cv2.VideoCapture.read() of every frame, keeps the sampled ones
               (the original project's way), then resizes them;
  decode-only  single process, grab() of every frame and nothing else: the decoding limit;
  extract      the pipeline's extract stage (grab + retrieve only the sampled frames, resize,
               write the store and manifest) with --workers processes.
Goals: naive / extract >= 1.7 with 2 workers; extract x workers / decode-only <= 1.25.
Also reads the frame store back (np.load of every video) to show the store is not a bottleneck.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from actionrec import synthetic, ucf101
from actionrec.framestore import extract, read_manifest
from actionrec.video import sample_indices


def naive(paths: list[Path], count: int, size: tuple[int, int]) -> None:
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
        [cv2.resize(frames[i], size) for i in sample_indices(len(frames), count)]


def decode_only(paths: list[Path]) -> None:
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        while cap.grab():
            pass
        cap.release()


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=60, help="approximate number of videos")
    parser.add_argument("--frames", type=int, nargs=2, default=(150, 180))
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240))
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # every contender decodes with one thread per process
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        classes = len(synthetic.CLASSES)
        groups = max(8, -(-args.videos // classes))
        raw = work / "raw"
        synthetic.generate(raw, groups=groups, clips_per_group=1, frames=tuple(args.frames), size=tuple(args.size), seed=0)
        paths = [raw / rel for rel in ucf101.find_videos(raw)]
        total_frames = sum(int(cv2.VideoCapture(str(p)).get(cv2.CAP_PROP_FRAME_COUNT)) for p in paths)
        print(f"{len(paths)} videos, {total_frames} frames of {args.size[0]}x{args.size[1]}, sampling {args.count}, workers {args.workers}")

        t_naive = timed(naive, paths, args.count, (112, 112))
        t_decode = timed(decode_only, paths)
        t_extract = timed(
            extract, raw, work / "frames", split=1, count=args.count, size=(112, 112), workers=args.workers, strict=True
        )
        rows = read_manifest(work / "frames")
        t_read = timed(lambda: [np.load(work / "frames" / r["frames"]) for r in rows])

        print(f"{'naive read() baseline':28s} {t_naive:7.2f} s  {len(paths) / t_naive:7.1f} videos/s")
        print(f"{'decode-only limit (grab)':28s} {t_decode:7.2f} s  {len(paths) / t_decode:7.1f} videos/s")
        print(f"{'extract stage':28s} {t_extract:7.2f} s  {len(paths) / t_extract:7.1f} videos/s")
        print(f"{'frame store read-back':28s} {t_read:7.2f} s  {len(rows) / t_read:7.1f} videos/s")
        speedup = t_naive / t_extract
        per_worker = t_extract * args.workers / t_decode
        print(f"speed-up over naive baseline: {speedup:.2f}x   (goal >= 1.7 with 2 workers)")
        print(f"time per worker / decode-only: {per_worker:.2f}x   (goal <= 1.25)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
