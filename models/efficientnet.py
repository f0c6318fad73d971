"""EfficientNetB0 on single frames with a new softmax head.

``trainable: false`` uses it as a frozen feature extractor; ``true`` fine-tunes every layer
except batch norm (kept frozen, in inference mode). ``feature_layer`` cuts it at an earlier
block (``null``: whole). It rescales internally, so it takes raw pixels in [0, 255].
"""

from __future__ import annotations

import keras
from keras import layers

from actionrec.config import Switch
from models import BackboneSettings, InputSpec, Pooling, RateMultiplier, backbones

INPUT = "frames"


class Settings(BackboneSettings):
    trainable: Switch = False  # fine-tune every layer but batch norm (false: only the head trains)
    pooling: Pooling = "avg"
    backbone_rate: RateMultiplier = 1.0  # the backbone's fine-tuned layers learn at this fraction of learning_rate, the head at all of it


def rate_scales(model: keras.Model, settings: Settings) -> list[tuple[list, float]]:
    return backbones.backbone_rate(model, settings.backbone_rate)


def min_frames(settings: Settings) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    backbone = backbones.efficientnet_b0(
        (spec.height, spec.width, 3), s.weights, key="architectures.efficientnet", pooling=s.pooling, feature_layer=s.feature_layer
    )
    scratch = backbones.trains_from_scratch(s.weights)
    trainable = s.trainable or scratch
    backbone.trainable = trainable
    if trainable and not scratch:
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = backbone(inputs) if scratch else backbone(inputs, training=False)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="efficientnet")
