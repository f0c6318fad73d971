"""leaderboard: every architecture's test metrics and costs side by side (JSON, CSV, Markdown, PNG).

    python -m stages.leaderboard --trained metrics/train --evaluated metrics/evaluate \
        --ensemble data/models/ensemble --out plots/leaderboard --metrics metrics/leaderboard.json
"""

import argparse

from actionrec import cli
from actionrec.evaluate.reporting import leaderboard_rows, write_leaderboard

PATHS = {
    "trained": "training summaries, <name>.json",
    "evaluated": "test metrics, <name>.json",
    "ensemble": "the ensemble's directory (its members)",
    "out": "the directory of tables and figure to write",
    "metrics": "the leaderboard as DVC metrics (JSON) to write",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_paths(parser, PATHS)
    args = parser.parse_args()
    rows = leaderboard_rows(trained=args.trained, evaluated=args.evaluated, ensemble_dir=args.ensemble)
    write_leaderboard(rows, out=args.out, metrics_file=args.metrics)
    print("leaderboard (top-1): " + ", ".join(f"{r['architecture']} {r['top1']:.3f}" for r in rows))


if __name__ == "__main__":
    cli.run(main)
