"""Offline stand-in for ImageNet weights: backbones pretrained on a synthetic image task.

The transfer-learning architectures (``mobilenet``, ``mobilenet_finetuned``, ``efficientnet``,
``pretrained_cnn_lstm``) exist to reuse features learnt on *other* data. ImageNet weights
cannot be downloaded offline, and a frozen random backbone is no feature extractor, so the
``pretrain`` stage trains each backbone on a separate task and writes its weights; the
architectures load them through ``weights: <path>``, the path a user takes with a weights file
of their own. The task shares nothing with the video classes but the medium: other shapes
(polygons, ellipses, arrows, letters of a sort), other textures (dots, rings, blobs, plain) and
colours drawn over the whole hue circle, at every size from a small object to half the frame.
Features that tell these apart (edges, corners, curvature, contrast at any polarity) are what
a backbone brings to a new task; the video classes' own shapes (disc, ring, triangle, cross,
star) and backgrounds are never shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from actionrec import config
from actionrec.config import PositiveInt
from actionrec.errors import ParamError
from models import WidthMultiplier

SHAPES = ("square", "diamond", "pentagon", "hexagon", "ellipse", "half_disc", "arrow", "ell", "tee", "crescent", "bar", "chevron")
TEXTURES = ("plain", "dots", "rings", "blobs")
_SHIFT = 4
_ONE = 1 << _SHIFT


def _polygon(shape: str, r: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Outline(s) of ``shape`` of size ~r around the origin, randomly rotated (as float points)."""

    def regular(n, phase=0.0):
        a = phase + 2 * np.pi * np.arange(n) / n
        return r * np.stack([np.cos(a), np.sin(a)], 1)

    if shape == "square":
        pts = regular(4, np.pi / 4)
    elif shape == "diamond":
        pts = regular(4) * (1.0, 0.6)
    elif shape == "pentagon":
        pts = regular(5)
    elif shape == "hexagon":
        pts = regular(6)
    elif shape == "ellipse":
        a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        pts = r * np.stack([np.cos(a), 0.5 * np.sin(a)], 1)
    elif shape == "half_disc":
        a = np.linspace(0, np.pi, 24)
        pts = r * np.stack([np.cos(a), np.sin(a) - 0.4], 1)
    elif shape == "arrow":
        pts = r * np.array([(-1, -0.25), (0.2, -0.25), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.25), (-1, 0.25)])
    elif shape == "ell":
        pts = r * np.array([(-0.7, -1), (-0.2, -1), (-0.2, 0.5), (0.7, 0.5), (0.7, 1), (-0.7, 1)])
    elif shape == "tee":
        pts = r * np.array([(-1, -1), (1, -1), (1, -0.5), (0.25, -0.5), (0.25, 1), (-0.25, 1), (-0.25, -0.5), (-1, -0.5)])
    elif shape == "crescent":
        a = np.linspace(-np.pi / 2, np.pi / 2, 24)
        outer = r * np.stack([np.cos(a), np.sin(a)], 1)
        inner = r * np.stack([0.45 * np.cos(a[::-1]), np.sin(a[::-1])], 1)
        pts = np.concatenate([outer, inner])
    elif shape == "bar":
        pts = r * np.array([(-1, -0.22), (1, -0.22), (1, 0.22), (-1, 0.22)])
    else:  # chevron
        pts = r * np.array([(-1, -0.8), (-0.4, -0.8), (0.5, 0), (-0.4, 0.8), (-1, 0.8), (-0.1, 0)])
    angle = rng.uniform(-np.pi / 6, np.pi / 6)  # upright give or take 30 degrees: shapes stay told apart by outline
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return [pts @ rotation.T]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A background in [0, 1] (H, W): plain, dots, concentric rings or smooth blobs."""
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "plain":
        return np.full((size, size), rng.uniform(0, 1), np.float32)
    if kind == "dots":
        period = rng.uniform(0.08, 0.25)
        return ((np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)) > 0.6).astype(np.float32)
    if kind == "rings":
        cx, cy = rng.uniform(-0.5, 1.5, 2)
        return (0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / rng.uniform(0.1, 0.4))).astype(np.float32)
    cells = int(rng.integers(3, 7))
    return cv2.resize(rng.uniform(0, 1, (cells, cells)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _colour(rng: np.random.Generator, value: tuple[int, int]) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(180), rng.integers(60, 256), rng.integers(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def render_image(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 RGB image (size, size, 3) of shape ``SHAPES[label]`` on a random textured background."""
    background = _texture(rng, size)[..., None]
    # Dark ink on a light background or the reverse, the texture's two colours close in brightness:
    # the shape always stands out, at either polarity.
    dark = rng.random() < 0.5
    ground, ink_value = ((150, 256), (20, 90)) if dark else ((20, 110), (180, 256))
    c1, c2, ink = _colour(rng, ground), _colour(rng, ground), _colour(rng, ink_value)
    image = c1 + (c2 - c1) * background
    r = rng.uniform(0.1, 0.3) * size  # from a small object to more than half the frame
    cx, cy = rng.uniform(r, size - r, 2)
    mask = np.zeros((size, size), np.uint8)
    for outline in _polygon(SHAPES[label], r, rng):
        cv2.fillPoly(mask, [np.round((outline + (cx, cy)) * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    alpha = mask[..., None].astype(np.float32) / 255
    image = image * (1 - alpha) + ink * alpha + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_images(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images with balanced labels, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(SHAPES)
    rng.shuffle(labels)
    images = np.stack([render_image(int(label), size, rng) for label in labels])
    return images, labels.astype(np.int32)


# --- pretraining -------------------------------------------------------------------------------


# Each backbone's settings under ``pretrain.backbones.<name>`` and what a key left out means
# (``images: null``, ``epochs: null``: ``pretrain.images``, ``pretrain.epochs``).
class BackbonePretraining(config.Section):
    feature_layer: str | None = None  # the cut the architectures that load it use
    images: PositiveInt | None = Field(None, description="null (pretrain.images) or an integer >= 1")
    epochs: PositiveInt | None = Field(None, description="null (pretrain.epochs) or an integer >= 1")


class MobileNetV2Pretraining(BackbonePretraining):
    alpha: WidthMultiplier = 0.35


class EfficientNetB0Pretraining(BackbonePretraining):
    pass


BACKBONES = {"mobilenet_v2": MobileNetV2Pretraining, "efficientnet_b0": EfficientNetB0Pretraining}


def backbone_settings(section) -> dict[str, dict]:
    """``pretrain.backbones``: each backbone to pretrain with its settings, defaults filled in."""
    key = "pretrain.backbones"
    if section is None:
        return {}
    if not isinstance(section, dict) or any(name not in BACKBONES for name in section):
        raise ParamError(key, section, "a mapping from " + " and/or ".join(BACKBONES) + " to their settings ({} for none)")
    return {name: config.check(BACKBONES[name], given or {}, f"{key}.{name}").model_dump() for name, given in section.items()}


def run_sizes(backbone: dict, settings: config.Pretrain, key: str) -> dict:
    """Images, epochs and batch size of one backbone's pretraining: its own, or ``pretrain``'s."""
    images = settings.images if backbone["images"] is None else backbone["images"]
    epochs = settings.epochs if backbone["epochs"] is None else backbone["epochs"]
    if images < settings.batch_size:
        raise ParamError(f"{key}.images", images, f"at least pretrain.batch_size = {settings.batch_size}")
    return {"images": images, "epochs": epochs, "batch_size": settings.batch_size}


def weights_path(root, backbone: str) -> Path:
    return Path(root) / f"{backbone}.weights.h5"


def build_backbone(backbone: str, size: int, settings: dict, key: str):
    """The backbone as the transfer architectures build it (cut, then global max pooling), randomly
    initialised, and the input scaling it expects (None: it rescales inside)."""
    import keras

    from models import backbones

    shape = (size, size, 3)
    if backbone == "mobilenet_v2":
        net = backbones.mobilenet_v2(shape, settings["alpha"], None, key=key, pooling="max", feature_layer=settings["feature_layer"])
        return net, keras.layers.Rescaling(1 / 127.5, offset=-1)
    return backbones.efficientnet_b0(shape, None, key=key, pooling="max", feature_layer=settings["feature_layer"]), None


def shape_batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """The images in batches: with ``shuffle_seed`` (training) whole batches reshuffled every
    epoch, the orders fixed by the seed; without, every image once in order (scoring)."""
    import tensorflow as tf

    from actionrec.data.tfdata import without_autotune_thread

    batches = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is None:
        return without_autotune_thread(batches.batch(batch_size))
    batches = batches.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return without_autotune_thread(batches.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def pretrain(
    backbone: str, settings: dict, *, key: str, size: int, images: int, epochs: int, batch_size: int, recipe, seed: int, out
) -> dict:
    """Train ``backbone`` (+ a softmax) on the synthetic shape task and write the backbone's weights
    to ``weights_path(out, backbone)``. Returns its held-out accuracy and cost."""
    import keras

    from actionrec.train.recipe import ClassificationLoss, HeadAccuracy

    keras.utils.set_random_seed(seed)
    net, scaling = build_backbone(backbone, size, settings, key)
    x, y = make_images(images, size, seed)
    x_val, y_val = make_images(max(images // 5, len(SHAPES)), size, seed + 1)  # other images of the same task
    inputs = keras.Input((size, size, 3))
    features = net(scaling(inputs) if scaling else inputs)
    model = keras.Model(inputs, keras.layers.Dense(len(SHAPES), activation="softmax", dtype="float32")(features))
    steps = images // batch_size
    model.compile(
        optimizer=recipe.make_optimizer(1, epochs, steps), loss=ClassificationLoss(recipe.label_smoothing), metrics=[HeadAccuracy()]
    )
    started = time.perf_counter()
    history = model.fit(shape_batches(x, y, batch_size, shuffle_seed=seed), epochs=epochs, verbose=0)
    seconds = time.perf_counter() - started
    _, val_accuracy = model.evaluate(shape_batches(x_val, y_val, batch_size), verbose=0)
    path = weights_path(out, backbone)
    net.save_weights(path)
    return {
        "val_accuracy": round(float(val_accuracy), 4),
        "train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "chance": round(1 / len(SHAPES), 4),
        "images": images,
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "parameters": int(net.count_params()),
        "feature_layer": settings["feature_layer"],
    }
