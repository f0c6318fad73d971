"""EfficientNetB0 on single frames with a new softmax head.

``trainable: false`` uses it as a frozen feature extractor; ``true`` fine-tunes every layer
except batch norm (kept frozen, in inference mode). ``feature_layer`` cuts it at an earlier
block (``null``: whole). It rescales internally, so it takes raw pixels in [0, 255].
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, Params, backbones
from models.blocks import POOLINGS

INPUT = "frames"
DEFAULTS = {"weights": "imagenet", "trainable": False, "feature_layer": None, "pooling": "avg", "dropout": 0.2}


def min_frames(params: dict) -> int:
    return 1


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("efficientnet", params, DEFAULTS)
    backbone = backbones.efficientnet_b0(
        (spec.height, spec.width, 3), p["weights"], key=p.prefix, pooling=p.choice("pooling", POOLINGS), feature_layer=p["feature_layer"]
    )
    scratch = backbones.trains_from_scratch(p["weights"])
    trainable = p.bool("trainable") or scratch
    backbone.trainable = trainable
    if trainable and not scratch:
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = backbone(inputs) if scratch else backbone(inputs, training=False)
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="efficientnet")
