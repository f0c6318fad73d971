"""The input settings of the tiny end-to-end projects: a 32 px store, short clips, short flow stacks."""

from __future__ import annotations


def shrink_inputs(params: dict, short_side: int = 32) -> dict:
    """Every architecture on ``short_side`` crops of a ``short_side`` store; clips of 4 frames 2 apart."""
    params["frames"].update(short_side=short_side, workers=2)
    params["flow"].update(stack=3, workers=2)
    for settings in params["architectures"].values():
        settings["input_size"] = short_side
        if "clip_len" in settings["sampling"]:
            settings["sampling"] = {"clip_len": 4, "frame_interval": 2}
    return params
