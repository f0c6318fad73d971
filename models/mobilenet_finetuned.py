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
from pydantic import Field

from actionrec.errors import ParamError
from models import InputSpec, MobileNetV2Settings, Pooling, RateMultiplier, backbones

INPUT = "frames"
BLOCKS = 17  # expanded_conv (block 0) and block_1 .. block_16 in the whole backbone


class Settings(MobileNetV2Settings):
    unfreeze: int = Field(3, ge=0, le=BLOCKS, description=f"an integer in [0, {BLOCKS}]")  # top blocks that train
    pooling: Pooling = "avg"
    backbone_rate: RateMultiplier = 1.0  # the backbone's unfrozen blocks learn at this fraction of learning_rate, the head at all of it


def rate_scales(model: keras.Model, settings: Settings) -> list[tuple[list, float]]:
    return backbones.backbone_rate(model, settings.backbone_rate)


def min_frames(settings: Settings) -> int:
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


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    backbone = backbones.mobilenet_v2(
        (spec.height, spec.width, 3),
        s.alpha,
        s.weights,
        key="architectures.mobilenet_finetuned",
        pooling=s.pooling,
        feature_layer=s.feature_layer,
    )
    scratch = backbones.trains_from_scratch(s.weights)
    if scratch:
        backbone.trainable = True
    else:
        unfreeze_top(backbone, s.unfreeze)
    inputs = keras.Input((spec.height, spec.width, 3), name="frames")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # MobileNetV2 expects [-1, 1]
    # Pretrained: BN in inference mode, trainable convs still get gradients.
    x = backbone(x) if scratch else backbone(x, training=False)
    x = layers.Dropout(s.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet_finetuned")
