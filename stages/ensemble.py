"""ensemble: combine the members' test predictions (``ensemble.members``, ``ensemble.method``).

    python -m stages.ensemble --predictions data/predictions --models data/models --trained metrics/train \
        --evaluated metrics/evaluate --frames data/frames --out data/models/ensemble
"""

import argparse

from actionrec import cli, config
from actionrec.evaluate import ensemble

PATHS = {
    "predictions": "the members' test predictions, <name>.csv",
    "models": "the members' model directories, <name>/ (validation predictions)",
    "trained": "the members' training summaries, <name>.json",
    "evaluated": "the members' test metrics, <name>.json",
    "frames": "the frame store (its class kinds)",
    "out": "the ensemble's directory to write",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_paths(parser, PATHS)
    args = parser.parse_args()
    summary = ensemble.build(
        config.load().ensemble,
        predictions=args.predictions,
        models_dir=args.models,
        trained=args.trained,
        evaluated=args.evaluated,
        frames=args.frames,
        out=args.out,
    )
    weights = ", ".join(f"{m} {w:.3f}" for m, w in summary["weights"].items())
    print(f"ensemble ({summary['method']}): {weights}")


if __name__ == "__main__":
    cli.run(main)
