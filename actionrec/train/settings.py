"""A training run's configuration, read from params.yaml and checked before anything is built:
the shared ``train`` settings, the architecture's sampling and input size, the precision and
XLA choices (``auto`` resolved by the hardware), and the bit-exact setup of one CPU process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

import models
from actionrec import config
from actionrec.cluster import distributed
from actionrec.data import kinds
from actionrec.data.examples import Augment
from actionrec.data.framestore import read_store
from actionrec.data.inputs import check_input_size
from actionrec.data.kinds import InputKind
from actionrec.data.sampling import Sampling
from actionrec.errors import ParamError
from actionrec.train.recipe import Recipe


@dataclass(frozen=True)
class TrainPaths:
    """Where one architecture's training reads and writes (dvc.yaml passes each to stages/train.py)."""

    frames: Path  # the frame store
    flow: Path  # the flow store (read by clip+flow models only)
    out: Path  # the trained model and what inference needs (data/models/<arch>/)
    metrics: Path  # the training summary (metrics/train/<arch>.json)
    live: Path  # DVCLive's training curves (dvclive/<arch>/)
    checkpoints: Path  # per-epoch state a killed run resumes from (data/checkpoints/<arch>/)
    logs: Path  # TensorBoard (logs/<arch>/)


@dataclass
class Settings:
    epochs: int
    batch_size: int
    batch_key: str  # the key batch_size came from (architectures.<name>.batch_size or train.batch_size)
    patience: int
    val_groups: int
    seed: int
    precision: str  # a Keras dtype policy: float32, mixed_float16 or mixed_bfloat16
    xla: bool


PRECISIONS = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16", False: "float32"}


def bfloat16_gpu() -> bool:
    """True when the first GPU computes in bfloat16 natively (NVIDIA compute capability 8.0, Ampere, or later)."""
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    return tuple(details.get("compute_capability") or (0, 0)) >= (8, 0)


def precision_policy(mixed_precision: str | bool, gpu: bool) -> str:
    """``train.mixed_precision`` as a Keras policy: auto picks bfloat16 (no loss scaling) where the
    GPU has it, float16 (with dynamic loss scaling) on older GPUs, and float32 on CPU."""
    if mixed_precision == "auto":
        if not gpu:
            return "float32"
        return "mixed_bfloat16" if bfloat16_gpu() else "mixed_float16"
    return PRECISIONS[mixed_precision]


def architecture(params: config.Params, arch: str):
    """``architectures.<arch>``, checked: the trainer's keys and the model's (``models.settings``)."""
    return models.settings(arch, params.architectures.get(arch))


def read_settings(params: config.Params, arch: str) -> Settings:
    gpu = bool(tf.config.list_physical_devices("GPU"))
    train = params.train
    own_batch = architecture(params, arch).batch_size
    return Settings(
        epochs=architecture(params, arch).epochs or train.epochs,
        batch_size=own_batch or train.batch_size,
        batch_key=f"architectures.{arch}.batch_size" if own_batch else "train.batch_size",
        patience=train.patience,
        val_groups=train.val_groups,
        seed=params.seed,
        precision=precision_policy(train.mixed_precision, gpu),
        xla=gpu if train.xla == "auto" else train.xla,
    )


def read_sampling(params: config.Params, arch: str, kind: str | InputKind) -> Sampling:
    """``architectures.<arch>.sampling`` (and ``flow.stack`` for two-stream models), validated."""
    stack = params.flow.stack if kinds.get(kind).flow else 0
    return Sampling.of(architecture(params, arch).sampling, f"architectures.{arch}.sampling", kind, stack)


def make_reproducible(world: distributed.World) -> None:
    """Bit-exact reruns and resumes with one process on CPU (before the first TensorFlow op runs).

    Op determinism alone is not enough: with several ops in flight at once, conv3d, cnn_lstm and
    pretrained_cnn_lstm still drifted from run to run (4th decimal of the first epoch's loss).
    One op at a time, each op still using every core, makes their weights bit-identical.
    Several processes or a GPU make no such promise (allreduce and GPU kernel order), so they
    keep full parallelism.
    """
    if world.size == 1 and not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_inter_op_parallelism_threads(1)


@dataclass
class Run:
    """One architecture's training configuration, every setting checked before anything is built."""

    arch: str
    module: object  # its models/<arch>.py
    section: config.Architecture  # architectures.<arch>, checked (its model's keys too)
    settings: Settings
    recipe: Recipe
    store: dict  # the frame store's store.json
    sampling: Sampling
    size: int  # input_size
    augment: Augment
    paths: TrainPaths

    @property
    def kind(self) -> InputKind:
        return self.sampling.kind

    @property
    def spec(self) -> models.InputSpec:
        frames = self.kind.frames_per_example(self.sampling.clip_len)
        return models.InputSpec(frames=frames, height=self.size, width=self.size, flow_stack=self.sampling.flow_stack)


def prepare(arch: str, params: config.Params, paths: TrainPaths) -> Run:
    module = models.get(arch)
    section = architecture(params, arch)
    store = read_store(paths.frames, params.frames)
    prefix = f"architectures.{arch}"
    sampling = read_sampling(params, arch, module.INPUT)
    size = check_input_size(section.input_size, store["short_side"], f"{prefix}.input_size")
    need = module.min_frames(section)
    if not sampling.kind.per_frame and sampling.clip_len < need:
        raise ParamError(f"{prefix}.sampling.clip_len", sampling.clip_len, f"at least {need} for {arch}")
    augment = Augment.of(section.augment)
    return Run(arch, module, section, read_settings(params, arch), Recipe.of(section), store, sampling, size, augment, paths)
