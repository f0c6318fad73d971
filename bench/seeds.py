"""Accuracy on the motion and appearance classes over several seeds: is a ranking more than one draw?

    python bench/seeds.py                                   # seeds 1 2, the four temporal models and vgg
    python bench/seeds.py --seeds 1 2 3 --archs conv3d vgg basic_cnn
    python bench/seeds.py --seeds 7 --archs conv3d --set architectures.conv3d.epochs=2   # a quick try

Each (seed, architecture) runs the real stages as dvc.yaml does (``horovodrun -np 1 python -m
stages.train``, then ``python -m stages.evaluate``) in a scratch copy of this working tree whose params.yaml has that
seed (and the --set overrides); the copy reads the existing data/frames and data/flow, so the
pipeline's own outputs are never touched. The seed changes the weight initialisation, the
validation groups and the augmentation draws, not the dataset (`dvc exp run -S seed=N` also
redraws the synthetic videos, at the cost of a whole `dvc repro` per seed).

Prints accuracy on the motion and appearance classes per seed, then checks the synthetic
dataset's claim: every temporal model scores above every frame model on the motion classes.
A frame model can still tell which motion pair a video belongs to, so its ceiling there is 0.5.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from actionrec import config  # noqa: E402
from actionrec.errors import ParamError  # noqa: E402

DEFAULT_ARCHS = ["cnn_lstm", "pretrained_cnn_lstm", "conv3d", "two_stream", "vgg"]
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".dvc", "data", "metrics", "plots", "dvclive", "logs", "__pycache__")


def scratch_copy(root: Path, into: Path) -> Path:
    """The code and params of ``root`` plus links to its frame and flow stores."""
    work = into / "repo"
    shutil.copytree(root, work, ignore=COPY_IGNORE)
    (work / "data").mkdir()
    for store, index in (("frames", "store.json"), ("flow", "flow.json")):
        if not (root / "data" / store / index).is_file():
            sys.exit(f"bench/seeds.py: {root / 'data' / store} is missing: run `dvc repro flow` first")
        (work / "data" / store).symlink_to((root / "data" / store).resolve())
    return work


def write_params(work: Path, base: dict, seed: int, overrides: list[str]) -> None:
    params = copy.deepcopy(base)
    params["seed"] = seed
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            sys.exit(f"bench/seeds.py: --set {item!r}: expected key=value")
        try:
            config.get(params, key)  # only keys params.yaml has: a typo fails, naming the key
        except ParamError as error:
            sys.exit(f"bench/seeds.py: --set {error}")
        parent, _, leaf = key.rpartition(".")
        (config.get(params, parent) if parent else params)[leaf] = yaml.safe_load(text)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(work: Path, stage: str, arch: str) -> None:
    command = [sys.executable, "-m", f"stages.{stage}", arch]
    if stage == "train":  # as dvc.yaml runs it, so seed 42 repeats the committed run bit for bit
        command = [str(Path(sys.executable).with_name("horovodrun")), "-np", "1", "-H", "localhost:1", *command]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        sys.exit(f"bench/seeds.py: {stage} {arch} failed:\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS, choices=[a for a in models.ARCHITECTURES if a != "ensemble"])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params.yaml overrides for every run")
    args = parser.parse_args()
    base = config.load_params(ROOT / "params.yaml")

    rows = []
    with tempfile.TemporaryDirectory(prefix="seeds-") as tmp:
        work = scratch_copy(ROOT, Path(tmp))
        for seed in args.seeds:
            write_params(work, base, seed, args.set)
            for arch in args.archs:
                run_stage(work, "train", arch)
                run_stage(work, "evaluate", arch)
                train = json.loads((work / "metrics/train" / f"{arch}.json").read_text())
                score = json.loads((work / "metrics/evaluate" / f"{arch}.json").read_text())
                if "accuracy_motion" not in score:
                    sys.exit("bench/seeds.py: the frame store's classes are not the synthetic ones (no motion/appearance split)")
                row = {"seed": seed, "arch": arch, "temporal": models.get(arch).INPUT != "frames", "top1": score["top1"],
                       "motion": score["accuracy_motion"], "appearance": score["accuracy_appearance"],
                       "epochs": train["epochs_run"], "train_s": train["train_seconds"]}  # fmt: skip
                rows.append(row)
                print(f"seed {seed:>3} {arch:<20} top-1 {row['top1']:.3f}  motion {row['motion']:.3f}  "
                      f"appearance {row['appearance']:.3f}  ({row['epochs']} epochs, {row['train_s']:.0f} s)", flush=True)  # fmt: skip

    print()
    for seed in args.seeds:
        temporal = [r for r in rows if r["seed"] == seed and r["temporal"]]
        frame = [r for r in rows if r["seed"] == seed and not r["temporal"]]
        if not (temporal and frame):
            continue
        low, high = min(temporal, key=lambda r: r["motion"]), max(frame, key=lambda r: r["motion"])
        verdict = "holds" if low["motion"] > high["motion"] else "FAILS"
        print(f"seed {seed}: weakest temporal model on motion {low['arch']} {low['motion']:.3f}, "
              f"best frame model {high['arch']} {high['motion']:.3f}: the criterion {verdict} "
              f"(margin {low['motion'] - high['motion']:+.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
