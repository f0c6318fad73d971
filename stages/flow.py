"""flow: dense optical flow between consecutive stored frames, for the two-stream model.

python -m stages.flow data/frames data/flow
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.data.flow import build_flow_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", type=Path, help="the frame store")
    parser.add_argument("out", type=Path, help="the flow store to write")
    args = parser.parse_args()
    flow = config.load().flow
    summary = build_flow_store(
        args.frames, args.out, method=flow.method, bound=flow.bound, quality=flow.quality, workers=config.cores(flow.workers)
    )
    print(
        f"flow: {summary['videos']} videos, {summary['fields']} fields ({summary['method']}, bound {summary['bound']}, "
        f"{summary['bytes_per_field']:.0f} bytes each)"
    )


if __name__ == "__main__":
    cli.run(main)
