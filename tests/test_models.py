"""The model registry and the ten architectures: shapes, training, save/load, backbones, ensembling."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from keras.src.utils import file_utils  # what keras.applications downloads weights with

import models
from actionrec.errors import ParamError, PipelineError
from models import InputSpec, backbones, conv3d, two_stream
from models.blocks import FrameWise

SPEC = InputSpec(frames=4, height=32, width=32, flow_stack=3)  # 32x32: the smallest MobileNetV2/EfficientNet input
CLASSES = 4
TRAINABLE = list(models.ARCHITECTURES)


def params_for(name: str) -> dict:
    """No ImageNet download in tests: pretrained backbones start random."""
    return {"weights": None} if "weights" in models.get(name).Settings.model_fields else {}


def batch(kind: str, spec: InputSpec = SPEC, n: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    t, h, w = spec.frames, spec.height, spec.width
    if kind == "frames":
        return rng.uniform(0, 255, (n, h, w, 3)).astype("float32")
    if kind == "clip":
        return rng.uniform(0, 255, (n, t, h, w, 3)).astype("float32")
    return {
        "rgb": rng.uniform(0, 255, (n, t, h, w, 3)).astype("float32"),
        "flow": rng.uniform(0, 255, (n, spec.flow_stack, h, w, 2)).astype("float32"),
    }


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested keras.applications model (directly or inside FrameWise)."""
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.Model) and inner.name.startswith(("mobilenetv2", "efficientnet")):
            return inner
    raise AssertionError("no backbone")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# --- registry --------------------------------------------------------------------------------


def test_registry_lists_the_nine_trainable_architectures():
    assert models.ARCHITECTURES == (
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
    for name in models.ARCHITECTURES:
        module = models.get(name)
        assert module.INPUT in ("frames", "clip", "clip+flow")
        assert module.__doc__ and callable(module.build)
        assert module.min_frames(module.Settings()) >= 1


def test_unknown_architecture_lists_every_name():
    with pytest.raises(ParamError) as err:
        models.get("nope")
    assert err.value.key == "model"
    for name in models.ARCHITECTURES:
        assert name in str(err.value)


def test_params_are_checked_and_trainer_keys_ignored():
    with pytest.raises(ParamError, match=r"architectures\.basic_cnn\.filtres"):
        models.build("basic_cnn", CLASSES, SPEC, {"filtres": 8})
    with pytest.raises(ParamError, match=r"architectures\.conv3d\.blocks"):
        models.build("conv3d", CLASSES, SPEC, {"blocks": 0})
    with pytest.raises(ParamError, match=r"architectures\.vgg\.dropout"):
        models.build("vgg", CLASSES, SPEC, {"dropout": 1.5})
    model = models.build("basic_cnn", CLASSES, SPEC, {"learning_rate": 0.01, "augment": {"flip": True}, "filters": 4, "blocks": 2})
    assert model.output_shape == (None, CLASSES)


def test_an_architecture_section_is_checked_whole_by_its_own_class():
    section = {"learning_rate": 0.01, "input_size": 64, "sampling": {"segments": 4}, "filters": 8}
    checked = models.settings("basic_cnn", section)
    assert isinstance(checked, models.get("basic_cnn").Settings)
    assert (checked.filters, checked.blocks, checked.epochs, checked.augment.scales) == (8, 3, None, [1.0])  # defaults fill the rest
    assert models.model_settings("basic_cnn", checked) is checked  # build takes the checked section as it is
    with pytest.raises(ParamError) as err:
        models.settings("basic_cnn", section | {"unfreeze": 2})  # a key of another model
    assert err.value.key == "architectures.basic_cnn.unfreeze"
    assert "filters" in err.value.expected and "learning_rate" in err.value.expected  # its model's keys and the trainer's
    cases = {
        "input_size": (True, "an integer >= 16"),
        "epochs": (0, "null (train.epochs) or an integer >= 1"),
        "dropout": (1, "a number in [0, 1)"),
        "pooling": ("sum", "one of avg, max"),
        "sampling.segments": (2.5, ""),
        "augment.scales": ([0.1], ""),
        "augment.flip": ("yes", "true or false"),
    }
    for key, (value, expected) in cases.items():
        *parents, leaf = key.split(".")
        bad = {**section, **({parents[0]: {leaf: value}} if parents else {leaf: value})}
        with pytest.raises(ParamError) as err:
            models.settings("basic_cnn", bad)
        assert err.value.key.startswith(f"architectures.basic_cnn.{key}"), key
        assert expected in err.value.expected, (key, err.value.expected)
    with pytest.raises(ParamError) as err:
        models.settings("basic_cnn", {"input_size": 64, "sampling": {"segments": 4}})
    assert err.value.key == "architectures.basic_cnn.learning_rate" and err.value.value is None
    trainer = {"learning_rate": 0.01, "input_size": 64, "sampling": {"segments": 4}}
    with pytest.raises(ParamError, match=r"architectures\.mobilenet_finetuned\.unfreeze") as err:
        models.settings("mobilenet_finetuned", trainer | {"unfreeze": 18})
    assert err.value.expected == "an integer in [0, 17]"


def test_every_architecture_of_params_yaml_checks_and_keeps_its_values():
    params = yaml.safe_load((Path(models.__file__).parent.parent / "params.yaml").read_text())
    for name in models.ARCHITECTURES:
        given = params["architectures"][name]
        checked = models.settings(name, given).model_dump()
        for key, value in given.items():
            if isinstance(value, dict):
                assert {k: checked[key][k] for k in value} == value, (name, key)
            else:
                assert checked[key] == value, (name, key)


# --- every trainable architecture ------------------------------------------------------------


@pytest.mark.parametrize("name", TRAINABLE)
def test_builds_trains_and_round_trips(name, tmp_path):
    model = models.build(name, CLASSES, SPEC, params_for(name))
    x = batch(models.get(name).INPUT)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, CLASSES) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(x, np.array([0, 1]))
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))

    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_outputs_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for name, params in (("basic_cnn", {}), ("two_stream", {"fusion": "late"}), ("two_stream", {"fusion": "concat"})):
            assert models.build(name, CLASSES, SPEC, params).outputs[0].dtype == "float32", name
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> str:
    """A MobileNetV2 weights file standing in for ImageNet's (freezing only applies to pretrained weights)."""
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    backbones.mobilenet_v2((SPEC.height, SPEC.width, 3), 0.35, None).save_weights(path)
    return str(path)


def test_mobilenet_backbone_stays_frozen(pretrained):
    model = models.build("mobilenet", CLASSES, SPEC, {"weights": pretrained})
    backbone = backbone_of(model)
    assert not backbone.trainable_weights
    before = [w.numpy().copy() for w in backbone.weights]  # moving BN statistics included
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(batch("frames"), np.array([0, 1]))
    for b, w in zip(before, backbone.weights):
        np.testing.assert_array_equal(b, w.numpy())


@pytest.mark.parametrize("name", ["mobilenet", "mobilenet_finetuned", "efficientnet", "pretrained_cnn_lstm"])
def test_without_pretrained_weights_the_backbone_trains_from_scratch(name):
    model = models.build(name, CLASSES, SPEC, {"weights": None})
    backbone = backbone_of(model)
    assert backbone.trainable and len(backbone.trainable_weights) == len([w for w in backbone.weights if w.trainable])
    assert any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable for layer in backbone.layers)


def test_mobilenet_finetuned_trains_only_the_top_blocks(pretrained):
    model = models.build("mobilenet_finetuned", CLASSES, SPEC, {"weights": pretrained, "unfreeze": 2})
    backbone = backbone_of(model)
    with_weights = [layer for layer in backbone.layers if layer.weights]
    trainable = [layer for layer in with_weights if layer.trainable]
    assert 0 < len(trainable) < len(with_weights)
    assert all(not layer.trainable for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert {layer.name for layer in trainable} == {
        "block_15_expand",
        "block_15_depthwise",
        "block_15_project",
        "block_16_expand",
        "block_16_depthwise",
        "block_16_project",
        "Conv_1",
    }
    with pytest.raises(ParamError, match="unfreeze"):
        models.build("mobilenet_finetuned", CLASSES, SPEC, {"weights": pretrained, "unfreeze": 18})


def test_mobilenet_finetuned_on_a_cut_backbone_unfreezes_the_blocks_below_the_cut(pretrained):
    settings = {"weights": pretrained, "feature_layer": "block_10_expand_relu", "unfreeze": 2}
    backbone = backbone_of(models.build("mobilenet_finetuned", CLASSES, SPEC, settings))
    trainable = {layer.name for layer in backbone.layers if layer.trainable_weights}
    assert trainable == {"block_9_expand", "block_9_depthwise", "block_9_project", "block_10_expand"}
    with pytest.raises(ParamError, match=r"at most 11, the blocks of mobilenetv2_0\.35_32_to_block_10_expand_relu"):
        models.build("mobilenet_finetuned", CLASSES, SPEC, settings | {"unfreeze": 12})


def test_two_stream_fusions():
    concat = models.build("two_stream", CLASSES, SPEC, {"fusion": "concat"})
    assert concat.predict(batch("clip+flow"), verbose=0).shape == (2, CLASSES)
    with pytest.raises(ParamError) as err:
        models.build("two_stream", CLASSES, SPEC, {"fusion": "early"})
    assert err.value.key == "architectures.two_stream.fusion"
    assert "late" in str(err.value) and "concat" in str(err.value)


def test_two_stream_stacks_flow_steps_as_channels():
    model = models.build("two_stream", CLASSES, SPEC, {})
    stacked = keras.Model(model.inputs, model.get_layer("stacked_flow").output)
    flow = np.zeros((1, SPEC.frames - 1, SPEC.height, SPEC.width, 2), "float32")
    for step in range(SPEC.frames - 1):
        flow[0, step, ..., 0], flow[0, step, ..., 1] = 10 * step, 10 * step + 1
    out = stacked.predict({"rgb": batch("clip", n=1), "flow": flow}, verbose=0)
    assert out.shape == (1, SPEC.height, SPEC.width, 2 * (SPEC.frames - 1))
    np.testing.assert_array_equal(out[0, 5, 7], [0, 1, 10, 11, 20, 21])  # x0, y0, x1, y1, ...


def test_two_stream_rgb_diff_stacks_frame_differences_beside_the_flow():
    model = models.build("two_stream", CLASSES, SPEC, {"rgb_diff": True})
    motion = keras.Model(model.inputs, model.get_layer("motion_input").output)
    inputs = batch("clip+flow", n=1)
    out = motion.predict(inputs, verbose=0)
    flow_channels = 2 * SPEC.flow_stack
    assert out.shape == (1, SPEC.height, SPEC.width, flow_channels + 3 * (SPEC.frames - 1))
    rgb = inputs["rgb"][0]
    # channels after the flow: (frame 1 - frame 0) r, g, b, (frame 2 - frame 1) r, g, b, ..., scaled to [-1, 1]
    expected = np.concatenate([rgb[t + 1] - rgb[t] for t in range(SPEC.frames - 1)], axis=-1) / 255
    np.testing.assert_allclose(out[0, ..., flow_channels:], expected, atol=1e-5)
    np.testing.assert_allclose(
        out[0, ..., :flow_channels], (inputs["flow"][0].transpose(1, 2, 0, 3).reshape(32, 32, -1) - 128) / 127, atol=1e-5
    )
    assert model.count_params() > models.build("two_stream", CLASSES, SPEC, {}).count_params()  # only the first flow conv grows


def test_two_stream_rgb_diff_needs_two_frames_and_a_boolean():
    assert two_stream.min_frames(two_stream.Settings(rgb_diff=True)) == 2
    with pytest.raises(ParamError) as err:
        models.build("two_stream", CLASSES, SPEC, {"rgb_diff": "yes"})
    assert err.value.key == "architectures.two_stream.rgb_diff"


def test_two_stream_rgb_diff_sees_a_fade_that_flow_misses(tmp_path):
    """A disc fading in and the same disc fading out: identical flow (none), opposite differences."""
    fade = np.zeros((SPEC.frames, SPEC.height, SPEC.width, 3), "float32")
    for t in range(SPEC.frames):
        fade[t, 10:20, 10:20] = 60 * t
    still = np.full((SPEC.flow_stack, SPEC.height, SPEC.width, 2), 128, "float32")
    model = models.build("two_stream", CLASSES, SPEC, {"rgb_diff": True})
    motion = keras.Model(model.inputs, model.get_layer("motion_input").output)
    fade_in, fade_out = (motion.predict({"rgb": clip[None], "flow": still[None]}, verbose=0)[0] for clip in (fade, fade[::-1]))
    flow_channels = 2 * SPEC.flow_stack
    np.testing.assert_array_equal(fade_in[..., :flow_channels], fade_out[..., :flow_channels])
    np.testing.assert_allclose(fade_in[15, 15, flow_channels:], 60 / 255, rtol=1e-5)
    np.testing.assert_allclose(fade_out[15, 15, flow_channels:], -60 / 255, rtol=1e-5)
    # and it survives the save/load a trained model goes through
    path = tmp_path / "two_stream.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    inputs = {"rgb": fade[None], "flow": still[None]}
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), rtol=1e-5)


def test_min_frames():
    for name in ("basic_cnn", "vgg", "mobilenet", "mobilenet_finetuned", "efficientnet"):
        assert models.get(name).min_frames(models.get(name).Settings()) == 1
    assert two_stream.min_frames(two_stream.Settings()) == 1  # its flow stack is flow.stack fields, not the clip's
    assert conv3d.min_frames(conv3d.Settings()) == 4 and conv3d.min_frames(conv3d.Settings(blocks=4)) == 8
    # At exactly min_frames, the temporal pools bring time down to one step, not below.
    model = models.build("conv3d", CLASSES, InputSpec(4, 32, 32), {})
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling3D)]
    assert pools[-1].output.shape[1] == 1


def test_frame_wise_applies_the_frame_model_to_every_frame(tmp_path):
    frame_model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D()]
    )
    clips = batch("clip", InputSpec(5, 8, 8), n=3)
    outputs = FrameWise(frame_model)(clips)
    assert outputs.shape == (3, 5, 2)
    for t in range(5):
        np.testing.assert_allclose(outputs[:, t], frame_model(clips[:, t]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs, keras.layers.TimeDistributed(frame_model)(clips), rtol=1e-5, atol=1e-5)
    model = keras.Sequential([keras.Input((5, 8, 8, 3)), FrameWise(frame_model)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(clips, verbose=0), model.predict(clips, verbose=0), rtol=1e-6)


def test_pretrained_cnn_lstm_reads_features_from_an_earlier_block(pretrained):
    whole = backbone_of(models.build("pretrained_cnn_lstm", CLASSES, SPEC, {"weights": None}))
    cut = backbone_of(models.build("pretrained_cnn_lstm", CLASSES, SPEC, {"weights": pretrained, "feature_layer": "block_5_add"}))
    assert whole.output.shape[1:3] == (1, 1) and cut.output.shape[1:3] == (4, 4)  # stride 32 vs 8 on 32x32 frames
    assert not cut.trainable_weights  # pretrained: frozen, as the whole backbone would be
    source = backbones.mobilenet_v2((SPEC.height, SPEC.width, 3), 0.35, pretrained)
    np.testing.assert_array_equal(cut.get_layer("block_5_project").kernel, source.get_layer("block_5_project").kernel)
    with pytest.raises(ParamError) as err:
        models.build("pretrained_cnn_lstm", CLASSES, SPEC, {"weights": None, "feature_layer": "block_99_add"})
    assert err.value.key == "architectures.pretrained_cnn_lstm.feature_layer"
    assert "block_99_add" in str(err.value) and "block_5_add" in str(err.value)


# --- backbones: weights from a path, a missing file, ImageNet offline --------------------------


def test_backbone_weights_from_a_path(tmp_path):
    source = backbones.mobilenet_v2((32, 32, 3), 0.35, None)
    rng = np.random.default_rng(1)
    source.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in source.get_weights()])
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    model = models.build("mobilenet", CLASSES, SPEC, {"weights": str(path)})
    for expected, got in zip(source.get_weights(), backbone_of(model).get_weights()):
        np.testing.assert_array_equal(expected, got)


def test_a_weights_file_of_a_cut_backbone_loads_into_that_cut_only(tmp_path):
    source = backbones.mobilenet_v2((32, 32, 3), 0.35, None, pooling="max", feature_layer="block_9_add")
    rng = np.random.default_rng(2)
    source.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in source.get_weights()])
    path = tmp_path / "cut.weights.h5"
    source.save_weights(path)
    for arch in ("mobilenet", "mobilenet_finetuned", "pretrained_cnn_lstm"):  # pooled or not, the same weights
        backbone = backbone_of(models.build(arch, CLASSES, SPEC, {"weights": str(path), "feature_layer": "block_9_add"}))
        for expected, got in zip(source.get_weights(), backbone.get_weights()):
            np.testing.assert_array_equal(expected, got)
    assert backbone_of(models.build("mobilenet", CLASSES, SPEC, {"weights": str(path), "feature_layer": "block_9_add"})).output.shape == (
        None,
        24,
    )
    with pytest.raises(PipelineError, match=r"cut\.weights\.h5 does not hold weights for mobilenetv2_0\.35_32"):
        models.build("mobilenet", CLASSES, SPEC, {"weights": str(path)})  # the whole backbone needs more than the file has


def test_backbone_weights_that_do_not_fit(tmp_path):
    path = tmp_path / "wider.weights.h5"
    backbones.mobilenet_v2((32, 32, 3), 0.5, None).save_weights(path)
    with pytest.raises(PipelineError, match="wider.weights.h5"):
        backbones.mobilenet_v2((32, 32, 3), 0.35, str(path), key="architectures.mobilenet")


def test_backbone_weights_missing_file(tmp_path):
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(ParamError) as err:
        models.build("pretrained_cnn_lstm", CLASSES, SPEC, {"weights": str(missing)})
    assert err.value.key == "architectures.pretrained_cnn_lstm.weights"
    assert str(missing) in str(err.value)


def test_imagenet_offline_names_the_file_to_provide(tmp_path, monkeypatch):
    calls = []

    def offline(fname, origin, **kwargs):
        calls.append(fname)
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cases = [
        ("mobilenet", {}, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"),
        ("mobilenet_finetuned", {"alpha": 0.5}, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"),
        ("efficientnet", {"weights": "imagenet"}, "efficientnetb0_notop.h5"),
    ]
    for name, params, file in cases:
        with pytest.raises(PipelineError) as err:
            models.build(name, CLASSES, SPEC, params)
        message = str(err.value)
        assert calls[-1] == file
        assert file in message and str(tmp_path / "models") in message
        assert f"architectures.{name}.weights" in message and "null" in message
        assert err.value.__cause__ is None and err.value.__suppress_context__  # no urllib traceback
    assert backbones.mobilenet_v2_file(1.0, 96, 96) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    assert backbones.mobilenet_v2_file(0.35, 112, 112).endswith("_0.35_224_no_top.h5")


def test_backbones_need_32_pixels():
    with pytest.raises(ParamError, match=r"architectures\.efficientnet\.input_size"):
        models.build("efficientnet", CLASSES, InputSpec(4, 24, 24), {"weights": None})
