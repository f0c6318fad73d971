"""params.yaml access and validation: every bad value is reported with its dotted key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from actionrec.errors import ParamError, PipelineError

PARAMS_FILE = Path("params.yaml")


def load_params(path: Path = PARAMS_FILE) -> dict:
    if not Path(path).is_file():
        raise PipelineError(f"{path}: not found (run stages from the project root)")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def get(params: dict, key: str) -> Any:
    """``get(p, "frames.size")``; a missing key is an error naming it."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(key, None, "a value (key missing from params.yaml)")
        node = node[part]
    return node


def positive_int(params: dict, key: str, minimum: int = 1) -> int:
    value = get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParamError(key, value, f"an integer >= {minimum}")
    return value


def size_pair(params: dict, key: str, minimum: int = 16) -> tuple[int, int]:
    value = get(params, key)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)
    ):
        raise ParamError(key, value, f"[width, height], integers >= {minimum}")
    return int(value[0]), int(value[1])


def choice(params: dict, key: str, options: tuple):
    value = get(params, key)
    if isinstance(value, bool) or value not in options:
        raise ParamError(key, value, "one of " + ", ".join(map(str, options)))
    return value


def frame_rate_cap(params: dict, key: str) -> float | None:
    value = get(params, key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise ParamError(key, value, "null (the native rate) or a positive number of frames per second")
    return value


def jpeg_quality(params: dict, key: str) -> int:
    value = get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ParamError(key, value, "a JPEG quality, an integer in [1, 100]")
    return value


def workers(params: dict, key: str) -> int:
    """0 means every core this process may use."""
    value = get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParamError(key, value, "an integer >= 0 (0 = all cores)")
    return value or len(os.sched_getaffinity(0))
