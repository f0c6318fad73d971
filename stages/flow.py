"""flow: dense optical flow between consecutive stored frames, for the two-stream model.

python -m stages.flow data/frames data/flow
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.data.flow import METHODS, build_flow_store
from actionrec.errors import ParamError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", type=Path, help="the frame store")
    parser.add_argument("out", type=Path, help="the flow store to write")
    args = parser.parse_args()
    params = config.load_params()
    bound = config.get(params, "flow.bound")
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound <= 0:
        raise ParamError("flow.bound", bound, "a positive number of pixels")
    summary = build_flow_store(
        args.frames,
        args.out,
        method=config.choice(params, "flow.method", METHODS),
        bound=float(bound),
        quality=config.jpeg_quality(params, "flow.quality"),
        workers=config.workers(params, "flow.workers"),
    )
    print(
        f"flow: {summary['videos']} videos, {summary['fields']} fields ({summary['method']}, bound {summary['bound']}, "
        f"{summary['bytes_per_field']:.0f} bytes each)"
    )


if __name__ == "__main__":
    cli.run(main)
