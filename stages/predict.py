"""predict: top-k classes of new videos with a trained model (not a DVC stage; a user command).

    python -m stages.predict --model two_stream path/to/video.avi [more.avi ...]
    ucf101-predict --model conv3d --top-k 3 --json a.avi b.avi

Each video is decoded and stored exactly as the extract (and flow) stage stores the training
videos, then scored over the same test views as ``evaluate`` (``--clips`` x ``--crops``,
by default ``evaluate.clips`` and ``evaluate.crops`` of ./params.yaml, else 1 x 1). An unreadable
video is reported (stderr, or its entry in the JSON) and the others are still predicted; the
exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import models
from actionrec import cli, config
from actionrec.data.video import UnreadableVideo
from actionrec.errors import ParamError, PipelineError
from actionrec.evaluate.entries import ENSEMBLE


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ucf101-predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="architecture name (its model is data/models/<model>/)")
    parser.add_argument("--top-k", type=_positive, default=5, help="classes to show per video (default 5)")
    parser.add_argument(
        "--clips",
        type=_positive,
        default=None,
        help="clips (clip models) or segment sets (frame models) per video (default: evaluate.clips)",
    )
    parser.add_argument("--crops", type=int, choices=(1, 3), default=None, help="spatial crops per view (default: evaluate.crops)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"), help="where trained models are (default data/models)")
    parser.add_argument("videos", nargs="+", type=Path)
    return parser.parse_args(argv)


def _load(arch: str, models_dir: Path):
    if arch == ENSEMBLE:
        raise PipelineError("--model: the ensemble is not a model, it combines its members' test predictions (predict with a member)")
    try:
        models.get(arch)  # before TensorFlow is imported: a typo fails at once
    except ParamError as err:
        raise PipelineError(f"--model: unknown architecture {arch!r} (expected {err.expected})") from None
    from actionrec.evaluate.inference import load_trained

    return load_trained(arch, models_dir / arch)


def _views(args: argparse.Namespace) -> tuple[int, int]:
    """--clips/--crops, else the evaluate stage's views from ./params.yaml, else one centre view."""
    params = config.load_params() if config.PARAMS_FILE.is_file() else {}
    views = config.check(config.Evaluate, params.get("evaluate") or {}, "evaluate")  # clips, crops: 1 where not set
    return args.clips or views.clips, args.crops or views.crops


def predict(args: argparse.Namespace) -> list[dict]:
    """One entry per video: {"video", "predictions"} or {"video", "error"}."""
    trained = _load(args.model, args.models_dir)
    clips, crops = _views(args)
    from actionrec.evaluate.inference import predict_video, top_k

    results = []
    for video in args.videos:
        try:
            probs = predict_video(trained, video, clips, crops)
        except UnreadableVideo as err:
            print(f"error: {err.path}: {err.reason}", file=sys.stderr)
            results.append({"video": str(video), "error": err.reason})
            continue
        ranked = top_k(trained, probs, args.top_k)
        results.append({"video": str(video), "predictions": [{"class": c, "probability": p} for c, p in ranked]})
        if not args.json:
            print(f"{video}")
            print("\n".join(f"  {p:6.3f}  {c}" for c, p in ranked))
    return results


def _main() -> None:
    args = parse_args()
    results = predict(args)
    if args.json:
        print(json.dumps(results, indent=2))
    if any("error" in r for r in results):
        sys.exit(1)


def main() -> None:
    """Console-script entry point (``ucf101-predict``): user errors are one line, exit status 2."""
    cli.run(_main)


if __name__ == "__main__":
    main()
