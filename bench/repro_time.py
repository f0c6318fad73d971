"""A fresh clone's ``dvc repro``: how long each stage takes, and whether it repeats the committed metrics.

    python bench/repro_time.py                          # the whole pipeline (20-25 min on 2 cores)
    python bench/repro_time.py --keep /tmp/clone        # keep the clone (its dvc.lock, outputs, cache)
    python bench/repro_time.py --targets train@conv3d   # only what these stages need

Clones this repository's HEAD (uncommitted changes are not in it) into a scratch folder, links
this tree's ``.venv`` (``make setup`` first) and runs ``dvc repro`` there from nothing, as on a new
machine: every stage runs. DVC prints no durations, so each stage's time is the time between its
"Running stage" line and the next one. Prints the machine (CPU, cores, load average before and
after): absolute times differ between machines and with the load.

Then compares every number in the clone's ``metrics/**/*.json`` with the committed one, times
aside (``train_seconds``, ``latency_ms``, ``seconds``): with one process on CPU a rerun repeats
them bit for bit, so a difference is a changed result. Exits non-zero if ``dvc repro`` fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMES = {"train_seconds", "latency_ms", "seconds"}
GROUPS = (  # how the summary adds stages up, by name prefix
    ("data", ("select_model", "download", "extract", "flow", "visualize")),
    ("pretrain", ("pretrain",)),
    ("train", ("train@",)),
    ("evaluate", ("evaluate@",)),
    ("ensemble, leaderboard, report", ("ensemble", "leaderboard", "report")),
)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_repro(clone: Path, targets: list[str], log: Path) -> tuple[int, list[tuple[str, float]]]:
    """Run ``dvc repro`` in ``clone``, echoing and logging its output; returns its exit code and the
    (stage, start time) of every stage it ran, plus ("end", t)."""
    env = dict(os.environ, PATH=f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", TF_CPP_MIN_LOG_LEVEL="2")
    started = time.monotonic()
    starts = []
    with open(log, "w") as out:
        proc = subprocess.Popen(["dvc", "repro", *targets], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            now = time.monotonic() - started
            out.write(f"{now:8.1f} {line}")
            match = re.match(r"Running stage '(.+)':", line)
            if match:
                starts.append((match.group(1), now))
                print(f"{now:7.0f} s  {match.group(1)}", flush=True)
        code = proc.wait()
    return code, starts + [("end", time.monotonic() - started)]


def stage_seconds(starts: list[tuple[str, float]]) -> dict[str, float]:
    return {name: end - start for (name, start), (_, end) in zip(starts, starts[1:])}


def flat(value, prefix: str = ""):
    """(path, number) leaves of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flat(item, f"{prefix}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from flat(item, f"{prefix}/{i}")
    else:
        yield prefix, value


def metric_files(clone: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in (clone / "metrics").rglob("*.json")}


def compare_metrics(clone: Path, paths: list[Path]) -> tuple[int, list[str]]:
    """How many metric values (times aside) of ``paths`` the clone repeated, and where it did not."""
    same, differences = 0, []
    for path in sorted(paths):
        rel = path.relative_to(clone).as_posix()
        shown = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=REPO, capture_output=True, text=True)
        committed = dict(flat(json.loads(shown.stdout))) if shown.returncode == 0 else {}
        rerun = dict(flat(json.loads(path.read_text())))
        for key in sorted(set(committed) | set(rerun)):
            if key.rsplit("/", 1)[-1] in TIMES:
                continue
            if committed.get(key, "missing") == rerun.get(key, "missing"):
                same += 1
            else:
                differences.append(f"{rel}{key}: committed {committed.get(key, 'missing')}, rerun {rerun.get(key, 'missing')}")
    return same, differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="clone into this new folder and keep it (default: a scratch folder, removed)")
    parser.add_argument("--targets", nargs="*", default=[], help="dvc repro targets (default: the whole pipeline)")
    args = parser.parse_args()
    venv = REPO / ".venv"
    if not (venv / "bin" / "dvc").exists():
        sys.exit(f"{venv}: no virtual environment with dvc (run `make setup` first)")
    if args.keep and args.keep.exists():
        sys.exit(f"--keep {args.keep}: already exists (give a new folder)")
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout
    if dirty.strip():
        print("note: uncommitted changes are not in the clone (it is of HEAD)")
    clone = args.keep or Path(tempfile.mkdtemp(prefix="repro-time-")) / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(venv)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    print(f"{cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; commit {head}; clone {clone}")
    try:
        before = metric_files(clone)  # committed files (cache: false) are there before the run
        code, starts = run_repro(clone, args.targets, clone / "repro.log")
        seconds = stage_seconds(starts)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}; log: {clone / 'repro.log'}")
        print(f"\n{'stage':36s} {'seconds':>8s}")
        for name, value in seconds.items():
            print(f"{name:36s} {value:8.1f}")
        for group, prefixes in GROUPS:
            ran = [v for name, v in seconds.items() if name.startswith(prefixes)]
            if ran:
                print(f"{'  all ' + group:36s} {sum(ran):8.1f}")
        print(f"{'dvc repro':36s} {starts[-1][1]:8.1f}" + ("" if code == 0 else f"  (failed: exit code {code})"))
        if code == 0:
            rewritten = [path for path, mtime in metric_files(clone).items() if before.get(path) != mtime]
            same, differences = compare_metrics(clone, rewritten)
            print(
                f"\nmetrics rewritten by the run: {len(rewritten)} files; {same} values (times aside) as committed, {len(differences)} different"
            )
            for line in differences[:20]:
                print("  " + line)
        return code
    finally:
        if not args.keep:
            shutil.rmtree(clone.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
