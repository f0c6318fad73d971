"""download: materialise the selected dataset (params ``data.*``) in UCF101 layout.

python -m stages.download data/raw metrics/download.json
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.data.sources import prepare_dataset
from actionrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the dataset folder to write (UCF101 layout)")
    parser.add_argument("report", type=Path, help="what was selected and skipped (JSON)")
    args = parser.parse_args()
    params = config.load()
    report = prepare_dataset(params.data, args.out, seed=params.seed, cache_dir=Path(params.data.cache_dir))
    write_json(args.report, report)
    print(f"download: {report}")


if __name__ == "__main__":
    cli.run(main)
