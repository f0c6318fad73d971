"""The training recipe of one architecture: optimizer, learning-rate schedule, loss, from params.yaml.

Keys under ``architectures.<name>`` and ``pretrain`` (checked by :class:`actionrec.config.RecipeSettings`):

- ``optimizer``: ``sgd`` (momentum 0.9, Nesterov) or ``adamw``.
- ``learning_rate``: the peak rate for one process at ``train.batch_size``. With N processes
  the global batch is N times larger and the rate scales by the rule that fits the optimizer:
  linearly for SGD (Goyal et al. 2017, with a warmup), by the square root for AdamW (Malladi et
  al. 2022: adaptive methods keep their dynamics under square-root scaling, not linear).
- ``weight_decay``: decoupled (Loshchilov & Hutter; Keras applies it as ``w -= lr * wd * w``),
  never on biases or batch-norm scales and offsets.
- ``warmup_epochs``: linear warmup from 0 to the peak rate (may be fractional).
- ``schedule``: ``cosine`` (to 0 at the last epoch) or ``constant`` after the warmup.
- ``label_smoothing``: in [0, 1).

A model may ask for groups of its variables to learn at a fraction of the rate
(``models.rate_scales``: a fine-tuned backbone below its new head, MMAction2's ``lr_mult``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from actionrec import config

KEYS = tuple(config.RecipeSettings.model_fields)  # checked, and their defaults, in actionrec.config
SGD_MOMENTUM = 0.9
NO_DECAY = ["bias", "gamma", "beta"]  # variable names: biases, batch-norm scales and offsets


@dataclass(frozen=True)
class Recipe:
    optimizer: str
    learning_rate: float
    weight_decay: float
    warmup_epochs: float
    schedule: str
    label_smoothing: float

    @classmethod
    def of(cls, settings: config.RecipeSettings) -> Recipe:
        """The recipe of a checked section (``pretrain``, ``architectures.<name>``)."""
        return cls(**{key: getattr(settings, key) for key in KEYS})

    def peak_rate(self, processes: int) -> float:
        """The rate for ``processes`` data-parallel processes (linear rule for SGD, square root for AdamW)."""
        return self.learning_rate * (processes if self.optimizer == "sgd" else math.sqrt(processes))

    def schedule_for(self, processes: int, epochs: int, steps_per_epoch: int):
        """Warmup then cosine (or constant), as a function of the optimizer's step count (so resumes
        continue it exactly). ``CosineDecay`` does both: ``alpha=1`` keeps the rate constant."""
        total = max(epochs * steps_per_epoch, 1)
        warmup = min(round(self.warmup_epochs * steps_per_epoch), total - 1)
        peak = self.peak_rate(processes)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else peak,
            decay_steps=total - warmup,
            alpha=1.0 if self.schedule == "constant" else 0.0,
            warmup_target=peak if warmup else None,
            warmup_steps=warmup,
        )

    def make_optimizer(self, processes: int, epochs: int, steps_per_epoch: int, rate_scales=()) -> keras.optimizers.Optimizer:
        """``rate_scales``: (variables, multiplier) pairs; the variables of none keep the whole rate."""
        rate = self.schedule_for(processes, epochs, steps_per_epoch)
        decay = self.weight_decay or None
        scaled = {"rate_scales": rate_scales} if rate_scales else {}
        if self.optimizer == "sgd":
            optimizer = (ScaledSGD if scaled else keras.optimizers.SGD)(
                rate, momentum=SGD_MOMENTUM, nesterov=True, weight_decay=decay, **scaled
            )
        else:
            optimizer = (ScaledAdamW if scaled else keras.optimizers.AdamW)(rate, weight_decay=self.weight_decay, **scaled)
        if self.weight_decay:
            optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
        return optimizer

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class ScaledRates:
    """Optimizer mixin: per-variable multipliers of the learning rate, and with it of the decoupled
    weight decay (``w -= lr * wd * w``), as PyTorch's parameter groups and MMAction2's ``lr_mult``
    scale both.

    Hand-written because a Keras 3 optimizer has one rate for all its variables. The multiplier
    is applied where Keras applies the rate (``update_step``, ``_apply_weight_decay``), each
    variable found by the index Keras' own optimizers find their slots by (``_get_variable_index``).
    """

    def __init__(self, *args, rate_scales=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._scale_by_id = {id(variable): float(scale) for variables, scale in rate_scales for variable in variables}

    def build(self, variables):
        super().build(variables)
        self._scales = [self._scale_by_id.get(id(variable), 1.0) for variable in variables]

    def _scaled(self, variable, rate):
        scale = self._scales[self._get_variable_index(variable)]
        return rate if scale == 1.0 else rate * scale

    def update_step(self, gradient, variable, learning_rate):
        return super().update_step(gradient, variable, self._scaled(variable, learning_rate))

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                rate = self._scaled(variable, ops.cast(self.learning_rate, variable.dtype))
                variable.assign(variable - variable * ops.cast(self.weight_decay, variable.dtype) * rate)


class ScaledSGD(ScaledRates, keras.optimizers.SGD):
    pass


class ScaledAdamW(ScaledRates, keras.optimizers.AdamW):
    pass


class ClassificationLoss(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, with label smoothing.

    On stacked outputs ``(batch, heads, classes)`` (a model trained through several heads, e.g.
    each stream of two_stream) it is the sum over heads weighted by ``head_weights``. Hand-written
    because Keras' sparse cross-entropy has no label smoothing.
    """

    def __init__(self, label_smoothing: float = 0.0, head_weights: tuple[float, ...] | None = None, name: str = "classification_loss"):
        super().__init__(name=name)
        self.label_smoothing, self.head_weights = label_smoothing, head_weights

    def call(self, y_true, y_pred):
        target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        if self.head_weights is None:
            return keras.losses.categorical_crossentropy(target, y_pred, label_smoothing=self.label_smoothing)
        target = ops.broadcast_to(ops.expand_dims(target, 1), ops.shape(y_pred))
        per_head = keras.losses.categorical_crossentropy(target, y_pred, label_smoothing=self.label_smoothing)
        return ops.sum(per_head * ops.convert_to_tensor(self.head_weights, y_pred.dtype), axis=-1)


class HeadAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Accuracy of the first head (the model's own output) when the outputs are stacked heads."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if len(y_pred.shape) == 3:
            y_pred = y_pred[:, 0]
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)
