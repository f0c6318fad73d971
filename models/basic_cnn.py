"""Small CNN baseline on single frames: a few Conv-BN-ReLU-pool blocks, global pooling, dense.

The video score is the mean of the frame scores (done by the evaluator), so this model sees
appearance only: it is the reference the temporal models must beat on motion classes.
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, Params
from models.blocks import POOLINGS, conv_blocks, global_pool

INPUT = "frames"
DEFAULTS = {"filters": 16, "blocks": 3, "pooling": "avg", "dropout": 0.3}


def min_frames(params: dict) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("basic_cnn", params, DEFAULTS)
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 255)(inputs)
    x = conv_blocks(x, p.int("filters"), p.int("blocks"))
    x = global_pool(x, p.choice("pooling", POOLINGS))
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="basic_cnn")
