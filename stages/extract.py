"""extract: every frame of every video, short side ``frames.short_side``, into the dense frame store.

python -m stages.extract data/raw data/frames
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.data.framestore import extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="the dataset folder (UCF101 layout)")
    parser.add_argument("out", type=Path, help="the frame store to write")
    args = parser.parse_args()
    params = config.load()
    frames = params.frames
    summary = extract(
        args.raw,
        args.out,
        split=params.data.split,
        short_side=frames.short_side,
        fps=frames.fps,
        quality=frames.quality,
        workers=config.cores(frames.workers),
        strict=frames.strict,
    )
    print(
        f"extract: {summary['videos']} videos ({summary['frames']} frames, {summary['bytes_per_frame']:.0f} bytes each) "
        f"in {len(summary['classes'])} classes, {summary['skipped']} skipped"
    )


if __name__ == "__main__":
    cli.run(main)
