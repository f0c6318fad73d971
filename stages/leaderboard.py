"""leaderboard: every architecture's test metrics and costs side by side (JSON, CSV, Markdown, PNG)."""

from actionrec import cli
from actionrec.evaluate.reporting import leaderboard_rows, write_leaderboard


def main() -> None:
    rows = leaderboard_rows()
    write_leaderboard(rows)
    print("leaderboard (top-1): " + ", ".join(f"{r['architecture']} {r['top1']:.3f}" for r in rows))


if __name__ == "__main__":
    cli.run(main)
