"""Two-stream network (Simonyan & Zisserman, 2014): an appearance stream on the RGB frames and a
motion stream on the optical flow, fused.

- RGB stream: a small CNN on every frame (FrameWise), averaged over the clip.
- Flow stream: ``flow.stack`` consecutive flow fields at the clip's position stacked as 2 x stack
  channels of one image (x, y of each field interleaved) and read by a 2D CNN, so its first
  layer already sees motion across the stack.
- ``rgb_diff: true`` also stacks the differences of the clip's consecutive RGB frames (TSN's
  RGB-difference modality, Wang et al. 2016) as channels of the motion stream's image. Optical
  flow assumes constant brightness, so a change in place (a fade, a light switched on) is
  invisible to it, and the RGB stream's average over the clip has no order; the differences
  carry both the change and its direction.
- ``fusion: late``: a weighted average of the two streams' softmax scores (the paper's fusion by
  averaging). Each stream is trained through its own softmax and loss, so neither starves the
  other (trained through the average alone, whichever stream learns first carries the loss);
  ``fused_loss`` adds the fused output's loss with that weight. The flow stream's weight in
  the average is chosen on validation videos after training (``actionrec.train.training``).
- ``fusion: concat``: their features concatenated under one softmax head, trained through it.

Flow arrives as uint8 codes (as floats) with 128 meaning no motion (``actionrec.data.flow``).
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import layers

from actionrec.config import Switch
from actionrec.errors import ParamError
from models import ConvNetSettings, InputSpec, LossWeight
from models.blocks import FrameWise, StreamFusion, TemporalDifference, conv_blocks, global_pool

INPUT = "clip+flow"


class Settings(ConvNetSettings):
    fusion: Literal["late", "concat"] = "late"
    fused_loss: LossWeight = 0.0  # late fusion: the fused output's loss weight (each stream's is 1)
    rgb_diff: Switch = False  # the motion stream also reads the clip's frame-to-frame RGB differences


def min_frames(settings: Settings) -> int:
    return 2 if settings.rgb_diff else 1  # a difference needs two frames


def rgb_frame_encoder(height: int, width: int, filters: int, blocks: int, pooling: str) -> keras.Model:
    inputs = keras.Input((height, width, 3))
    x = conv_blocks(inputs, filters, blocks, prefix="rgb")
    return keras.Model(inputs, global_pool(x, pooling), name="rgb_frame_encoder")


def build(num_classes: int, spec: InputSpec, settings: Settings) -> keras.Model:
    s = settings
    fusion, filters, blocks, dropout, pooling = s.fusion, s.filters, s.blocks, s.dropout, s.pooling
    t, h, w = spec.frames, spec.height, spec.width
    rgb_in = keras.Input((t, h, w, 3), name="rgb")
    stack = spec.flow_stack
    if stack < 1:
        raise ParamError("flow.stack", stack, "at least 1 flow field per example")
    flow_in = keras.Input((stack, h, w, 2), name="flow")

    rgb = layers.Rescaling(1 / 255)(rgb_in)
    rgb = FrameWise(rgb_frame_encoder(h, w, filters, blocks, pooling))(rgb)
    rgb = layers.GlobalAveragePooling1D(name="rgb_features")(rgb)

    flow = layers.Permute((2, 3, 1, 4))(flow_in)  # (H, W, stack, 2)
    flow = layers.Reshape((h, w, 2 * stack), name="stacked_flow")(flow)  # channels: x0, y0, x1, y1, ...
    flow = layers.Rescaling(1 / 127, offset=-128 / 127)(flow)  # codes -> [-1, 1], 0 = no motion
    if s.rgb_diff:
        diff = layers.Permute((2, 3, 1, 4))(TemporalDifference(name="rgb_diff")(rgb_in))  # (H, W, t - 1, 3)
        diff = layers.Rescaling(1 / 255)(layers.Reshape((h, w, 3 * (t - 1)), name="stacked_rgb_diff")(diff))  # [-1, 1]
        flow = layers.Concatenate(name="motion_input")([flow, diff])
    flow = conv_blocks(flow, filters, blocks, prefix="flow")
    flow = global_pool(flow, pooling, name="flow_features")

    if fusion == "late":
        scores = [
            layers.Dense(num_classes, activation="softmax", dtype="float32", name=f"{name}_probabilities")(layers.Dropout(dropout)(x))
            for name, x in (("rgb", rgb), ("flow", flow))
        ]
        outputs = StreamFusion(dtype="float32", name="probabilities")(scores)
    else:
        x = layers.Dropout(dropout)(layers.Concatenate()([rgb, flow]))
        outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model({"rgb": rgb_in, "flow": flow_in}, outputs, name="two_stream")


STREAMS = ("rgb_probabilities", "flow_probabilities")


def training_heads(model: keras.Model, settings: Settings) -> tuple[list, tuple[float, ...] | None]:
    """Late fusion trains the fused output (weight ``fused_loss``) and each stream (weight 1)."""
    if settings.fusion != "late":
        return [model.output], None
    return [model.output, *(model.get_layer(name).output for name in STREAMS)], (settings.fused_loss, 1.0, 1.0)


def stream_outputs(model: keras.Model) -> list | None:
    """The two streams' probabilities (late fusion), whose weighting ``set_fusion`` chooses."""
    names = {layer.name for layer in model.layers}
    return [model.get_layer(name).output for name in STREAMS] if set(STREAMS) <= names else None


def set_fusion(model: keras.Model, flow_weight: float) -> None:
    model.get_layer("probabilities").second_weight.assign(flow_weight)
