"""From a trained model directory and a video to class probabilities: the one inference path.

The predict command and the evaluation stage both go through :func:`actionrec.data.examples.video_views`
on a video's frame pack (and flow pack): evaluation reads them from the stores, and
:func:`predict_video` builds them from a new file with the extract stage's own decoder and
encoder (:func:`actionrec.data.framestore.encode_video`) and the flow stage's
:func:`actionrec.data.flow.flow_of_pack`, at the settings recorded at training time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import models
from actionrec.data import kinds
from actionrec.data.examples import video_views
from actionrec.data.flow import flow_of_pack
from actionrec.data.framestore import encode_video
from actionrec.data.inputs import video_dataset
from actionrec.data.sampling import Sampling
from actionrec.errors import PipelineError


@dataclass
class TrainedModel:
    architecture: str
    model: keras.Model
    classes: list[str]
    input_size: int
    sampling: Sampling  # and through it the input kind (sampling.kind)
    store: dict  # {"short_side", "fps", "quality"} of the frame store it was trained on
    flow: dict | None = None  # {"method", "bound", "quality"} of the flow store (clip+flow)


def _require(path: Path, arch: str) -> Path:
    if not path.is_file():
        raise PipelineError(f"{path}: not found, the trained model is incomplete (run `dvc repro train@{arch}`)")
    return path


def load_trained(arch: str, directory: Path) -> TrainedModel:
    """Load ``<directory>/model.keras`` and its ``classes.json`` (written by the train stage)."""
    models.get(arch)  # unknown name (the ensemble included: predict with a member): a ParamError listing the valid ones
    directory = Path(directory)
    if not directory.is_dir():
        raise PipelineError(f"{directory}: no trained {arch} model here (run `dvc repro train@{arch}`)")
    meta = json.loads(_require(directory / "classes.json", arch).read_text())
    if "sampling" not in meta:
        raise PipelineError(f"{directory}: trained by an older version, before the dense frame store (rerun `dvc repro train@{arch}`)")
    model = keras.saving.load_model(_require(directory / "model.keras", arch), safe_mode=True, compile=False)
    if model.output_shape[-1] != len(meta["classes"]):
        raise PipelineError(
            f"{directory}: model has {model.output_shape[-1]} outputs but classes.json lists "
            f"{len(meta['classes'])} classes (rerun `dvc repro train@{arch}`)"
        )
    if meta.get("input") not in kinds.KINDS:
        raise PipelineError(
            f"{directory / 'classes.json'}: input {meta.get('input')!r} is none of {', '.join(kinds.KINDS)} (rerun `dvc repro train@{arch}`)"
        )
    sampling = Sampling(meta["input"], **meta["sampling"])
    return TrainedModel(arch, model, list(meta["classes"]), int(meta["input_size"]), sampling, meta["store"], meta.get("flow"))


def video_inputs(
    trained: TrainedModel,
    frames_pack: bytes,
    num_frames: int,
    height: int,
    width: int,
    flow_pack: bytes | None = None,
    clips: int = 1,
    crops: int = 1,
):
    """The model input for one video's test views, as evaluation builds it: E examples
    (frames for frame models, clips for clip models; ``{"rgb", "flow"}`` for two-stream)."""
    if trained.sampling.flow_stack and flow_pack is None:
        raise PipelineError(f"{trained.architecture}: needs the video's optical flow")
    views = video_views(
        tf.constant(frames_pack),
        tf.constant(flow_pack or b""),
        num_frames,
        height,
        width,
        trained.sampling,
        trained.input_size,
        clips,
        crops,
    )
    flow = views["flow"].numpy() if "flow" in views else None
    return trained.sampling.kind.model_input(views["rgb"].numpy(), flow)


def predict_inputs(trained: TrainedModel, inputs) -> np.ndarray:
    """(C,) class probabilities of one video: the mean over its views' examples."""
    # predict_on_batch runs a compiled graph (traced once per input shape); calling the model
    # directly would execute layer by layer, several times slower for the deep backbones.
    return np.asarray(trained.model.predict_on_batch(inputs), dtype=np.float32).mean(axis=0)


def encode_new_video(trained: TrainedModel, path: Path):
    """A new video file -> (frames pack, flow pack or None, frames, height, width), as the stores hold it."""
    store = trained.store
    decoded, frames_pack = encode_video(Path(path), store["short_side"], store["fps"], store["quality"])
    flow_pack = None
    if trained.sampling.flow_stack:
        if not trained.flow:
            raise PipelineError(
                f"{trained.architecture}: classes.json does not record its optical flow settings "
                f"(retrain with `dvc repro train@{trained.architecture}`)"
            )
        f = trained.flow
        flow_pack = flow_of_pack(frames_pack, f["method"], float(f["bound"]), int(f["quality"]), name=str(path))
    return frames_pack, flow_pack, len(decoded.frames), decoded.stored_height, decoded.stored_width


def predict_video(trained: TrainedModel, path: Path, clips: int = 1, crops: int = 1) -> np.ndarray:
    """Decode and encode ``path`` like the extract (and flow) stage, then score its test views;
    raises ``UnreadableVideo``."""
    frames_pack, flow_pack, n, h, w = encode_new_video(trained, path)
    return predict_inputs(trained, video_inputs(trained, frames_pack, n, h, w, flow_pack, clips, crops))


def top_k(trained: TrainedModel, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable classes, best first, as (class name, probability)."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(trained.classes[i], float(probs[i])) for i in order]


def video_probabilities(model, source, sampling, input_size: int, batch_videos: int, clips: int = 1, crops: int = 1):
    """Each video's probabilities (the mean over its ``clips`` x ``crops`` views), per model output
    (an array, or a list of them for a model with several outputs), and whether each view was right
    (of the first output)."""
    views = video_dataset(source, sampling, input_size=input_size, clips=clips, crops=crops)
    probs, correct = [], []
    for inputs, labels in views.batch(batch_videos).prefetch(1).as_numpy_iterator():
        # (videos, examples, ...) -> one batch of examples for the model, then back per video.
        flat = (
            {k: v.reshape(-1, *v.shape[2:]) for k, v in inputs.items()}
            if isinstance(inputs, dict)
            else inputs.reshape(-1, *inputs.shape[2:])
        )
        outputs = model.predict_on_batch(flat)
        outputs = [np.asarray(o, np.float64) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        outputs = [o.reshape(len(labels), -1, o.shape[-1]) for o in outputs]
        correct.append(outputs[0].argmax(-1) == labels[:, None])
        probs.append([o.mean(axis=1) for o in outputs])
    per_output = [np.concatenate(p) for p in zip(*probs)]
    return (per_output if len(per_output) > 1 else per_output[0]), np.concatenate([c.ravel() for c in correct])
