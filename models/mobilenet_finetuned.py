"""MobileNetV2 fine-tuned: the top ``unfreeze`` inverted-residual blocks (and the final 1x1 conv) train.

``feature_layer`` cuts the backbone at an earlier block, as for ``mobilenet``; the top blocks are
then those below the cut.

Lower blocks keep their generic pretrained filters; batch norm layers stay frozen and in
inference mode everywhere, since small video batches would wreck their statistics (the
keras.io fine-tuning recipe). With ``weights: null`` the whole backbone trains from scratch
(see ``backbones.trains_from_scratch``). Use a lower learning rate than for the frozen ``mobilenet``.
"""

from __future__ import annotations

import keras
from keras import layers

from actionrec.errors import ParamError
from models import InputSpec, Params, backbones
from models.blocks import POOLINGS

INPUT = "frames"
DEFAULTS = {"weights": "imagenet", "alpha": 0.35, "feature_layer": None, "unfreeze": 3, "pooling": "avg", "dropout": 0.2}
BLOCKS = 17  # expanded_conv (block 0) and block_1 .. block_16 in the whole backbone


def min_frames(params: dict) -> int:
    return 1


def block_starts(backbone: keras.Model) -> list[str]:
    """The first layer of each inverted-residual block the (possibly cut) backbone holds, bottom up."""
    names = [layer.name for layer in backbone.layers]
    return ["expanded_conv_depthwise"] + [f"block_{i}_expand" for i in range(1, BLOCKS) if f"block_{i}_expand" in names]


def unfreeze_top(backbone: keras.Model, blocks: int, key: str = "architectures.mobilenet_finetuned.unfreeze") -> None:
    """Make the last ``blocks`` inverted-residual blocks and the top conv (if kept) trainable, BN excluded."""
    names = [layer.name for layer in backbone.layers]
    starts = block_starts(backbone)
    if blocks > len(starts):
        raise ParamError(key, blocks, f"at most {len(starts)}, the blocks of {backbone.name}")
    first = starts[len(starts) - blocks] if blocks else "Conv_1"
    start = names.index(first) if first in names else len(names)
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= start and not isinstance(layer, layers.BatchNormalization)


def build(num_classes: int, spec: InputSpec, params: dict) -> keras.Model:
    p = Params("mobilenet_finetuned", params, DEFAULTS)
    backbone = backbones.mobilenet_v2(
        (spec.height, spec.width, 3),
        p["alpha"],
        p["weights"],
        key=p.prefix,
        pooling=p.choice("pooling", POOLINGS),
        feature_layer=p["feature_layer"],
    )
    unfreeze = p.int("unfreeze", minimum=0, maximum=BLOCKS)
    scratch = backbones.trains_from_scratch(p["weights"])
    if scratch:
        backbone.trainable = True
    else:
        unfreeze_top(backbone, unfreeze, p.key("unfreeze"))
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    # Pretrained: BN in inference mode, trainable convs still get gradients.
    x = backbone(x) if scratch else backbone(x, training=False)
    x = layers.Dropout(p.fraction("dropout"))(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet_finetuned")
