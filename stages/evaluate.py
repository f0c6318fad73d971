"""evaluate@<arch>: score one architecture (or the ensemble's combined predictions) on the test split.

python -m stages.evaluate conv3d
"""

import argparse

from actionrec import cli, config
from actionrec.evaluate import ensemble, entries, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("architecture")
    args = parser.parse_args()
    entries.check_scored(args.architecture, "architecture")  # unknown name: fails at once, listing the valid ones
    if args.architecture == entries.ENSEMBLE:
        m = ensemble.evaluate()
    else:
        m = evaluation.evaluate(args.architecture, config.load_params())
    kinds = "".join(f", {k[9:]} {v:.3f}" for k, v in m.items() if k.startswith("accuracy_"))
    print(
        f"evaluate {args.architecture}: top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, macro F1 {m['macro_f1']:.3f}{kinds} "
        f"on {m['test_videos']} test videos; {m['latency_ms']:.1f} ms/video"
    )


if __name__ == "__main__":
    cli.run(main)
