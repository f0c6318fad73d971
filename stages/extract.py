"""extract: every frame of every video, short side ``frames.short_side``, into the dense frame store.

python -m stages.extract data/raw data/frames
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.data import ucf101
from actionrec.data.framestore import extract
from actionrec.errors import ParamError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="the dataset folder (UCF101 layout)")
    parser.add_argument("out", type=Path, help="the frame store to write")
    args = parser.parse_args()
    params = config.load_params()
    split = config.get(params, "data.split")
    if split not in ucf101.SPLITS:
        raise ParamError("data.split", split, "one of 1, 2, 3")
    strict = config.get(params, "frames.strict")
    if not isinstance(strict, bool):
        raise ParamError("frames.strict", strict, "true or false")
    summary = extract(
        args.raw,
        args.out,
        split=split,
        short_side=config.positive_int(params, "frames.short_side", minimum=16),
        fps=config.frame_rate_cap(params, "frames.fps"),
        quality=config.jpeg_quality(params, "frames.quality"),
        workers=config.workers(params, "frames.workers"),
        strict=strict,
    )
    print(
        f"extract: {summary['videos']} videos ({summary['frames']} frames, {summary['bytes_per_frame']:.0f} bytes each) "
        f"in {len(summary['classes'])} classes, {summary['skipped']} skipped"
    )


if __name__ == "__main__":
    cli.run(main)
