"""ensemble: combine the members' test predictions (``ensemble.members``, ``ensemble.method``)."""

from actionrec import cli, config
from actionrec.evaluate import ensemble


def main() -> None:
    summary = ensemble.build(config.load_params())
    weights = ", ".join(f"{m} {w:.3f}" for m, w in summary["weights"].items())
    print(f"ensemble ({summary['method']}): {weights}")


if __name__ == "__main__":
    cli.run(main)
