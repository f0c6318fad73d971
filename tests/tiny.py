"""The input settings of the tiny end-to-end projects: a 32 px store, short clips, short flow stacks."""

from __future__ import annotations


def shrink_inputs(params: dict, short_side: int = 32) -> dict:
    """Every architecture on ``short_side`` crops of a ``short_side`` store; clips of 4 frames 2 apart; a token pretraining."""
    params["frames"].update(short_side=short_side, workers=2)
    params["flow"].update(stack=3, workers=2)
    for settings in params["architectures"].values():
        settings["input_size"] = short_side
        if "clip_len" in settings["sampling"]:
            settings["sampling"] = {"clip_len": 4, "frame_interval": 2}
    params["pretrain"].update(input_size=short_side, images=32, epochs=1, batch_size=16)
    return params


# Tiny trained models written by hand (conftest.save_tiny_model): the store and flow settings
# their classes.json records, and one model of each input kind.
STORE = {"short_side": 32, "fps": None, "quality": 90}  # 64x48 videos are stored at 43x32
FLOW = {"method": "farneback", "bound": 8.0, "quality": 90}
SAMPLING = {
    "basic_cnn": {"segments": 3},
    "cnn_lstm": {"clip_len": 4, "frame_interval": 2},
    "two_stream": {"clip_len": 4, "frame_interval": 2, "flow_stack": 3},
}
TINY = {
    "basic_cnn": {"filters": 4, "blocks": 2},
    "cnn_lstm": {"filters": 4, "blocks": 2, "features": 8, "lstm_units": 8},
    "two_stream": {"filters": 4, "blocks": 2},
}
