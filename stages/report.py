"""report: the full report of the architecture named by the ``model`` param.

    dvc exp run -S model=two_stream      # re-runs only this stage; metrics/selected.json follows

dvc.yaml passes the selected entry's files (paths built from ``${model}``) and where to write.
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.evaluate.reporting import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="its model directory (the training history, if any)")
    parser.add_argument("--predictions", type=Path, required=True, help="its test predictions (CSV)")
    parser.add_argument("--test-metrics", type=Path, required=True, help="its headline test metrics (JSON)")
    parser.add_argument("--report", type=Path, required=True, help="its evaluation report (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="the directory of figures and tables to write")
    parser.add_argument("--metrics", type=Path, required=True, help="the selected model's metrics (JSON) to write")
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
