"""Pretrained keras.applications backbones and where their weights come from.

``architectures.<name>.weights``:

- ``imagenet``: Keras' own download, cached as ``$KERAS_HOME/models/<file>`` (default
  ``~/.keras/models``); a machine without network needs that file put there by hand.
- ``null``: random initialisation.
- a path: a weights file for the same backbone cut at the same ``feature_layer``, e.g. one the
  ``pretrain`` stage wrote (``save_weights``) or, for a whole MobileNetV2, the Keras ImageNet
  ``.h5`` itself.

``feature_layer`` cuts a backbone at an earlier layer, whose output becomes the features (a
finer grid, fewer layers); ``null`` keeps it whole.

Backbones are built without their classifier (``include_top=False``); the caller adds its head
and the input scaling the backbone expects (MobileNetV2: [-1, 1]; EfficientNetB0: [0, 255]).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import keras

from actionrec.errors import ParamError, PipelineError
from models.blocks import BN_MOMENTUM, global_pool

IMAGENET_SIZES = (96, 128, 160, 192, 224)  # MobileNetV2 sizes with their own ImageNet weights
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"


def keras_cache_dir() -> Path:
    """The folder keras.utils.get_file caches application weights in (KERAS_HOME, else ~/.keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def mobilenet_v2_file(alpha: float, height: int, width: int) -> str:
    """The no-top ImageNet file Keras looks for; other sizes fall back to the 224 weights."""
    rows = height if height == width and height in IMAGENET_SIZES else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"


def trains_from_scratch(weights) -> bool:
    """``weights: null``: nothing pretrained to keep, so the whole backbone trains, batch norm included.

    Freezing a randomly initialised MobileNetV2/EfficientNet would leave features that are
    practically constant (activations of ~1e-11 after the frozen batch norms), and no head can
    learn from that. The architectures that freeze (all or part of) a backbone therefore only
    do so with pretrained weights; the offline default profile trains them from scratch.
    """
    return weights is None


def backbone_rate(model: keras.Model, multiplier: float) -> list[tuple[list, float]]:
    """The trainable variables of ``model``'s keras.applications backbone at ``multiplier`` times
    the rate (its new head keeps the whole rate): ``models.rate_scales``."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name.startswith(("mobilenetv2", "efficientnet"))]
    variables = [v for backbone in nested for v in backbone.trainable_variables]
    return [(variables, multiplier)] if variables and multiplier != 1 else []


def mobilenet_v2(
    input_shape, alpha=0.35, weights="imagenet", key="architectures.mobilenet", pooling="avg", feature_layer=None
) -> keras.Model:
    """MobileNetV2 without top, up to ``feature_layer``; expects inputs in [-1, 1]. ``key``: the architecture's params prefix."""
    _check_size(input_shape, key)
    if weights == "imagenet" and alpha not in MOBILENET_ALPHAS:
        raise ParamError(f"{key}.alpha", alpha, "one of " + ", ".join(map(str, MOBILENET_ALPHAS)) + " with ImageNet weights")

    def make(w):
        return keras.applications.MobileNetV2(input_shape=input_shape, alpha=alpha, include_top=False, weights=w, pooling=None)

    file = mobilenet_v2_file(alpha, input_shape[0], input_shape[1])
    return _load(make, weights, key, file, MOBILENET_URL + file, feature_layer, pooling)


def efficientnet_b0(input_shape, weights="imagenet", key="architectures.efficientnet", pooling="avg", feature_layer=None) -> keras.Model:
    """EfficientNetB0 without top, up to ``feature_layer``; rescales internally, so it takes inputs in [0, 255].

    A path is loaded into the ``weights=None`` graph, which lacks the extra per-channel rescaling
    Keras adds for ImageNet weights: for those, use ``imagenet`` (with the file in the cache).
    """
    _check_size(input_shape, key)

    def make(w):
        return keras.applications.EfficientNetB0(input_shape=input_shape, include_top=False, weights=w, pooling=None)

    file = "efficientnetb0_notop.h5"
    return _load(make, weights, key, file, EFFICIENTNET_URL + file, feature_layer, pooling)


def cut(backbone: keras.Model, layer: str | None, key: str, pooling: str | None = None) -> keras.Model:
    """The backbone up to ``layer`` (``None``: whole), then global ``avg``/``max`` pooling if given."""
    output = backbone.output
    if layer is not None:
        names = [x.name for x in backbone.layers]
        if layer not in names:
            blocks = [n for n in names if n.endswith("_add")] + [names[-1]]
            raise ParamError(key, layer, f"a layer of {backbone.name}, e.g. one of: {', '.join(blocks)}")
        output = backbone.get_layer(layer).output
    if layer is None and pooling is None:
        return backbone
    if pooling is not None:
        output = global_pool(output, pooling, name=f"{pooling}_pool")
    return keras.Model(backbone.input, output, name=backbone.name + (f"_to_{layer}" if layer else ""))


def _scratch_batch_norm(model: keras.Model) -> keras.Model:
    """A randomly initialised backbone learns its batch-norm statistics from our data, in a few hundred steps.

    keras.applications use momentum 0.99 (MobileNetV2 0.999), tuned for ImageNet-length runs: on
    the synthetic profile the moving statistics would still hold their initial values when
    validation runs, and every validation prediction would be uniform (val_loss = ln C).
    """
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    return model


def _check_size(input_shape, key: str) -> None:
    if min(input_shape[:2]) < 32:
        raise ParamError(f"{key}.input_size", input_shape[0], f"at least 32 for {key.split('.')[-1]} (an ImageNet backbone)")


def _load(make, weights, prefix: str, file: str, url: str, feature_layer, pooling) -> keras.Model:
    """The backbone (``make(weights)``) cut at ``feature_layer`` and pooled; a weights file is loaded
    into the cut graph, so it must come from the same cut."""
    key = f"{prefix}.weights"

    def shape(model):
        return cut(model, feature_layer, f"{prefix}.feature_layer", pooling)

    if weights is None:
        return _scratch_batch_norm(shape(make(None)))
    if weights == "imagenet":
        try:
            model = make("imagenet")
        except Exception as error:  # the fetch (no network, HTTP error) or a corrupt cached file
            cache = keras_cache_dir()
            raise PipelineError(
                f"{key}: could not get the ImageNet weights ({_brief(error)}). Keras looks for {file} in {cache}/; "
                f"download {url} on a machine with network access and put it there, or set {key} to the path "
                f"of a weights file, or to null (random initialisation)"
            ) from None
        return shape(model)
    if not isinstance(weights, (str, os.PathLike)):
        raise ParamError(key, weights, "imagenet, null or the path of a weights file")
    path = Path(weights)
    if not path.is_file():
        raise ParamError(key, str(weights), "imagenet, null or the path of an existing weights file")
    model = shape(make(None))
    try:
        with warnings.catch_warnings():  # a mismatched file also floods "Skipping nested container" warnings
            warnings.simplefilter("ignore", UserWarning)
            model.load_weights(path)
    except Exception as error:
        raise PipelineError(f"{key}: {path} does not hold weights for {model.name} ({_brief(error)})") from None
    return model


def _brief(error: Exception, limit: int = 300) -> str:
    """Keras load errors can print whole tensors: one line, cut short."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."
