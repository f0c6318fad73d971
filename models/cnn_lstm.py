"""CNN + LSTM on clips: a small CNN encodes every frame (FrameWise), an LSTM reads the sequence.

Frame features are the flattened feature map (through a dense layer), so they keep *where*
things are in the frame, and its global max, which keeps what a small object looks like; the
LSTM can then tell a ball rising from one falling, which the frame models (an average over
frames) cannot.
"""

from __future__ import annotations

import keras
from keras import layers

from actionrec.config import PositiveInt
from models import InputSpec, ModelSettings, Rate
from models.blocks import FrameWise, conv_blocks

INPUT = "clip"


class Settings(ModelSettings):
    filters: PositiveInt = 16  # of the frame encoder's first block; doubled by each next one
    blocks: PositiveInt = 3
    features: PositiveInt = 64  # per frame, from the flattened feature map
    lstm_units: PositiveInt = 64
    dropout: Rate = 0.3


def min_frames(settings: Settings) -> int:
    return 2


def frame_encoder(height: int, width: int, filters: int, blocks: int, features: int) -> keras.Model:
    """Per frame: ``features`` learned from the flattened map (where things are) next to the map's
    global max (what is there, wherever it is: a small object's shape survives it)."""
    inputs = keras.Input((height, width, 3))
    x = conv_blocks(inputs, filters, blocks)
    where = layers.Dense(features, activation="relu")(layers.Flatten()(x))
    return keras.Model(inputs, layers.Concatenate()([where, layers.GlobalMaxPooling2D()(x)]), name="frame_encoder")


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    encoder = frame_encoder(spec.height, spec.width, s.filters, s.blocks, s.features)
    inputs = keras.Input((spec.frames, spec.height, spec.width, 3), name="clip")
    x = layers.Rescaling(1 / 255)(inputs)
    x = FrameWise(encoder)(x)  # (batch, T, features)
    x = layers.LSTM(s.lstm_units)(x)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn_lstm")
