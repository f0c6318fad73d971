"""Building blocks shared by the architectures: conv blocks of the scratch CNNs, per-frame wrapping."""

from typing import get_args

import keras
from keras import layers, ops

from models import Pooling

# Keras' default BN momentum (0.99) needs ~500 steps for the moving statistics used at inference
# to forget their init; a run on a few hundred videos has that many steps in total, so early
# validation losses (and early stopping) would be meaningless.
BN_MOMENTUM = 0.9


def conv_blocks(x, filters: int, blocks: int, convs: int = 1, prefix: str = "block"):
    """``blocks`` x (``convs`` x Conv-BN-ReLU, 2x2 max pool); width doubles each block."""
    for b in range(blocks):
        for c in range(convs):
            x = layers.Conv2D(filters * 2**b, 3, padding="same", use_bias=False, name=f"{prefix}{b + 1}_conv{c + 1}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}{b + 1}_bn{c + 1}")(x)
            x = layers.ReLU(name=f"{prefix}{b + 1}_relu{c + 1}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{prefix}{b + 1}_pool")(x)
    return x


POOLINGS = get_args(Pooling)


def global_pool(x, pooling: str, name: str | None = None):
    """Global pooling over space (and time for 5-D features). ``max`` keeps a small object's
    response whole; ``avg`` dilutes it by the background's share of the frame."""
    pools = {4: (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D), 5: (layers.GlobalAveragePooling3D, layers.GlobalMaxPooling3D)}
    return pools[len(x.shape)][POOLINGS.index(pooling)](name=name)(x)


@keras.saving.register_keras_serializable(package="actionrec")
class FrameWise(layers.Wrapper):
    """Applies a per-frame model to every frame of a clip: (B, T, ...) -> (B, T, ...).

    Hand-written instead of ``keras.layers.TimeDistributed`` because Keras 3 unrolls a static time
    axis into one copy of the inner model per frame: for a MobileNetV2 on 8 frames that is 8
    graphs to trace (65 s before the first training step on 2 CPU cores, against 20 s here) and
    8 small convolutions instead of one (683 against 563 ms per step). Folding time into the
    batch runs the frames as one batch; batch norm then takes its statistics over B*T frames.
    """

    def call(self, clips, training=None):
        batch, frames = ops.shape(clips)[0], ops.shape(clips)[1]
        out = self.layer(ops.reshape(clips, (-1, *clips.shape[2:])), training=training)
        return ops.reshape(out, (batch, frames, *out.shape[1:]))

    def compute_output_shape(self, input_shape):
        out = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *out[1:])


@keras.saving.register_keras_serializable(package="actionrec")
class TemporalDifference(layers.Layer):
    """(B, T, ...) -> (B, T - 1, ...): each frame of a clip minus the frame before it (TSN's RGB
    difference: what changes in place, a fade say, which optical flow does not register)."""

    def call(self, clips):
        return clips[:, 1:] - clips[:, :-1]

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else frames - 1, *input_shape[2:])


@keras.saving.register_keras_serializable(package="actionrec")
class StreamFusion(layers.Layer):
    """Late fusion of two streams' probabilities: ``(1 - w) * first + w * second``.

    ``w`` is a non-trainable weight of the model, chosen after training on validation videos
    (Simonyan & Zisserman weight the flow stream higher; the right weight depends on the data).
    """

    def build(self, input_shape):
        self.second_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.5), trainable=False, name="second_weight")

    def call(self, inputs):
        first, second = inputs
        w = ops.cast(self.second_weight, first.dtype)
        return (1 - w) * first + w * second

    def compute_output_shape(self, input_shape):
        return input_shape[0]
