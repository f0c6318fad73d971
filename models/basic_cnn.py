"""Small CNN baseline on single frames: a few Conv-BN-ReLU-pool blocks, global pooling, dense.

The video score is the mean of the frame scores (done by the evaluator), so this model sees
appearance only: it is the reference the temporal models must beat on motion classes.
"""

from __future__ import annotations

import keras
from keras import layers

from models import ConvNetSettings, InputSpec
from models.blocks import conv_blocks, global_pool

INPUT = "frames"


class Settings(ConvNetSettings):
    """The shared CNN keys: filters, blocks, pooling, dropout."""


def min_frames(settings: Settings) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 255)(inputs)
    x = conv_blocks(x, s.filters, s.blocks)
    x = global_pool(x, s.pooling)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="basic_cnn")
