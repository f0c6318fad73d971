"""The offline pretraining task and the pretrain stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from actionrec import config
from actionrec.data import synthetic
from actionrec.errors import ParamError
from actionrec.train.pretraining import SHAPES, backbone_settings, make_images, run_sizes, shape_batches


def test_images_are_deterministic_balanced_and_varied():
    images, labels = make_images(48, 32, seed=3)
    again, labels_again = make_images(48, 32, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert images.shape == (48, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=len(SHAPES)).tolist() == [4] * len(SHAPES)
    assert not np.array_equal(make_images(48, 32, seed=4)[0], images)
    assert len({img.mean().round(1) for img in images}) > 40  # backgrounds and colours differ image to image


def test_batches_are_whole_reshuffled_every_epoch_and_run_without_the_autotune_thread():
    images, labels = make_images(50, 16, seed=3)
    ds = shape_batches(images, labels, 8, shuffle_seed=5)
    epochs = [[y.numpy().tolist() for _, y in ds] for _ in range(2)]
    assert [len(e) for e in epochs] == [6, 6] and all(len(b) == 8 for b in epochs[0])  # 50 // 8, the rest dropped
    assert epochs[0] != epochs[1]
    assert [[y.numpy().tolist() for _, y in shape_batches(images, labels, 8, shuffle_seed=5)]] == epochs[:1]
    scored = shape_batches(images, labels, 8)  # the held-out images: each once, in order
    assert np.concatenate([y.numpy() for _, y in scored]).tolist() == labels.tolist()
    # tfdata.without_autotune_thread: no stall when Keras drops an iterator
    assert ds.options().autotune.enabled is False and scored.options().autotune.enabled is False


def test_the_task_shares_no_class_with_the_videos():
    video_shapes = {"disc", "ring", "triangle", "cross", "star"}  # synthetic.py's objects
    assert not video_shapes & set(SHAPES)
    assert not {name.lower() for name in synthetic.CLASSES} & set(SHAPES)


def test_backbone_settings_fill_defaults_and_name_a_bad_key():
    assert backbone_settings({"mobilenet_v2": {"feature_layer": "block_9_add"}, "efficientnet_b0": None}) == {
        "mobilenet_v2": {"alpha": 0.35, "feature_layer": "block_9_add", "images": None, "epochs": None},
        "efficientnet_b0": {"feature_layer": None, "images": None, "epochs": None},
    }
    assert backbone_settings({}) == {} and backbone_settings(None) == {}
    with pytest.raises(ParamError) as err:
        backbone_settings({"efficientnet_b0": {"alpha": 0.5}})  # EfficientNetB0 has no width multiplier here
    assert err.value.key == "pretrain.backbones.efficientnet_b0.alpha" and "feature_layer" in err.value.expected
    with pytest.raises(ParamError) as err:
        backbone_settings(["mobilenet_v2"])
    assert err.value.key == "pretrain.backbones"


def run_stage(root: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "stages.pretrain", "data/pretrained", "metrics/pretrain.json"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def write_params(root: Path, **pretrain) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for backbone in params["pretrain"]["backbones"].values():  # a tiny run: every backbone takes the sizes below
        backbone.pop("images", None), backbone.pop("epochs", None)
    params["pretrain"].update({"images": 48, "epochs": 1, "batch_size": 16, "input_size": 32, **pretrain})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_the_stage_writes_weights_the_transfer_architectures_load(tmp_path):
    import models

    write_params(tmp_path)  # both backbones, cut where params.yaml cuts them
    result = run_stage(tmp_path)
    report = json.loads((tmp_path / "metrics/pretrain.json").read_text())
    defaults = yaml.safe_load((REPO / "params.yaml").read_text())["architectures"]
    spec = models.InputSpec(4, 32, 32)
    for backbone, archs in {
        "mobilenet_v2": ["mobilenet", "mobilenet_finetuned", "pretrained_cnn_lstm"],
        "efficientnet_b0": ["efficientnet"],
    }.items():
        assert f"pretrain {backbone}: held-out accuracy" in result.stdout
        assert 0 <= report[backbone]["val_accuracy"] <= 1 and report[backbone]["images"] == 48
        weights = tmp_path / f"data/pretrained/{backbone}.weights.h5"
        assert weights.is_file()
        for arch in archs:  # the default profile's settings, this file as their weights
            settings = {k: v for k, v in defaults[arch].items() if k not in models.TRAINER_KEYS} | {"weights": str(weights)}
            model = models.build(arch, 10, spec, settings)
            assert any(layer.trainable_weights for layer in model.layers)  # something trains: the head at least
    frozen = models.build(
        "mobilenet", 10, spec, {"weights": str(tmp_path / "data/pretrained/mobilenet_v2.weights.h5"), "feature_layer": "block_9_add"}
    )
    backbone = next(layer for layer in frozen.layers if layer.name.startswith("mobilenetv2"))
    assert not backbone.trainable  # pretrained: the frozen feature extractor the architecture is meant to be


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"backbones": {"resnet50": {}}},
            "'pretrain.backbones': {'resnet50': {}} (expected a mapping from mobilenet_v2 and/or efficientnet_b0",
        ),
        (
            {"backbones": {"mobilenet_v2": {"feature_layer": "block_99_add"}}},
            "'pretrain.backbones.mobilenet_v2.feature_layer': 'block_99_add'",
        ),
        ({"optimizer": "adam"}, "'pretrain.optimizer': 'adam'"),
        ({"batch_size": 1000}, "'pretrain.batch_size': 1000"),
        ({"epochs": 0}, "'pretrain.epochs': 0"),
        ({"backbones": {"efficientnet_b0": {"epochs": 1.5}}}, "'pretrain.backbones.efficientnet_b0.epochs': 1.5"),
        ({"input_size": 24}, "'pretrain.input_size': 24"),
        ({"backbones": {"mobilenet_v2": {"images": 0}}}, "'pretrain.backbones.mobilenet_v2.images': 0"),
        (
            {"backbones": {"mobilenet_v2": {"images": 8}}},
            "'pretrain.backbones.mobilenet_v2.images': 8 (expected at least pretrain.batch_size = 16)",
        ),
    ],
)
def test_bad_pretrain_params_name_the_key(tmp_path, change, message):
    write_params(tmp_path, **change)
    result = run_stage(tmp_path, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "data/pretrained").exists()  # nothing half-written


def test_a_backbone_may_set_its_own_images_and_epochs():
    settings = config.Pretrain(learning_rate=0.1, images=3000, epochs=12, batch_size=64)
    own, default = backbone_settings({"mobilenet_v2": {"images": 6000, "epochs": 20}, "efficientnet_b0": {}}).values()
    assert run_sizes(own, settings, "k") == {"images": 6000, "epochs": 20, "batch_size": 64}
    assert run_sizes(default, settings, "k") == {"images": 3000, "epochs": 12, "batch_size": 64}


def test_no_backbones_writes_an_empty_folder(tmp_path):
    write_params(tmp_path, backbones={})
    run_stage(tmp_path)
    assert (tmp_path / "data/pretrained").is_dir() and not list((tmp_path / "data/pretrained").iterdir())
    assert json.loads((tmp_path / "metrics/pretrain.json").read_text()) == {}
