"""VGG-style deeper CNN on single frames: blocks of stacked 3x3 convolutions, then a dense head.

``blocks`` sets the depth (each halves the resolution and doubles the width), ``convs`` the
3x3 convolutions per block. Batch normalisation (absent from the original VGG) lets it train
from scratch in a few epochs.
"""

from __future__ import annotations

import keras
from keras import layers

from actionrec.config import PositiveInt
from models import ConvNetSettings, InputSpec
from models.blocks import conv_blocks, global_pool

INPUT = "frames"


class Settings(ConvNetSettings):
    convs: PositiveInt = 2  # 3x3 convolutions per block
    dense: PositiveInt = 128  # units of the hidden dense layer


def min_frames(settings: Settings) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 255)(inputs)
    x = conv_blocks(x, s.filters, s.blocks, convs=s.convs)
    # Global pooling instead of VGG's flatten keeps the head's size independent of the frame size.
    x = global_pool(x, s.pooling)
    x = layers.Dense(s.dense, activation="relu")(x)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="vgg")
