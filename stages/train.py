"""train@<arch>: train one architecture on the frame store (run under horovodrun).

    horovodrun -np 2 -H localhost:2 python -m stages.train conv3d

If a rank dies, horovodrun stops the others and exits non-zero; every rank still alive says why it
stopped. dvc.yaml then runs ``python -m stages.train <arch> --after-failure``, which names the
checkpoint ``dvc repro`` resumes from (see actionrec/train/failures.py).
"""

import argparse

import models
from actionrec import cli, config
from actionrec.train import failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("architecture")
    parser.add_argument(
        "--after-failure",
        action="store_true",
        help="run after horovodrun failed (dvc.yaml does): say which checkpoint `dvc repro` resumes from",
    )
    args = parser.parse_args()
    if args.after_failure:
        failures.after_failure(args.architecture)
    from actionrec.cluster import distributed  # imports TensorFlow: after argparse, so that --help stays instant

    models.get(args.architecture)  # unknown name: fails at once, listing the valid ones
    params = config.load_params()
    world = distributed.init()
    from actionrec.train.training import train

    who = f"train {args.architecture}: rank {world.rank} of {world.size}"
    summary = failures.run_rank(lambda: train(args.architecture, params, world), who)
    if world.is_chief:
        print(
            f"train {args.architecture}: val_accuracy {summary['val_accuracy']:.3f} after {summary['epochs_run']} epochs "
            f"({summary['train_seconds']} s)"
        )


if __name__ == "__main__":
    cli.run(main)
