"""report: the full report of the architecture named by the ``model`` param.

dvc exp run -S model=two_stream      # re-runs only this stage; metrics/selected.json follows
"""

from actionrec import cli, config
from actionrec.evaluate.reporting import write_report


def main() -> None:
    selected = write_report(config.get(config.load_params(), "model"))
    print(f"report: {selected['model']} (top-1 {selected['top1']:.3f}) -> metrics/selected.json, plots/selected/")


if __name__ == "__main__":
    cli.run(main)
