"""ensemble: combine the members' test predictions (``ensemble.members``, ``ensemble.method``).

    python -m stages.ensemble --predictions data/predictions --models data/models --trained metrics/train \
        --evaluated metrics/evaluate --frames data/frames --out data/models/ensemble
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.evaluate import ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True, help="the members' test predictions, <name>.csv")
    parser.add_argument("--models", type=Path, required=True, help="the members' model directories, <name>/ (validation predictions)")
    parser.add_argument("--trained", type=Path, required=True, help="the members' training summaries, <name>.json")
    parser.add_argument("--evaluated", type=Path, required=True, help="the members' test metrics, <name>.json")
    parser.add_argument("--frames", type=Path, required=True, help="the frame store (its class kinds)")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's directory to write")
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
