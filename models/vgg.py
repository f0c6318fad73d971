"""VGG-style deeper CNN on single frames: blocks of stacked 3x3 convolutions, then a dense head.

``blocks`` sets the depth (each halves the resolution and doubles the width), ``convs`` the
3x3 convolutions per block. Batch normalisation (absent from the original VGG) lets it train
from scratch in a few epochs.
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, Params
from models.blocks import POOLINGS, conv_blocks, global_pool

INPUT = "frames"
DEFAULTS = {"filters": 16, "blocks": 3, "convs": 2, "pooling": "avg", "dense": 128, "dropout": 0.3}


def min_frames(params: dict) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("vgg", params, DEFAULTS)
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 255)(inputs)
    x = conv_blocks(x, p.int("filters"), p.int("blocks"), convs=p.int("convs"))
    # Global pooling instead of VGG's flatten keeps the head's size independent of the frame size.
    x = global_pool(x, p.choice("pooling", POOLINGS))
    x = layers.Dense(p.int("dense"), activation="relu")(x)
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="vgg")
