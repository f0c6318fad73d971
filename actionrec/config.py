"""params.yaml: one typed configuration, checked once when a stage loads it (:func:`load`), and its plain data.

One frozen pydantic model per section; pydantic does the checking (types, bounds, choices,
unknown keys) and :func:`load` turns its first complaint into a :class:`ParamError` that names
the dotted key, the value and what is expected (a field's ``description``, else pydantic's own
words). Strict types: ``true`` is not a number and ``1`` is not ``true``.

``architectures.<name>`` is checked by its own class: the trainer's keys (:class:`Architecture`)
joined with the model module's ``Settings`` (``models.settings``), as TF Model Garden gives every
model its own config; this module does not import the models.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actionrec.errors import ParamError, PipelineError

PARAMS_FILE = Path("params.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


PositiveInt = Annotated[int, Field(ge=1, description="an integer >= 1")]
Quality = Annotated[int, Field(ge=1, le=100, description="a JPEG quality, an integer in [1, 100]")]
Workers = Annotated[int, Field(ge=0, description="an integer >= 0 (0 = all cores)")]
Switch = Annotated[bool, Field(description="true or false")]
Md5 = Annotated[str, Field(pattern="^[0-9a-fA-F]{32}$")]


class Synthetic(Section):
    # Split k tests groups 7k-6..7k: with >= 8 groups every split has training videos.
    groups: int = Field(25, ge=8, description="an integer >= 8")
    clips_per_group: PositiveInt = 4
    frames: list[Annotated[int, Field(ge=2)]] = Field([30, 40], min_length=2, max_length=2, description="[min, max] frames, integers >= 2")
    size: list[Annotated[int, Field(ge=32)]] = Field([160, 120], min_length=2, max_length=2, description="even [width, height], each >= 32")
    fps: PositiveInt = 25
    workers: Workers = 0

    @model_validator(mode="after")
    def _ordered_and_even(self):
        if self.frames[0] > self.frames[1]:
            raise ParamError("data.synthetic.frames", self.frames, "[min, max] with min <= max")
        if self.size[0] % 2 or self.size[1] % 2:  # MJPG silently drops an odd last row/column
            raise ParamError("data.synthetic.size", self.size, "even [width, height], each >= 32")
        return self


NonEmpty = Annotated[str, Field(pattern=r"\S", description="a non-empty string")]


class UCF101Source(Section):
    video_url: NonEmpty
    splits_url: NonEmpty
    video_md5: Md5 | None = Field(None, description="null or a 32-digit hex MD5")
    splits_md5: Md5 | None = Field(None, description="null or a 32-digit hex MD5")


class KaggleSource(Section):
    handle: NonEmpty


class Data(Section):
    source: Literal["synthetic", "ucf101", "kaggle", "folder"] = "synthetic"
    path: str | None = Field(None, description="an existing directory in UCF101 layout (required by source: folder)")
    split: Literal[1, 2, 3] = 1
    fraction: float = Field(1.0, gt=0, le=1, description="a number in (0, 1]")
    classes: list[str] | None = Field(None, min_length=1, description="null or a non-empty list of class names")
    cache_dir: NonEmpty = "data/downloads"  # downloaded archives, kept across runs
    synthetic: Synthetic = Synthetic()
    ucf101: UCF101Source | None = None
    kaggle: KaggleSource | None = None


class Frames(Section):
    short_side: int = Field(ge=16, description="an integer >= 16 (pixels)")
    # int | float: a cap given as 25 is recorded as 25 (store.json, classes.json), not 25.0
    fps: int | float | None = Field(None, gt=0, description="null (the native rate) or a positive number of frames per second")
    quality: Quality = 90
    workers: Workers = 0
    strict: Switch = False


class Flow(Section):
    method: Literal["farneback", "dis"] = "farneback"
    bound: float = Field(8.0, gt=0, description="a positive number of pixels")
    quality: Quality = 90
    stack: PositiveInt = 5
    workers: Workers = 0


class RecipeSettings(Section):
    """The training recipe keys (``pretrain`` and every architecture): see actionrec/train/recipe.py."""

    optimizer: Literal["sgd", "adamw"] = "adamw"
    learning_rate: float = Field(gt=0, lt=10, description="a number in (0, 10)")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="a number in [0, 1)")
    warmup_epochs: float = Field(0.0, ge=0, lt=1000, description="a number in [0, 1000)")
    schedule: Literal["cosine", "constant"] = "cosine"
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="a number in [0, 1)")


class SamplingSettings(Section):
    """``architectures.<name>.sampling``: which keys an input kind takes, ``actionrec.data.sampling`` checks."""

    segments: PositiveInt | None = None
    clip_len: PositiveInt | None = None
    frame_interval: PositiveInt | None = None
    consensus: Switch = False
    fixed: Switch = False


class AugmentSettings(Section):
    """``architectures.<name>.augment``: see ``actionrec.data.examples.Augment``."""

    flip: Switch = True
    scales: list[Annotated[float, Field(ge=0.3, le=1)]] = Field(
        [1.0], min_length=1, description="a non-empty list of fractions in [0.3, 1] of the short side"
    )
    brightness: float = Field(0.0, ge=0, le=128, description="a number of pixel levels in [0, 128]")
    contrast: float = Field(0.0, ge=0, lt=1, description="a fraction in [0, 1)")


class Architecture(RecipeSettings):
    """The trainer's keys of ``architectures.<name>``; the model's own keys come from its ``Settings``."""

    data: NonEmpty = "data/frames"  # the store its train and evaluate stages depend on (dvc.yaml)
    epochs: PositiveInt | None = Field(None, description="null (train.epochs) or an integer >= 1")
    batch_size: PositiveInt | None = Field(None, description="null (train.batch_size) or an integer >= 1")
    input_size: int = Field(ge=16, description="an integer >= 16 (pixels)")
    sampling: SamplingSettings
    augment: AugmentSettings = AugmentSettings()


class Pretrain(RecipeSettings):
    backbones: dict[str, dict | None] = Field({}, description="a mapping from backbone names to their settings ({} for none)")
    input_size: int = Field(64, ge=32, description="an integer >= 32 (pixels)")
    images: PositiveInt = 3000
    epochs: PositiveInt = 12
    batch_size: PositiveInt = 64

    @model_validator(mode="after")
    def _batch_fits(self):
        if self.batch_size > self.images:
            raise ParamError("pretrain.batch_size", self.batch_size, f"at most pretrain.images = {self.images}")
        return self


class Visualize(Section):
    samples_per_class: PositiveInt = 6


class Train(Section):
    epochs: PositiveInt
    batch_size: PositiveInt
    patience: PositiveInt = 5
    val_groups: PositiveInt = 3
    processes: PositiveInt = 1
    hosts: NonEmpty = "localhost:1"
    mixed_precision: Literal["auto", "float16", "bfloat16"] | bool = Field("auto", description="auto, float16, bfloat16 or false")
    xla: Literal["auto"] | bool = Field("auto", description="auto, true or false")

    @field_validator("mixed_precision")
    @classmethod
    def _no_true(cls, value):
        if value is True:  # which half precision is meant must be said
            raise ParamError("train.mixed_precision", value, "auto, float16, bfloat16 or false")
        return value


class Evaluate(Section):
    batch_videos: PositiveInt = 16
    clips: PositiveInt = 1
    crops: int = Field(1, description="1 (centre) or 3 (three crops along the long side)")
    latency_repeats: PositiveInt = 7

    @field_validator("crops")
    @classmethod
    def _one_or_three(cls, value):
        if value not in (1, 3):
            raise ParamError("evaluate.crops", value, "1 (centre) or 3 (three crops along the long side)")
        return value


EnsembleMethod = Literal["mean", "weighted"]


class Ensemble(Section):
    members: list[str] = Field(min_length=1, description="a non-empty list of trained architectures")
    method: EnsembleMethod = "weighted"

    @field_validator("members")
    @classmethod
    def _each_once(cls, names):  # that each is a trained architecture, the ensemble stage checks (models' registry)
        if len(set(names)) != len(names):
            raise ParamError("ensemble.members", names, "each architecture at most once")
        return names


class Params(Section):
    seed: int = Field(ge=0, description="an integer >= 0")
    model: str = "ensemble"  # checked against the scored entries by the select_model stage
    data: Data = Data()
    frames: Frames
    flow: Flow = Flow()
    pretrain: Pretrain | None = None
    visualize: Visualize = Visualize()
    train: Train
    # each checked by models.settings(name, section): its model module holds half of its keys
    architectures: dict[str, dict | None] = Field(description="a mapping from architecture names to their settings")
    evaluate: Evaluate = Evaluate()
    ensemble: Ensemble | None = None


def cores(workers: int) -> int:
    """A ``workers`` setting as a process count: 0 means every core this process may use."""
    return workers or len(os.sched_getaffinity(0))


def get(params: dict, key: str):
    """``get(p, "frames.short_side")`` in params.yaml's plain data; a missing key is an error naming it."""
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(key, None, "a value (key missing from params.yaml)")
        node = node[part]
    return node


def load_params(path: Path = PARAMS_FILE) -> dict:
    """params.yaml as plain data (what DVC sees, and hashes)."""
    if not Path(path).is_file():
        raise PipelineError(f"{path}: not found (run stages from the project root)")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load(path: Path = PARAMS_FILE) -> Params:
    """params.yaml, checked: a bad value is a ParamError naming its dotted key."""
    return check(Params, load_params(path))


def check(model: type[Section], value, prefix: str = ""):
    """``value`` (a section's plain data) as ``model``; ``prefix`` is the section's dotted key."""
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise _param_error(model, err.errors()[0], prefix) from None


def _param_error(model: type[BaseModel], error: dict, prefix: str) -> ParamError:
    # Walk the error's location through the section models: the field it names (for its
    # description) and, for an unknown key, the model that refused it (for its valid keys).
    names, field, parent, owner = [], None, model, None
    for part in error["loc"]:
        if parent is not None and part in parent.model_fields:
            field = parent.model_fields[part]
            parent = _model_of(field.annotation)
        elif isinstance(part, str) and ("[" in part or part in ("bool", "str", "int", "float", "none")):
            continue  # a union member's tag, not a key
        else:
            owner, parent = parent, None
        names.append(str(part))
    key = ".".join([prefix, *names] if prefix else names)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(owner.model_fields) if owner else "the keys params.yaml documents"
        return ParamError(key, error["input"], f"one of the keys {allowed}")
    if kind == "missing":
        return ParamError(key, None, "a value (key missing from params.yaml)")
    if field is not None and field.description:
        return ParamError(key, error["input"], field.description)
    if kind == "literal_error" and field is not None:
        return ParamError(key, error["input"], "one of " + ", ".join(map(str, _literals(field.annotation))))
    return ParamError(key, error["input"], error["msg"].removeprefix("Input should be "))


def _model_of(annotation):
    """The section model an annotation holds (``Synthetic``, ``Ensemble | None``), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _literals(annotation) -> list:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [v for arg in typing.get_args(annotation) for v in _literals(arg)] + [
            a.__name__ for a in typing.get_args(annotation) if a is bool
        ]
    return []
