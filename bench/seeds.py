"""Accuracy on the motion and appearance classes over several seeds: is a ranking more than one draw?

    python bench/seeds.py                                   # seeds 1 2, the four temporal models and vgg
    python bench/seeds.py --seeds 1 2 3 --archs conv3d vgg basic_cnn
    python bench/seeds.py --seeds 7 --archs conv3d --set architectures.conv3d.epochs=2   # a quick try
    python bench/seeds.py --compare-fixed                   # new sampling vs fixed frames, seeds 1 2 3,
                                                            # conv3d cnn_lstm two_stream vgg
    python bench/seeds.py --quick [--all]                   # a smoke run on a tiny data set of its own
    python bench/seeds.py --all --seeds 1 2 3               # all nine, the pretrain stage and the ensemble per seed
    python bench/seeds.py --all --seeds 1 2 --with-committed   # the same, params.yaml's seed read from metrics/

Each (seed, architecture) runs the real stages as dvc.yaml does (``horovodrun -np 1 python -m
stages.train``, then ``python -m stages.evaluate``) in a scratch copy of this working tree whose
params.yaml has that seed (and the --set overrides); the copy reads the existing data/frames and
data/flow, so the pipeline's own outputs are never touched (``--build-data``, implied by
--quick, builds them in the copy instead, with the real download/extract/flow stages). The seed
changes the weight initialisation, the validation groups, the frames and crops sampled and the
augmentation draws, not the dataset (`dvc exp run -S seed=N` also redraws the synthetic videos,
at the cost of a whole `dvc repro` per seed).

With ``--all`` every seed also runs the ``pretrain`` stage first (the transfer architectures'
weights depend on the seed too) and the ensemble of the nine last, and the script ends with a
table per architecture: mean and spread over the seeds of test top-1, motion and appearance
accuracy and validation top-1, parameters and training seconds. ``--with-committed`` adds the
committed default run (params.yaml's seed, read from this tree's ``metrics/``; with one process
on CPU a rerun repeats it bit for bit) as one more seed without training it again.

Prints accuracy on the motion and appearance classes per seed, then checks the synthetic
dataset's claim: every temporal model scores above every frame model on the motion classes.
A frame model can still tell which motion pair a video belongs to, so its ceiling there is 0.5.

--compare-fixed: every (seed, architecture) is trained twice, with the sampling of params.yaml
(frames and crops redrawn every epoch) and with fixed frames: the old store's behaviour, the same
frames every epoch (a clip model's centre window, a frame model's K segment centres; two-stream's
flow stack is centred on that clip). Both are tested alike (evaluate.clips x evaluate.crops
views). Spatial crops and flips stay random in both: only the temporal sampling differs.
Prints, per architecture, the mean and spread over the seeds of top-1 and the motion/appearance
accuracies, sampled minus fixed.

HOOK (library): fixed frames are ``architectures.<arch>.sampling.fixed: true``: the
``Sampling.fixed`` field, which ``config.SamplingSettings`` accepts and which makes
``sampling.train_indices`` return ``view_indices(sampling, n, 1)[0]`` (the single centre view).
params.yaml does not list the key (it defaults to false), so this script sets it in the scratch
copy's params.yaml itself (--set only takes keys params.yaml has), and stops with a message if
``actionrec.data.sampling.Sampling`` has no such field.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from actionrec import config  # noqa: E402
from actionrec.data import kinds  # noqa: E402
from actionrec.errors import ParamError  # noqa: E402
from actionrec.pipeline import stage_argv  # noqa: E402

DEFAULT_ARCHS = ["cnn_lstm", "pretrained_cnn_lstm", "conv3d", "two_stream", "vgg"]
FIXED_ARCHS = ["conv3d", "cnn_lstm", "two_stream", "vgg"]  # the issue's: three temporal models and one frame model
QUICK_ARCHS = ["two_stream", "basic_cnn"]
TOP_LEVEL_OUTPUTS = (".git", ".venv", ".dvc", "data", "metrics", "plots", "dvclive", "logs")


def copy_ignore(root: Path):
    """Outputs at the top of ``root`` only (actionrec/data/ is code), Python caches everywhere."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = {n for n in names if n in TOP_LEVEL_OUTPUTS} if Path(directory) == Path(root) else set()
        return top | {n for n in names if n == "__pycache__"}

    return ignore


MODES = ("sampled", "fixed")
# --quick: a data set small enough for a smoke run (split 1 tests on groups 1-7; 3 more groups
# are held out for validation, so 12 groups leave 2 for training), one epoch, small batches.
QUICK_PARAMS = {
    "data.synthetic.groups": 12,
    "data.synthetic.clips_per_group": 2,
    "train.epochs": 1,
    "train.batch_size": 8,
    "train.patience": 1,
    "pretrain.images": 64,
    "pretrain.epochs": 1,
    "pretrain.backbones.efficientnet_b0.epochs": 1,
}


def has_fixed_hook() -> bool:
    from actionrec.data.sampling import Sampling

    return "fixed" in Sampling.__dataclass_fields__


def scratch_copy(root: Path, into: Path, build: bool) -> Path:
    """The code and params of ``root`` plus links to its frame and flow stores (or none, to build them)."""
    work = into / "repo"
    shutil.copytree(root, work, ignore=copy_ignore(root))
    (work / "data").mkdir()
    if build:
        return work
    for store, index in (("frames", "store.json"), ("flow", "flow.json")):
        if not (root / "data" / store / index).is_file():
            sys.exit(f"bench/seeds.py: {root / 'data' / store} is missing: run `dvc repro flow` first (or pass --build-data)")
        (work / "data" / store).symlink_to((root / "data" / store).resolve())
    return work


def set_key(params: dict, key: str, value, check: bool = True) -> None:
    if check:
        try:
            config.get(params, key)  # only keys params.yaml has: a typo fails, naming the key
        except ParamError as error:
            sys.exit(f"bench/seeds.py: --set {error}")
    parent, _, leaf = key.rpartition(".")
    (config.get(params, parent) if parent else params)[leaf] = value


def make_params(base: dict, seed: int, overrides: list[str], fixed_arch: str | None = None) -> dict:
    params = copy.deepcopy(base)
    params["seed"] = seed
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            sys.exit(f"bench/seeds.py: --set {item!r}: expected key=value")
        set_key(params, key, yaml.safe_load(text))
    if fixed_arch:
        # HOOK: architectures.<arch>.sampling.fixed (see the module docstring); not in params.yaml, so unchecked.
        sampling = dict(config.get(params, f"architectures.{fixed_arch}.sampling"))
        sampling["fixed"] = True
        set_key(params, f"architectures.{fixed_arch}.sampling", sampling, check=False)
    return params


def write_params(work: Path, params: dict) -> None:
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(work: Path, *command: str, what: str) -> None:
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        sys.exit(f"bench/seeds.py: {what} failed:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}")


def run_stage(work: Path, stage: str, arch: str) -> None:
    command = [sys.executable, *stage_argv(f"{stage}@{arch}")]
    if stage == "train":  # as dvc.yaml runs it, so seed 42 repeats the committed run bit for bit
        command = [str(Path(sys.executable).with_name("horovodrun")), "-np", "1", "-H", "localhost:1", *command]
    run(work, *command, what=f"{stage} {arch}")


def build_data(work: Path, params: dict) -> None:
    """data/raw, data/frames and data/flow in the scratch copy, by the real stages (params' own seed)."""
    write_params(work, params)
    started = time.perf_counter()
    for stage in ("download", "extract", "flow"):
        run(work, sys.executable, *stage_argv(stage), what=stage)
    store = json.loads((work / "data/frames/store.json").read_text())
    print(
        f"built the data in the scratch copy: {store['videos']} videos, {store['frames']} frames ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )


def uses_pretrained(params: dict, archs: list[str]) -> bool:
    """Whether any of ``archs`` loads a weights file the pretrain stage writes."""
    return any(str(config.get(params, f"architectures.{a}").get("weights") or "").startswith("data/pretrained/") for a in archs)


def result_row(seed: int, arch: str, mode: str, train: dict, score: dict) -> dict:
    if "accuracy_motion" not in score:
        sys.exit("bench/seeds.py: the frame store's classes are not the synthetic ones (no motion/appearance split)")
    return {
        "seed": seed,
        "arch": arch,
        "mode": mode,
        "temporal": arch != "ensemble" and not kinds.get(models.get(arch).INPUT).per_frame,
        "top1": score["top1"],
        "motion": score["accuracy_motion"],
        "appearance": score["accuracy_appearance"],
        "val_top1": train["val_video_accuracy"],
        "parameters": train.get("parameters", 0),
        "epochs": train.get("epochs_run", 0),
        "train_s": train["train_seconds"],
    }


def committed_rows(root: Path, seed: int, archs: list[str]) -> list[dict]:
    """The committed default run's leaderboard (``metrics/leaderboard.json``), as rows of ``seed``."""
    board = json.loads((root / "metrics/leaderboard.json").read_text())
    rows = []
    for arch in archs:
        row = board[arch]
        train = {"val_video_accuracy": row["val_top1"], "parameters": row["parameters"], "train_seconds": row["train_seconds"]}
        rows.append(result_row(seed, arch, MODES[0], train, row))
    return rows


def ensemble_train_metrics(work: Path, members: list[dict]) -> dict:
    """The ensemble's validation score and size, as its leaderboard row has them."""
    weights = json.loads((work / "data/models/ensemble/ensemble.json").read_text())
    return {
        "val_video_accuracy": weights["val_video_accuracy"],
        "parameters": sum(r["parameters"] for r in members),
        "train_seconds": sum(r["train_s"] for r in members),
    }


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    return f"{mean:.3f} +- {statistics.stdev(values):.3f}" if len(values) > 1 else f"{mean:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default 1 2 (--compare-fixed: 1 2 3; --quick: 1)")
    parser.add_argument(
        "--archs",
        nargs="+",
        default=None,
        choices=list(models.ARCHITECTURES),
        help=f"default {' '.join(DEFAULT_ARCHS)} (--compare-fixed: {' '.join(FIXED_ARCHS)}; --quick: {' '.join(QUICK_ARCHS)})",
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params.yaml overrides for every run")
    parser.add_argument(
        "--compare-fixed", action="store_true", help="also train every model on fixed frames (needs the sampling.fixed hook)"
    )
    parser.add_argument(
        "--build-data", action="store_true", help="build data/raw, frames, flow in the scratch copy instead of linking this tree's"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: a tiny data set of its own, 1 epoch, seed 1, --compare-fixed")
    parser.add_argument(
        "--all", action="store_true", help="all nine architectures, the pretrain stage and the ensemble, with a summary table"
    )
    parser.add_argument(
        "--with-committed", action="store_true", help="with --all: add params.yaml's seed from this tree's committed metrics/"
    )
    args = parser.parse_args()
    if args.with_committed and not args.all:
        sys.exit("bench/seeds.py: --with-committed needs --all (the committed run has all ten)")
    if args.all and (args.archs or args.compare_fixed):
        sys.exit("bench/seeds.py: --all trains every architecture; it takes no --archs or --compare-fixed")
    if args.quick:
        args.build_data = True
        args.compare_fixed = not args.all
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3] if args.compare_fixed else [1, 2])
    archs = args.archs or (QUICK_ARCHS if args.quick else FIXED_ARCHS if args.compare_fixed else DEFAULT_ARCHS)
    if args.all:
        archs = list(models.ARCHITECTURES)
    modes = MODES if args.compare_fixed else MODES[:1]
    if args.compare_fixed and not has_fixed_hook():
        sys.exit(
            "bench/seeds.py: --compare-fixed needs the library hook architectures.<arch>.sampling.fixed "
            "(actionrec.data.sampling.Sampling has no `fixed` field; see this script's docstring)"
        )
    if args.compare_fixed and len(seeds) < 3 and not args.quick:
        print(f"note: {len(seeds)} seed(s); the comparison asks for at least 3")
    base = config.load_params(ROOT / "params.yaml")
    if args.quick:
        base = copy.deepcopy(base)
        for key, value in QUICK_PARAMS.items():
            set_key(base, key, value)
        for arch in archs:  # an architecture's own epochs overrides train.epochs
            set_key(base, f"architectures.{arch}.epochs", 1)

    rows, pretrain_seconds = [], {}
    if args.with_committed:
        seeds = [base["seed"], *[s for s in seeds if s != base["seed"]]]
        rows += committed_rows(ROOT, base["seed"], [*archs, "ensemble"])
        pretrain_seconds[base["seed"]] = sum(r["train_seconds"] for r in json.loads((ROOT / "metrics/pretrain.json").read_text()).values())
        print(f"seed {base['seed']:>3}: the committed default run (metrics/), not retrained", flush=True)
    with tempfile.TemporaryDirectory(prefix="seeds-") as tmp:
        work = scratch_copy(ROOT, Path(tmp), build=args.build_data)
        if args.build_data:
            build_data(work, make_params(base, base["seed"], args.set))
        for seed in seeds:
            if args.with_committed and seed == base["seed"]:
                continue
            if uses_pretrained(make_params(base, seed, args.set), archs):
                write_params(work, make_params(base, seed, args.set))
                run(work, sys.executable, "-m", "stages.pretrain", "data/pretrained", "metrics/pretrain.json", what="pretrain")
                pretrain = json.loads((work / "metrics/pretrain.json").read_text())
                pretrain_seconds[seed] = sum(r["train_seconds"] for r in pretrain.values())
                print(
                    f"seed {seed:>3} pretrain: "
                    + ", ".join(f"{k} held-out {v['val_accuracy']:.3f} ({v['train_seconds']:.0f} s)" for k, v in pretrain.items()),
                    flush=True,
                )
            for arch in [*archs, "ensemble"] if args.all else archs:
                for mode in modes:
                    write_params(work, make_params(base, seed, args.set, fixed_arch=arch if mode == "fixed" else None))
                    if arch == "ensemble":
                        run(work, sys.executable, *stage_argv("ensemble"), what="ensemble")
                        train = ensemble_train_metrics(work, [r for r in rows if r["seed"] == seed])
                    else:
                        run_stage(work, "train", arch)
                        train = json.loads((work / "metrics/train" / f"{arch}.json").read_text())
                    run_stage(work, "evaluate", arch)
                    score = json.loads((work / "metrics/evaluate" / f"{arch}.json").read_text())
                    row = result_row(seed, arch, mode, train, score)
                    rows.append(row)
                    label = f" {mode:<7}" if args.compare_fixed else ""
                    print(
                        f"seed {seed:>3} {arch:<20}{label} top-1 {row['top1']:.3f}  motion {row['motion']:.3f}  "
                        f"appearance {row['appearance']:.3f}  ({row['epochs']} epochs, {row['train_s']:.0f} s)",
                        flush=True,
                    )

    print()
    for mode in modes:
        for seed in seeds:
            models_of_seed = [r for r in rows if r["seed"] == seed and r["mode"] == mode and r["arch"] != "ensemble"]  # neither kind
            temporal = [r for r in models_of_seed if r["temporal"]]
            frame = [r for r in models_of_seed if not r["temporal"]]
            if not (temporal and frame):
                continue
            low, high = min(temporal, key=lambda r: r["motion"]), max(frame, key=lambda r: r["motion"])
            verdict = "holds" if low["motion"] > high["motion"] else "FAILS"
            label = f" ({mode})" if args.compare_fixed else ""
            print(
                f"seed {seed}{label}: weakest temporal model on motion {low['arch']} {low['motion']:.3f}, "
                f"best frame model {high['arch']} {high['motion']:.3f}: the criterion {verdict} "
                f"(margin {low['motion'] - high['motion']:+.3f})"
            )

    if args.all:
        print(
            f"\nall architectures over seeds {' '.join(map(str, seeds))} (mean +- standard deviation over the seeds; test split, "
            f"chance 0.10; val_top1 is what anything is chosen on):"
        )
        print(
            f"{'architecture':20s} {'top1':>15s} {'motion':>15s} {'appearance':>15s} {'val_top1':>15s} {'parameters':>11s} {'train s':>8s}"
        )
        for arch in [*archs, "ensemble"]:
            mine = [r for r in rows if r["arch"] == arch]
            print(
                f"{arch:20s} "
                + " ".join(f"{spread([r[m] for r in mine]):>15s}" for m in ("top1", "motion", "appearance", "val_top1"))
                + f" {mine[0]['parameters']:>11,d} {statistics.mean(r['train_s'] for r in mine):>8.0f}"
            )
        if pretrain_seconds:
            print(f"pretrain stage: {statistics.mean(pretrain_seconds.values()):.0f} s of training per seed (both backbones)")

    if args.compare_fixed:
        print(f"\nnew sampling vs fixed frames over seeds {' '.join(map(str, seeds))} (mean +- standard deviation over the seeds):")
        print(f"{'architecture':20s} {'metric':11s} {'sampled':>15s} {'fixed':>15s} {'sampled - fixed':>17s} {'seeds sampled better':>21s}")
        for arch in archs:
            for metric in ("top1", "motion", "appearance"):
                by_mode = {m: {r["seed"]: r[metric] for r in rows if r["arch"] == arch and r["mode"] == m} for m in MODES}
                diffs = [by_mode["sampled"][s] - by_mode["fixed"][s] for s in seeds]
                better = sum(d > 0 for d in diffs)
                print(
                    f"{arch:20s} {metric:11s} {spread(list(by_mode['sampled'].values())):>15s} "
                    f"{spread(list(by_mode['fixed'].values())):>15s} {spread(diffs):>17s} {better:>14d} of {len(seeds)}"
                )
        if args.quick:
            print("(--quick: one epoch on a tiny data set; the accuracies mean nothing, the run only shows the path works)")


if __name__ == "__main__":
    main()
