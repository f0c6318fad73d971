"""Data-parallel training with horovod's core ops under Keras 3.

horovod's Keras helpers (``horovod.tensorflow.keras``: DistributedOptimizer, broadcast
callbacks) do not support Keras 3 (``'Variable' object has no attribute 'ref'``), so we use
what does work: ``hvd.allreduce`` on the gradients inside ``train_step``, ``hvd.broadcast`` of
the initial weights from rank 0, and ``hvd.allreduce`` of the epoch metrics. Without
``horovodrun`` (or with one process) every call degrades to the single-process behaviour.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

try:  # horovod is optional for library use (e.g. prediction); training stages require it
    import horovod.tensorflow as hvd
except ImportError:  # pragma: no cover - exercised only without horovod installed
    hvd = None


# Failure detection. A rank that dies (killed, out of memory) closes its sockets: the other ranks
# fail in their current or next collective at once, and horovodrun stops them all. A
# rank that stops answering without closing them (host lost, process frozen) is caught by Gloo's
# timeout, which bounds every wait on a peer: the rendezvous in hvd.init() and the coordination
# horovod's background thread runs every cycle, even while the Python code is busy elsewhere.
# horovod's default is 30 s; 60 s leaves room for ranks that reach hvd.init() far apart (several
# hosts, a loaded machine). A value already in the environment (or horovodrun
# --gloo-timeout-seconds) wins.
GLOO_TIMEOUT_SECONDS = 60
# What a collective raises then: the Gloo error for the one under way when the peer vanished
# (connection reset or closed, timed out), "Horovod has been shut down" for every later one.
PEER_FAILURE = (
    "Horovod has been shut down",
    "gloo/transport",
    "Connection reset by peer",
    "Connection closed by peer",
    "Timed out waiting",
)


def peer_failed(error: BaseException | None) -> bool:
    """True when ``error`` (or one it was raised from) is horovod stopping after a rank failed."""
    seen = set()
    while error is not None and id(error) not in seen:
        if any(marker in str(error) for marker in PEER_FAILURE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


def init() -> World:
    """Initialise horovod (if launched by horovodrun) and pin one GPU per local rank."""
    launched = "HOROVOD_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ
    if hvd is None:
        if launched:
            raise RuntimeError("launched by horovodrun but horovod.tensorflow cannot be imported")
        return World(0, 1, 0)
    os.environ.setdefault("HOROVOD_GLOO_TIMEOUT_SECONDS", str(GLOO_TIMEOUT_SECONDS))  # read by hvd.init()
    hvd.init()
    world = World(hvd.rank(), hvd.size(), hvd.local_rank())
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if gpus:
        tf.config.set_visible_devices(gpus[world.local_rank % len(gpus)], "GPU")
    return world


def _active() -> bool:
    return hvd is not None and hvd.is_initialized() and hvd.size() > 1


def broadcast_variables(variables) -> None:
    """Give every rank rank 0's values (initial weights, or a resumed checkpoint)."""
    if _active():
        for v in variables:
            v.assign(hvd.broadcast(v.value, root_rank=0))


def broadcast_object(obj, name: str):
    """Rank 0's picklable ``obj`` on every rank: what only rank 0 read (a checkpoint on local disk)."""
    return hvd.broadcast_object(obj, root_rank=0, name=name) if _active() else obj


def allreduce_mean(values: dict[str, float], weight: float = 1.0) -> dict[str, float]:
    """Weighted mean of scalar metrics over ranks (weight: e.g. the samples this rank saw)."""
    if not _active() or not values:
        return values
    keys = sorted(values)
    stacked = tf.constant([values[k] * weight for k in keys] + [weight], tf.float64)
    total = hvd.allreduce(stacked, op=hvd.Sum, name="epoch_metrics").numpy()
    return {k: float(total[i] / total[-1]) for i, k in enumerate(keys)}


def ranks_in_sync(variables) -> bool:
    """True when every rank holds the same values (checked on a per-variable sum, gathered from all ranks).

    A cheap end-of-training check that gradient averaging really kept the replicas identical.
    """
    digest = tf.constant([float(np.sum(v.numpy(), dtype=np.float64)) for v in variables], tf.float64)
    if not _active():
        return True
    gathered = hvd.allgather(tf.expand_dims(digest, 0), name="weights_digest").numpy()
    return bool(np.all(gathered == gathered[0]))


class DistributedModel(keras.Model):
    """A functional model whose ``train_step`` averages gradients over horovod ranks.

    Built as ``DistributedModel(inputs=m.inputs, outputs=m.outputs)``: it shares ``m``'s layers
    and weights, so ``m`` itself (plain functional, no custom class) is what gets saved.

    ``compile(jit_compile=True)`` compiles the forward and backward pass with XLA, not the whole
    step as Keras would: ``HorovodAllreduce`` has no XLA kernel (horovod#2590), so the allreduce
    and the optimizer update run outside the compiled function.
    """

    def compile(self, *args, jit_compile: bool = False, **kwargs):
        super().compile(*args, jit_compile=False, **kwargs)
        self.xla = bool(jit_compile)
        self._gradients = tf.function(self._forward_backward, jit_compile=True) if self.xla else self._forward_backward

    def _forward_backward(self, x, y, sample_weight):
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)  # mixed float16 loss scaling (no-op otherwise)
        return loss, y_pred, tape.gradient(scaled_loss, self.trainable_variables)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, y_pred, grads = self._gradients(x, y, sample_weight)
        if _active():
            # Still scaled under float16: an overflow on any rank makes the average inf on every
            # rank, so the LossScaleOptimizer skips the step and lowers its scale on all of them.
            grads = [g if g is None else hvd.allreduce(g, op=hvd.Average) for g in grads]
        self.optimizer.apply(grads, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


def layers_of(model) -> list:
    """Every layer inside ``model``: nested models (backbones) and wrapped layers (TimeDistributed) included."""
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop(0)
        found.append(layer)
        stack += list(getattr(layer, "layers", []))
        if isinstance(getattr(layer, "layer", None), keras.layers.Layer):
            stack.append(layer.layer)
    return found


def moving_statistics(model) -> list:
    """The moving means and variances of the batch-norm layers that train (a frozen one never updates them)."""
    return [
        v
        for layer in layers_of(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
        for v in (layer.moving_mean, layer.moving_variance)
    ]


class DropoutSeedsPerRank(keras.callbacks.Callback):
    """Sets every random layer's seed state from (seed, rank, epoch, layer) at the start of each epoch.

    The same global seed on every rank would draw the same dropout masks on every rank, which
    wastes the extra processes' regularisation. Setting the states per epoch also makes the masks
    independent of what a checkpoint holds: a resumed run, on any rank, draws what the
    uninterrupted one drew.
    """

    def __init__(self, seed: int, rank: int):
        super().__init__()
        self.seed, self.rank = seed, rank

    def on_epoch_begin(self, epoch, logs=None):
        states = [v for v in self.model.variables if v.name == "seed_generator_state"]
        for i, state in enumerate(states):
            first = np.random.SeedSequence([self.seed, self.rank, epoch, i]).generate_state(1)[0]
            state.assign(np.array([first, 0], dtype=state.dtype))


class AverageStatisticsOverRanks(keras.callbacks.Callback):
    """Average the batch-norm moving statistics over ranks before each validation pass and at the end.

    Gradient averaging keeps the trainable weights identical, but every rank updates its moving
    statistics from its own batches; averaged, every rank (and the saved model) holds the
    statistics of all the data seen. Only the statistics that change travel (one grouped
    allreduce), not every non-trainable variable: a frozen backbone has millions. The variance is
    the mean of the ranks' variances, as in PySlowFast.
    """

    def on_train_begin(self, logs=None):
        self.statistics = moving_statistics(self.model)

    def _average(self):
        if not _active() or not self.statistics:
            return
        averaged = hvd.grouped_allreduce([v.value for v in self.statistics], op=hvd.Average, name="moving_statistics")
        for v, value in zip(self.statistics, averaged):
            v.assign(value)

    def on_test_begin(self, logs=None):
        self._average()

    def on_train_end(self, logs=None):
        self._average()


class AverageMetricsOverRanks(keras.callbacks.Callback):
    """Replace each rank's epoch logs by the mean over ranks, weighted by its validation size.

    Must come first in the callback list: the others (early stopping, checkpoints, loggers)
    then all see the same numbers on every rank, so every rank stops at the same epoch.
    """

    def __init__(self, val_samples: int):
        super().__init__()
        self.val_samples = val_samples

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not _active():
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_") and np.isscalar(v)}
        val = {k: v for k, v in logs.items() if k.startswith("val_") and np.isscalar(v)}
        logs.update(allreduce_mean(train, 1.0))  # equal steps x batch on every rank
        logs.update(allreduce_mean(val, float(self.val_samples)))
