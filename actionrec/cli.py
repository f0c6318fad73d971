"""Shared wrapper for stage entry points: user errors are one clear line, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from actionrec.errors import PipelineError


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
