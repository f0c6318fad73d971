"""visualize: sample frames per class and the class distribution per split.

python -m stages.visualize data/frames plots/dataset
"""

import argparse
from pathlib import Path

import pandas as pd

from actionrec import cli, config
from actionrec.data.framestore import middle_frames_per_class, read_manifest
from actionrec.evaluate import plots
from actionrec.io import atomic_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", type=Path, help="the frame store")
    parser.add_argument("out", type=Path, help="the folder for the figures and the class distribution (CSV)")
    args = parser.parse_args()
    params = config.load()
    samples = middle_frames_per_class(args.frames, params.visualize.samples_per_class, params.seed)
    plots.samples_png(samples, args.out / "samples.png", "The middle frame of random videos per class")
    manifest = pd.DataFrame(read_manifest(args.frames))
    counts = manifest.groupby(["class_name", "split"]).size().unstack(fill_value=0).reindex(columns=["train", "test"], fill_value=0)
    with atomic_file(args.out / "class_distribution.csv") as tmp:
        counts.reset_index().to_csv(tmp, index=False)
    plots.class_distribution_png(counts, args.out / "class_distribution.png", "Videos per class and split")
    print(f"visualize: wrote {', '.join(sorted(p.name for p in args.out.iterdir()))}")


if __name__ == "__main__":
    cli.run(main)
