"""Params profiles: a YAML file of overrides (``profiles/<name>.yaml``) applied as one DVC experiment.

    python -m actionrec.profiles ucf101                  # print the -S options
    python -m actionrec.profiles ucf101 --run [ARGS]     # dvc exp run with them (+ ARGS, e.g. a target)
    make repro PROFILE=ucf101                            # the same

An experiment rather than an edit of params.yaml: the defaults stay the offline synthetic
profile, `dvc exp show` lists the profile's run beside the others, and `dvc exp apply` makes it
the workspace when wanted. Every key is checked against params.yaml (and an architecture's
model settings against its module) first, so a typo fails before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

import models
from actionrec import cli, config
from actionrec.errors import ParamError, PipelineError

PROFILES = Path("profiles")


def load(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml"))) or "none"
        raise PipelineError(f"{path}: no such profile (profiles here: {known})")
    overrides = yaml.safe_load(path.read_text()) or {}
    if not isinstance(overrides, dict):
        raise PipelineError(f"{path}: expected a mapping of params.yaml keys")
    base = overrides.pop("extends", None)  # another profile this one changes
    return _merge(load(base), overrides) if base else overrides


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted keys of the values to set; lists and scalars are leaves."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out += leaves(value, dotted + ".") if isinstance(value, dict) and value else [(dotted, value)]
    return out


def check(overrides: list[tuple[str, object]], params: dict) -> None:
    """Every key must exist in params.yaml (architecture settings may add a model key it lacks), and
    params.yaml with the overrides applied must be a valid configuration (actionrec.config)."""
    for key, _ in overrides:
        parts = key.split(".")
        if parts[0] == "architectures" and len(parts) == 3:
            if parts[1] not in models.ARCHITECTURES:
                raise ParamError(key, parts[1], "an architecture under `architectures` in params.yaml")
            continue  # its value is checked with the rest of its section below, a key params.yaml lacks included
        config.get(params, key)  # missing: ParamError naming the key
    merged = dict(params)
    for key, value in overrides:
        *parents, leaf = key.split(".")
        node = merged
        for part in parents:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[leaf] = value
    # A bad value: ParamError naming its key, before anything runs.
    checked = config.check(config.Params, merged)
    for name, section in checked.architectures.items():
        models.settings(name, section)


def set_options(overrides: list[tuple[str, object]]) -> list[str]:
    """``-S key=value`` pairs as argv items; values in compact YAML flow (JSON is valid YAML)."""
    options = []
    for key, value in overrides:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        # DVC reads a comma in a value as a sweep (`-S a=1,2`); quoting makes it one value.
        if isinstance(value, str) and "," in value:
            text = f"'{value}'"
        options += ["-S", f"{key}={text}"]
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help="a name under profiles/ (e.g. ucf101) or a YAML path")
    parser.add_argument("--run", nargs=argparse.REMAINDER, help="run `dvc exp run` with the options and these arguments")
    args = parser.parse_args()
    overrides = leaves(load(args.profile))
    check(overrides, config.load_params())
    options = set_options(overrides)
    if args.run is None:
        print(" ".join(options))
        return
    command = ["dvc", "exp", "run", *options, *args.run]
    print("+ " + " ".join(command), file=sys.stderr)
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    cli.run(main)
