"""C3D-style 3D CNN on clips: Conv3D-BN-ReLU blocks convolve over space and time together.

As in C3D, the first pooling is spatial only (1x2x2) so early layers see the full frame rate;
later blocks pool time too (2x2x2), hence ``min_frames = 2 ** (blocks - 1)``.
"""

from __future__ import annotations

import keras
from keras import layers

from models import ConvNetSettings, InputSpec
from models.blocks import BN_MOMENTUM, global_pool

INPUT = "clip"


class Settings(ConvNetSettings):
    """The shared CNN keys (3D convolutions): filters, blocks, pooling, dropout."""


def min_frames(settings: Settings) -> int:
    return 2 ** (settings.blocks - 1)


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    filters, blocks = settings.filters, settings.blocks
    inputs = keras.Input((spec.frames, spec.height, spec.width, 3), name="clip")
    x = layers.Rescaling(1 / 255)(inputs)
    for b in range(blocks):
        x = layers.Conv3D(filters * 2**b, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling3D((1, 2, 2) if b == 0 else (2, 2, 2), padding="same")(x)
    x = global_pool(x, settings.pooling)
    x = layers.Dropout(settings.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="conv3d")
