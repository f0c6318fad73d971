"""The nine trainable architectures, one module each, behind a name registry (the ensemble, which
combines trained members' predictions, is not a model: see ``actionrec/evaluate/ensemble.py``).

Every architecture module defines ``INPUT`` ("frames" | "clip" | "clip+flow"),
``DEFAULTS`` (its settings under ``architectures.<name>`` in params.yaml), ``min_frames(params)``
and ``build(num_classes, spec, params) -> keras.Model``, and optionally ``training_heads``
(see below). Models take raw pixels in [0, 255]
(normalisation is inside the model) and output float32 softmax probabilities.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

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

# Keys of architectures.<name> that belong to the trainer, not to the model.
TRAINER_KEYS = (
    "data",
    "epochs",
    "augment",
    "input_size",
    "sampling",
    "optimizer",
    "learning_rate",
    "weight_decay",
    "warmup_epochs",
    "schedule",
    "label_smoothing",
)


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


def build(name: str, num_classes: int, spec: InputSpec, params: dict | None):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ParamError("data.classes", num_classes, "at least 2 classes")
    return get(name).build(num_classes, spec, dict(params or {}))


def training_heads(name: str, model, params: dict | None) -> tuple[list, tuple[float, ...] | None]:
    """The outputs a model is trained through, and each one's loss weight (None: its one output).

    An architecture may train through more heads than it predicts with (``two_stream``: each
    stream's own softmax); the first head is always the model's output.
    """
    module = get(name)
    if hasattr(module, "training_heads"):
        return module.training_heads(model, dict(params or {}))
    return [model.output], None


class Params:
    """One architecture's settings with defaults filled in; a bad or unknown key is a ParamError naming it."""

    def __init__(self, arch: str, params: dict | None, defaults: dict):
        params = dict(params or {})
        self.prefix = f"architectures.{arch}"
        for name in params:
            if name not in defaults and name not in TRAINER_KEYS:
                raise ParamError(self.key(name), params[name], "one of " + ", ".join([*defaults, *TRAINER_KEYS]))
        self.values = {**defaults, **params}

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def __getitem__(self, name: str):
        return self.values[name]

    def int(self, name: str, minimum: int = 1, maximum: int | None = None) -> int:
        value = self.values[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
            bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
            raise ParamError(self.key(name), value, f"an integer {bound}")
        return value

    def fraction(self, name: str) -> float:
        """A rate in [0, 1), e.g. dropout."""
        value = self.values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ParamError(self.key(name), value, "a number in [0, 1)")
        return float(value)

    def weight(self, name: str) -> float:
        """A non-negative number, e.g. a loss weight."""
        value = self.values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ParamError(self.key(name), value, "a number >= 0")
        return float(value)

    def bool(self, name: str) -> bool:
        value = self.values[name]
        if not isinstance(value, bool):
            raise ParamError(self.key(name), value, "true or false")
        return value

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.values[name]
        if value not in options:
            raise ParamError(self.key(name), value, "one of " + ", ".join(options))
        return value
