"""train@<arch>: train one architecture on the frame store (run under horovodrun).

    horovodrun -np 2 -H localhost:2 python -m stages.train conv3d --frames data/frames ...

dvc.yaml passes every path. If a rank dies, horovodrun stops the others and exits non-zero;
every rank still alive says why it stopped. dvc.yaml then runs
``python -m stages.train <arch> --checkpoints ... --after-failure``, which names the checkpoint
``dvc repro`` resumes from (see actionrec/train/failures.py).
"""

import argparse

import models
from actionrec import cli, config
from actionrec.train import failures

PATHS = {
    "frames": "the frame store",
    "flow": "the flow store (read by two-stream models)",
    "out": "the trained model's directory",
    "metrics": "the training summary (JSON)",
    "live": "DVCLive's directory",
    "checkpoints": "this architecture's per-epoch checkpoints",
    "logs": "TensorBoard's directory",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("architecture")
    cli.add_paths(parser, PATHS, required=False)  # --after-failure needs --checkpoints alone
    parser.add_argument(
        "--after-failure",
        action="store_true",
        help="run after horovodrun failed (dvc.yaml does): say which checkpoint `dvc repro` resumes from (needs --checkpoints only)",
    )
    args = parser.parse_args()
    needed = ["checkpoints"] if args.after_failure else list(PATHS)
    missing = [f"--{name}" for name in needed if getattr(args, name) is None]
    if missing:
        parser.error("the following arguments are required: " + ", ".join(missing))
    if args.after_failure:
        failures.after_failure(args.architecture, args.checkpoints)
    from actionrec.cluster import distributed  # imports TensorFlow: after argparse, so that --help stays instant

    models.get(args.architecture)  # unknown name: fails at once, listing the valid ones
    params = config.load()
    world = distributed.init()
    from actionrec.train.settings import TrainPaths
    from actionrec.train.training import train

    paths = TrainPaths(**{name: getattr(args, name) for name in PATHS})
    who = f"train {args.architecture}: rank {world.rank} of {world.size}"
    summary = failures.run_rank(lambda: train(args.architecture, params, world, paths), who)
    if world.is_chief:
        print(
            f"train {args.architecture}: val_accuracy {summary['val_accuracy']:.3f} after {summary['epochs_run']} epochs "
            f"({summary['train_seconds']} s)"
        )


if __name__ == "__main__":
    cli.run(main)
