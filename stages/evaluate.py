"""evaluate@<arch>: score one architecture (or the ensemble's combined predictions) on the test split.

    python -m stages.evaluate conv3d --frames data/frames --flow data/flow --model data/models/conv3d \
        --predictions data/predictions/conv3d.csv --metrics metrics/evaluate/conv3d.json --plots plots/evaluate/conv3d
"""

import argparse

from actionrec import cli, config
from actionrec.evaluate import ensemble, entries, evaluation

PATHS = {
    "frames": "the frame store (the test videos)",
    "flow": "the flow store (read for two-stream models)",
    "model": "the trained model's directory (the ensemble's: its combined predictions)",
    "predictions": "the test predictions to write (CSV)",
    "metrics": "the headline metrics to write (JSON)",
    "plots": "the directory of plot data, report and figures to write",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("architecture")
    cli.add_paths(parser, PATHS)
    args = parser.parse_args()
    entries.check_scored(args.architecture, "architecture")  # unknown name: fails at once, listing the valid ones
    paths = evaluation.EvaluationPaths(**{name: getattr(args, name) for name in PATHS})
    if args.architecture == entries.ENSEMBLE:
        m = ensemble.evaluate(paths)
    else:
        m = evaluation.evaluate(args.architecture, config.load().evaluate, paths)
    kinds = "".join(f", {k[9:]} {v:.3f}" for k, v in m.items() if k.startswith("accuracy_"))
    print(
        f"evaluate {args.architecture}: top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, macro F1 {m['macro_f1']:.3f}{kinds} "
        f"on {m['test_videos']} test videos; {m['latency_ms']:.1f} ms/video"
    )


if __name__ == "__main__":
    cli.run(main)
