"""download: materialise the selected dataset (params ``data.*``) in UCF101 layout under data/raw."""

from pathlib import Path

from actionrec import cli, config
from actionrec.data.sources import prepare_dataset
from actionrec.io import write_json

RAW = Path("data/raw")
REPORT = Path("metrics/download.json")


def main() -> None:
    params = config.load_params()
    data = config.get(params, "data")
    report = prepare_dataset(data, RAW, seed=config.get(params, "seed"), cache_dir=Path(data.get("cache_dir") or "data/downloads"))
    write_json(REPORT, report)
    print(f"download: {report}")


if __name__ == "__main__":
    cli.run(main)
