"""The nine trainable architectures, one module each, behind a name registry (the ensemble, which
combines trained members' predictions, is not a model: see ``actionrec/evaluate/ensemble.py``).

Every architecture module defines ``INPUT`` ("frames" | "clip" | "clip+flow"), ``Settings``
(a :class:`ModelSettings`: its own keys under ``architectures.<name>`` in params.yaml, with their
defaults and bounds), ``min_frames(settings)`` and ``build(num_classes, spec, settings) ->
keras.Model``, and optionally ``training_heads`` and ``rate_scales`` (see below). Models take raw pixels in [0, 255]
(normalisation is inside the model) and output float32 softmax probabilities.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Literal

from pydantic import Field, create_model

from actionrec import config
from actionrec.errors import ParamError

ARCHITECTURES = (
    "basic_cnn",
    "vgg",
    "mobilenet",
    "mobilenet_finetuned",
    "efficientnet",
    "cnn_lstm",
    "pretrained_cnn_lstm",
    "conv3d",
    "two_stream",
)

# Keys of architectures.<name> that belong to the trainer (sampling, input size, recipe), not to the model.
TRAINER_KEYS = tuple(config.Architecture.model_fields)

# Setting types the model modules share.
Pooling = Literal["avg", "max"]  # global pooling: max keeps a small object's response whole
Rate = Annotated[float, Field(ge=0, lt=1, description="a number in [0, 1)")]  # dropout
LossWeight = Annotated[float, Field(ge=0, description="a number >= 0")]
Weights = Annotated[str | None, Field(description="imagenet, null or the path of a weights file")]  # see models/backbones.py
WidthMultiplier = Annotated[float, Field(gt=0, description="a positive width multiplier")]
RateMultiplier = Annotated[float, Field(gt=0, le=1, description="a number in (0, 1]")]  # of learning_rate


class ModelSettings(config.Section):
    """A model's own keys under ``architectures.<name>`` (each module's ``Settings`` adds its fields)."""


class BackboneSettings(ModelSettings):
    """The keys of the architectures built on a keras.applications backbone (models/backbones.py)."""

    weights: Weights = "imagenet"
    feature_layer: str | None = None  # where the backbone is cut (null: whole)
    dropout: Rate = 0.2


class MobileNetV2Settings(BackboneSettings):
    alpha: WidthMultiplier = 0.35


class ConvNetSettings(ModelSettings):
    """The keys of the CNNs trained from scratch (conv blocks whose width doubles block by block)."""

    filters: config.PositiveInt = 16  # of the first block
    blocks: config.PositiveInt = 3
    pooling: Pooling = "avg"
    dropout: Rate = 0.3


@dataclass(frozen=True)
class InputSpec:
    frames: int  # frames per clip (clip models; 1 for frame models)
    height: int
    width: int
    flow_stack: int = 0  # two-stream: flow fields per example


def get(name: str) -> ModuleType:
    if name not in ARCHITECTURES:
        raise ParamError("model", name, "one of " + ", ".join(ARCHITECTURES))
    return importlib.import_module(f"models.{name}")


def settings(name: str, section: dict | None):
    """``architectures.<name>`` checked: the trainer's keys (``config.Architecture``) and the model's
    (its module's ``Settings``) in one object; a bad or unknown key is a ParamError naming it."""
    return config.check(_section_class(name), dict(section or {}), f"architectures.{name}")  # null: every default


@functools.cache
def _section_class(name: str) -> type:
    return create_model(f"{name}_section", __base__=(get(name).Settings, config.Architecture))


def model_settings(name: str, given) -> ModelSettings:
    """The model's settings from a checked section, or from a mapping of its keys (trainer keys are left to the trainer)."""
    module = get(name)
    if isinstance(given, module.Settings):
        return given
    own = {key: value for key, value in dict(given or {}).items() if key not in TRAINER_KEYS}
    return config.check(module.Settings, own, f"architectures.{name}")


def build(name: str, num_classes: int, spec: InputSpec, settings):
    """``settings``: the architecture's checked section (:func:`settings`) or a mapping of its model keys."""
    if num_classes < 2:
        raise ParamError("data.classes", num_classes, "at least 2 classes")
    return get(name).build(num_classes, spec, model_settings(name, settings))


def rate_scales(name: str, model, settings) -> list[tuple[list, float]]:
    """Groups of the model's variables that learn at a fraction of ``learning_rate``, as
    (variables, multiplier) pairs (``actionrec.train.recipe.ScaledRates``); none by default."""
    module = get(name)
    if hasattr(module, "rate_scales"):
        return module.rate_scales(model, model_settings(name, settings))
    return []


def training_heads(name: str, model, settings) -> tuple[list, tuple[float, ...] | None]:
    """The outputs a model is trained through, and each one's loss weight (None: its one output).

    An architecture may train through more heads than it predicts with (``two_stream``: each
    stream's own softmax); the first head is always the model's output.
    """
    module = get(name)
    if hasattr(module, "training_heads"):
        return module.training_heads(model, model_settings(name, settings))
    return [model.output], None
