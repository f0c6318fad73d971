"""From a trained model directory and raw frames to class probabilities: the one inference path.

The predict stage and the evaluation stage both go through :func:`video_inputs`, which builds
the model input exactly as ``inputs.make_dataset(training=False)`` does from the frame store
(float32 pixels in [0, 255]; uint8 flow codes cast to float32), and :func:`predict_video`
decodes a file with the same :func:`actionrec.video.sample_frames` the extract stage uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

import models
from actionrec.errors import DataError, PipelineError
from actionrec.flow import compute_flow
from actionrec.inputs import clip_windows
from actionrec.video import sample_frames

MODELS_DIR = Path("data/models")


@dataclass
class TrainedModel:
    architecture: str
    model: keras.Model
    classes: list[str]
    input: str  # "frames" | "clip" | "clip+flow"
    frames: int  # frames sampled per video
    size: tuple[int, int]  # (width, height)
    flow: dict | None = None  # {"method", "bound"} the flow store had at training time (clip+flow)
    clip_frames: int | None = None  # clip models: frames per clip (None: all ``frames``)


def _require(path: Path, arch: str) -> Path:
    if not path.is_file():
        raise PipelineError(f"{path}: not found, the trained model is incomplete (run `dvc repro train@{arch}`)")
    return path


def load_trained(arch: str, models_dir: Path = MODELS_DIR) -> TrainedModel:
    """Load ``<models_dir>/<arch>/model.keras`` and its ``classes.json`` (written by the train stage)."""
    module = models.get(arch)  # unknown name: a ParamError listing the valid ones
    if module.INPUT == "predictions":
        raise PipelineError(f"{arch} is not a Keras model: it combines its members' predictions (predict with a member)")
    directory = Path(models_dir) / arch
    if not directory.is_dir():
        raise PipelineError(f"{directory}: no trained {arch} model here (run `dvc repro train@{arch}`)")
    meta = json.loads(_require(directory / "classes.json", arch).read_text())
    model = keras.saving.load_model(_require(directory / "model.keras", arch), safe_mode=True, compile=False)
    if model.output_shape[-1] != len(meta["classes"]):
        raise PipelineError(f"{directory}: model has {model.output_shape[-1]} outputs but classes.json lists "
                            f"{len(meta['classes'])} classes (rerun `dvc repro train@{arch}`)")  # fmt: skip
    width, height = meta["size"]
    return TrainedModel(arch, model, list(meta["classes"]), meta["input"], int(meta["frames"]), (int(width), int(height)),
                        meta.get("flow"), meta.get("clip_frames"))  # fmt: skip


def _check_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape or array.dtype != np.uint8:
        raise DataError(f"{name}: array {array.shape} {array.dtype}, expected {shape} uint8 (the shape the model was trained on)")


def _flow_for(trained: TrainedModel, frames: np.ndarray) -> np.ndarray:
    if not trained.flow:
        raise PipelineError(
            f"{trained.architecture}: classes.json does not record the optical flow settings it was trained with "
            f"(retrain with `dvc repro train@{trained.architecture}`, or pass the flow)"
        )
    return compute_flow(frames, trained.flow["method"], float(trained.flow["bound"]))


def video_inputs(trained: TrainedModel, frames: np.ndarray, flow_u8: np.ndarray | None = None, clips: int = 1):
    """The model input for one video, as ``make_dataset(training=False)`` builds it.

    ``frames``: (T, H, W, 3) uint8 RGB. Frame models get all T frames as one batch; clip models
    a batch of ``clips`` windows of ``clip_frames`` frames (:func:`inputs.clip_windows`; with
    ``clips=1`` the centre window, as validation uses); two-stream models ``{"rgb", "flow"}``,
    the flow computed with the training-time method and bound when ``flow_u8`` ((T-1, H, W, 2)
    uint8) is not given.
    """
    t, (w, h) = trained.frames, trained.size
    frames = np.asarray(frames)
    _check_shape("frames", frames, (t, h, w, 3))
    rgb = frames.astype(np.float32)
    if trained.input == "frames":
        return rgb
    length = trained.clip_frames or t
    starts = clip_windows(t, length, clips)
    if trained.input == "clip":
        return np.stack([rgb[s : s + length] for s in starts])
    if trained.input != "clip+flow":
        raise PipelineError(f"{trained.architecture}: unknown input kind {trained.input!r} in classes.json")
    flow_u8 = _flow_for(trained, frames) if flow_u8 is None else np.asarray(flow_u8)
    _check_shape("flow", flow_u8, (t - 1, h, w, 2))
    flow = flow_u8.astype(np.float32)
    return {"rgb": np.stack([rgb[s : s + length] for s in starts]), "flow": np.stack([flow[s : s + length - 1] for s in starts])}


def predict_frames(trained: TrainedModel, frames: np.ndarray, flow_u8: np.ndarray | None = None, clips: int = 1) -> np.ndarray:
    """(C,) class probabilities for one video: the mean over its frames (frame models) or clips."""
    # predict_on_batch runs a compiled graph (traced once per input shape); calling the model
    # directly would execute layer by layer, several times slower for the deep backbones.
    probs = np.asarray(trained.model.predict_on_batch(video_inputs(trained, frames, flow_u8, clips)), dtype=np.float32)
    return probs.mean(axis=0)


def predict_video(trained: TrainedModel, path: Path, clips: int = 1) -> np.ndarray:
    """Decode ``path`` like the extract stage, then :func:`predict_frames`; raises ``UnreadableVideo``."""
    return predict_frames(trained, sample_frames(Path(path), trained.frames, trained.size).frames, clips=clips)


def top_k(trained: TrainedModel, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable classes, best first, as (class name, probability)."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(trained.classes[i], float(probs[i])) for i in order]
