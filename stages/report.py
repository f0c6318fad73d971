"""report: the full report of the architecture named by the ``model`` param.

    dvc exp run -S model=two_stream      # re-runs only this stage; metrics/selected.json follows

dvc.yaml passes the selected entry's files (paths built from ``${model}``) and where to write.
"""

import argparse

from actionrec import cli, config
from actionrec.evaluate.reporting import write_report

PATHS = {
    "model_dir": "its model directory (the training history, if any)",
    "predictions": "its test predictions (CSV)",
    "test_metrics": "its headline test metrics (JSON)",
    "report": "its evaluation report (JSON)",
    "out": "the directory of figures and tables to write",
    "metrics": "the selected model's metrics (JSON) to write",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_paths(parser, PATHS)
    args = parser.parse_args()
    selected = write_report(
        config.load().model,
        model_dir=args.model_dir,
        predictions=args.predictions,
        test_metrics=args.test_metrics,
        report=args.report,
        out=args.out,
        metrics_file=args.metrics,
    )
    print(f"report: {selected['model']} (top-1 {selected['top1']:.3f}) -> {args.metrics}, {args.out}/")


if __name__ == "__main__":
    cli.run(main)
