"""leaderboard: every architecture's test metrics and costs side by side (JSON, CSV, Markdown, PNG).

    python -m stages.leaderboard --trained metrics/train --evaluated metrics/evaluate \
        --ensemble data/models/ensemble --out plots/leaderboard --metrics metrics/leaderboard.json
"""

import argparse
from pathlib import Path

from actionrec import cli
from actionrec.evaluate.reporting import leaderboard_rows, write_leaderboard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trained", type=Path, required=True, help="training summaries, <name>.json")
    parser.add_argument("--evaluated", type=Path, required=True, help="test metrics, <name>.json")
    parser.add_argument("--ensemble", type=Path, required=True, help="the ensemble's directory (its members)")
    parser.add_argument("--out", type=Path, required=True, help="the directory of tables and figure to write")
    parser.add_argument("--metrics", type=Path, required=True, help="the leaderboard as DVC metrics (JSON) to write")
    args = parser.parse_args()
    rows = leaderboard_rows(trained=args.trained, evaluated=args.evaluated, ensemble_dir=args.ensemble)
    write_leaderboard(rows, out=args.out, metrics_file=args.metrics)
    print("leaderboard (top-1): " + ", ".join(f"{r['architecture']} {r['top1']:.3f}" for r in rows))


if __name__ == "__main__":
    cli.run(main)
