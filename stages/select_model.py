"""select_model: check the ``model`` param before anything is trained for it.

The report stage's dependencies are paths built from ``${model}``; for an unknown name they
would only fail, with a bare "No such file", once the stage is reached. This stage has no
dependencies but the param, so DVC runs it first and a typo fails at once with the valid names.
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.evaluate import entries
from actionrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="the checked name to write (JSON)")
    args = parser.parse_args()
    name = entries.check_scored(config.load().model)
    write_json(args.out, {"model": name})
    print(f"select_model: {name}")


if __name__ == "__main__":
    cli.run(main)
