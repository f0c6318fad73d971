"""train@<arch>: train one architecture on the frame store (run under horovodrun).

    horovodrun -np 2 -H localhost:2 python -m stages.train conv3d
"""

import argparse

from actionrec import cli, config, distributed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("architecture")
    args = parser.parse_args()
    import models  # after argparse: --help stays instant

    models.get(args.architecture)  # unknown name: fails at once, listing the valid ones
    params = config.load_params()
    world = distributed.init()
    from actionrec.training import train

    summary = train(args.architecture, params, world)
    if world.is_chief:
        print(f"train {args.architecture}: val_accuracy {summary['val_accuracy']:.3f} after {summary['epochs_run']} epochs "
              f"({summary['train_seconds']} s)")  # fmt: skip


if __name__ == "__main__":
    cli.run(main)
