"""Kaggle credentials for the ``kaggle`` source: found without reading them, and kept out of messages."""

from __future__ import annotations

import json
import os
from pathlib import Path


def credentials_present() -> bool:
    """Whether kagglehub will find credentials (only checks existence; never reads the values)."""
    env = os.environ
    if (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")) or env.get("KAGGLE_API_TOKEN"):
        return True
    home = Path.home()
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    candidates = [home / ".kaggle" / "kaggle.json", home / ".kaggle" / "access_token", config / "kaggle.json", config / "access_token"]
    if env.get("KAGGLE_CONFIG_DIR"):
        candidates.append(Path(env["KAGGLE_CONFIG_DIR"]) / "kaggle.json")
    return any(p.is_file() for p in candidates)


def redact(text: str) -> str:
    """``text`` with any Kaggle key from the environment or kaggle.json replaced by ***."""
    secrets = [os.environ.get("KAGGLE_KEY"), os.environ.get("KAGGLE_API_TOKEN")]
    for path in (Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle") / "kaggle.json",):
        try:
            secrets.append(json.loads(path.read_text()).get("key"))
        except (OSError, ValueError, AttributeError):
            pass
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = text.replace(secret, "***")
    return text
