"""Pretrained CNN + LSTM on clips: frozen MobileNetV2 features per frame, an LSTM over time.

The backbone's last feature map is kept as a coarse grid (not averaged) and squeezed by a
trainable 1x1 convolution, so the per-frame features still say where things are and the
LSTM can learn motion direction.
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, Params, backbones

INPUT = "clip"
DEFAULTS = {"weights": "imagenet", "alpha": 0.35, "features": 32, "lstm_units": 64, "dropout": 0.3}


def min_frames(params: dict) -> int:
    return 2


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("pretrained_cnn_lstm", params, DEFAULTS)
    backbone = backbones.mobilenet_v2((spec.height, spec.width, 3), p["alpha"], p["weights"], key=p.prefix, pooling=None)
    scratch = backbones.trains_from_scratch(p["weights"])
    backbone.trainable = scratch
    inputs = keras.Input((spec.frames, spec.height, spec.width, 3), name="clip")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    encoder = layers.TimeDistributed(backbone)
    x = encoder(x) if scratch else encoder(x, training=False)  # (batch, T, h, w, 1280)
    x = layers.Conv3D(p.int("features"), 1, activation="relu")(x)  # a per-frame 1x1 conv
    x = layers.Reshape((spec.frames, -1))(x)  # (batch, T, h * w * features)
    x = layers.LSTM(p.int("lstm_units"))(x)
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="pretrained_cnn_lstm")
