"""Shared by every entry point: user errors are one clear line, not a traceback, and TensorFlow
starts without its native start-up lines.

TensorFlow 2.21 logs through absl before ``absl::InitializeLog()`` runs, so ``TF_CPP_MIN_LOG_LEVEL``
does not reach its import-time lines ("All log messages before absl::InitializeLog()", oneDNN,
CPU features), and no environment variable does. Importing this module wraps the first
``import tensorflow`` (wherever it happens: stages import it late) so that the native stderr
written during that import is captured and written back without those lines; every other
line, a real error included, still reaches stderr.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from actionrec.errors import PipelineError

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\] "  # absl INFO lines (oneDNN, cpu_feature_guard)
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)"
)


def add_paths(parser: argparse.ArgumentParser, paths: dict[str, str], required: bool = True) -> None:
    """One ``--<name>`` option (``_`` written ``-``) per path a stage reads or writes: dvc.yaml passes them all."""
    for name, what in paths.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=Path, required=required, help=what)


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run_filtering_stderr(action: Callable[[], None]) -> None:
    """Run ``action`` with file descriptor 2 captured, then write back the lines that are not start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            action()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not NOISE.match(line))
            if kept:
                os.write(2, kept)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders locate it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module
            spec.loader.exec_module = lambda module: run_filtering_stderr(lambda: exec_module(module))
        return spec


def quiet_tensorflow() -> None:
    """Quiet TensorFlow's C++ logging below errors and filter its import-time lines (idempotent)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


quiet_tensorflow()
