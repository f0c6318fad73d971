"""visualize: sample frames per class and the class distribution per split, under plots/dataset/."""

from pathlib import Path

import pandas as pd

from actionrec import cli, config
from actionrec.data.framestore import middle_frames_per_class, read_manifest
from actionrec.evaluate import plots
from actionrec.io import atomic_file

STORE, OUT = Path("data/frames"), Path("plots/dataset")


def main() -> None:
    params = config.load_params()
    per_class = config.positive_int(params, "visualize.samples_per_class")
    samples = middle_frames_per_class(STORE, per_class, config.get(params, "seed"))
    plots.samples_png(samples, OUT / "samples.png", "The middle frame of random videos per class")
    manifest = pd.DataFrame(read_manifest(STORE))
    counts = manifest.groupby(["class_name", "split"]).size().unstack(fill_value=0).reindex(columns=["train", "test"], fill_value=0)
    with atomic_file(OUT / "class_distribution.csv") as tmp:
        counts.reset_index().to_csv(tmp, index=False)
    plots.class_distribution_png(counts, OUT / "class_distribution.png", "Videos per class and split")
    print(f"visualize: wrote {', '.join(sorted(p.name for p in OUT.iterdir()))}")


if __name__ == "__main__":
    cli.run(main)
