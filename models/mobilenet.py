"""Transfer learning on single frames: a frozen MobileNetV2 feature extractor and a new softmax head.

Only the head trains; the backbone runs in inference mode (``training=False``), so its batch
norm statistics stay those of its pretraining. ``feature_layer`` cuts the backbone at an earlier
block (the offline default: ``block_10_expand_relu``, the cut the ``pretrain`` stage trains);
``null`` keeps it whole. With ``weights: null`` there is nothing to keep, and the backbone trains from
scratch (see ``backbones.trains_from_scratch``).
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, MobileNetV2Settings, Pooling, backbones

INPUT = "frames"


class Settings(MobileNetV2Settings):
    pooling: Pooling = "avg"


def min_frames(settings: Settings) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    backbone = backbones.mobilenet_v2(
        (spec.height, spec.width, 3),
        s.alpha,
        s.weights,
        key="architectures.mobilenet",
        pooling=s.pooling,
        feature_layer=s.feature_layer,
    )
    scratch = backbones.trains_from_scratch(s.weights)
    backbone.trainable = scratch
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    x = backbone(x) if scratch else backbone(x, training=False)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet")
