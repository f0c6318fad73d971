"""MobileNetV2 fine-tuned: the top ``unfreeze`` inverted-residual blocks (and the final 1x1 conv) train.

Lower blocks keep their generic pretrained filters; batch norm layers stay frozen and in
inference mode everywhere, since small video batches would wreck their statistics (the
keras.io fine-tuning recipe). With ``weights: null`` the whole backbone trains from scratch
(see ``backbones.trains_from_scratch``). Use a lower learning rate than for the frozen ``mobilenet``.
"""

from __future__ import annotations

import keras
from keras import layers

from models import InputSpec, Params, backbones
from models.blocks import POOLINGS

INPUT = "frames"
DEFAULTS = {"weights": "imagenet", "alpha": 0.35, "unfreeze": 3, "pooling": "avg", "dropout": 0.2}
BLOCKS = 17  # expanded_conv (block 0) and block_1 .. block_16


def min_frames(params: dict) -> int:
    return 1


def unfreeze_top(backbone: keras.Model, blocks: int) -> None:
    """Make the last ``blocks`` inverted-residual blocks and the top conv trainable, BN excluded."""
    first = {0: "Conv_1", BLOCKS: "expanded_conv_depthwise"}.get(blocks, f"block_{BLOCKS - blocks}_expand")
    start = [layer.name for layer in backbone.layers].index(first)
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= start and not isinstance(layer, layers.BatchNormalization)


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("mobilenet_finetuned", params, DEFAULTS)
    backbone = backbones.mobilenet_v2((spec.height, spec.width, 3), p["alpha"], p["weights"], key=p.prefix, pooling=p.choice("pooling", POOLINGS))
    unfreeze = p.int("unfreeze", minimum=0, maximum=BLOCKS)
    scratch = backbones.trains_from_scratch(p["weights"])
    if scratch:
        backbone.trainable = True
    else:
        unfreeze_top(backbone, unfreeze)
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    # Pretrained: BN in inference mode, trainable convs still get gradients.
    x = backbone(x) if scratch else backbone(x, training=False)
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet_finetuned")
