"""Pretrained CNN + LSTM on clips: frozen MobileNetV2 features per frame, an LSTM over time.

The backbone's feature map is kept as a grid (not averaged) and squeezed by a trainable 1x1
convolution, so the per-frame features still say where things are and the LSTM can learn motion
direction; next to it, the map's global max says what is there. ``feature_layer`` cuts the
backbone at an earlier block (e.g. ``block_5_add``: stride 8, an 8x8 grid on 64x64 frames) for
finer positions and a cheaper, faster-learning encoder; ``null`` keeps the whole backbone.
"""

from __future__ import annotations

import keras
from keras import layers

from actionrec.config import PositiveInt
from models import InputSpec, MobileNetV2Settings, Rate, backbones
from models.blocks import FrameWise

INPUT = "clip"


class Settings(MobileNetV2Settings):
    features: PositiveInt = 32  # channels of the 1x1 convolution over the feature grid
    lstm_units: PositiveInt = 64
    dropout: Rate = 0.3


def min_frames(settings: Settings) -> int:
    return 2


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    backbone = backbones.mobilenet_v2(
        (spec.height, spec.width, 3),
        s.alpha,
        s.weights,
        key="architectures.pretrained_cnn_lstm",
        pooling=None,
        feature_layer=s.feature_layer,
    )
    scratch = backbones.trains_from_scratch(s.weights)
    backbone.trainable = scratch
    inputs = keras.Input((spec.frames, spec.height, spec.width, 3), name="clip")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    encoder = FrameWise(backbone)
    x = encoder(x) if scratch else encoder(x, training=False)  # (batch, T, h, w, channels)
    where = layers.Conv3D(s.features, 1, activation="relu")(x)  # a per-frame 1x1 conv
    where = layers.Reshape((spec.frames, -1))(where)  # (batch, T, h * w * features)
    what = FrameWise(layers.GlobalMaxPooling2D())(x)  # (batch, T, channels)
    x = layers.Concatenate()([where, what])
    x = layers.LSTM(s.lstm_units)(x)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="pretrained_cnn_lstm")
