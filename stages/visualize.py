"""visualize: sample frames per class and the class distribution per split, under plots/dataset/."""

from pathlib import Path

from actionrec import cli, config, viz

STORE, OUT = Path("data/frames"), Path("plots/dataset")


def main() -> None:
    params = config.load_params()
    OUT.mkdir(parents=True, exist_ok=True)
    viz.sample_grid(STORE, OUT / "samples.png", config.positive_int(params, "visualize.samples_per_class"), config.get(params, "seed"))
    viz.class_distribution(STORE, OUT / "class_distribution.png", OUT / "class_distribution.csv")
    print(f"visualize: wrote {', '.join(sorted(p.name for p in OUT.iterdir()))}")


if __name__ == "__main__":
    cli.run(main)
