"""The ten entries the pipeline evaluates and ranks: the nine architectures of :mod:`models`
and the ensemble of their predictions (``actionrec/evaluate/ensemble.py``), which is not a model."""

from __future__ import annotations

import models
from actionrec.errors import ParamError

ENSEMBLE = "ensemble"
SCORED = (*models.ARCHITECTURES, ENSEMBLE)  # evaluate@<name>, the leaderboard's rows, the `model` param


def check_scored(name: str, key: str = "model") -> str:
    """``name`` if it is one of the ten, else a ParamError naming ``key`` and listing them."""
    if name not in SCORED:
        raise ParamError(key, name, "one of " + ", ".join(SCORED))
    return name
