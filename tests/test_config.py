"""The typed configuration: params.yaml loads as one checked object, and every bad value is a
ParamError naming its dotted key, the value and what is expected."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO

from actionrec import config
from actionrec.errors import ParamError

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def changed(key: str, value) -> dict:
    params = copy.deepcopy(PARAMS)
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return params


def test_params_yaml_loads_typed():
    params = config.load(REPO / "params.yaml")
    assert params.seed == PARAMS["seed"] and params.frames.short_side == PARAMS["frames"]["short_side"]
    assert params.data.synthetic.frames == PARAMS["data"]["synthetic"]["frames"] and params.train.xla == "auto"
    assert params.evaluate.crops in (1, 3) and params.ensemble.members == PARAMS["ensemble"]["members"]
    assert params.architectures == PARAMS["architectures"]  # checked where each architecture's settings are read
    with pytest.raises(Exception, match="frozen"):
        params.seed = 1


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("data.source", "youtube", "one of synthetic, ucf101, kaggle, folder"),
        ("data.split", 4, "one of 1, 2, 3"),
        ("data.fraction", 0, "a number in (0, 1]"),
        ("data.fraction", True, "a number in (0, 1]"),  # true is not a number
        ("data.classes", [], "null or a non-empty list of class names"),
        ("data.synthetic.groups", 7, "an integer >= 8"),
        ("data.synthetic.frames", [5, 3], "[min, max] with min <= max"),
        ("data.synthetic.size", [34, 41], "even [width, height], each >= 32"),
        ("data.ucf101.video_md5", "abc", "null or a 32-digit hex MD5"),
        ("frames.short_side", 8, "an integer >= 16 (pixels)"),
        ("frames.fps", 0, "null (the native rate) or a positive number of frames per second"),
        ("frames.quality", 101, "a JPEG quality, an integer in [1, 100]"),
        ("frames.strict", "yes", "true or false"),
        ("frames.workers", -1, "an integer >= 0 (0 = all cores)"),
        ("flow.method", "tvl1", "one of farneback, dis"),
        ("flow.bound", -1, "a positive number of pixels"),
        ("flow.stack", 0, "an integer >= 1"),
        ("pretrain.batch_size", 5000, "at most pretrain.images = 3000"),
        ("pretrain.optimizer", "lamb", "one of sgd, adamw"),
        ("pretrain.learning_rate", 10, "a number in (0, 10)"),
        ("train.epochs", True, "an integer >= 1"),  # 1 is not true, and true is not 1
        ("train.mixed_precision", True, "auto, float16, bfloat16 or false"),
        ("train.mixed_precision", "fp8", "auto, float16, bfloat16 or false"),
        ("train.xla", "on", "auto, true or false"),
        ("evaluate.crops", 2, "1 (centre) or 3 (three crops along the long side)"),
        ("evaluate.crops", True, "1 (centre) or 3 (three crops along the long side)"),
        ("ensemble.members", [], "a non-empty list of trained architectures"),
        ("ensemble.members", ["vgg", "vgg"], "each architecture at most once"),
        ("ensemble.method", "median", "one of mean, weighted"),
        ("seed", -1, "an integer >= 0"),
    ],
)
def test_a_bad_value_names_its_key_the_value_and_what_is_expected(key, value, expected):
    with pytest.raises(ParamError) as err:
        config.check(config.Params, changed(key, value))
    assert (err.value.key, err.value.value, err.value.expected) == (key, value, expected)


def test_unknown_and_missing_keys_are_named():
    with pytest.raises(ParamError) as err:
        config.check(config.Params, changed("frames.shortside", 64))
    assert err.value.key == "frames.shortside" and err.value.expected == "one of the keys short_side, fps, quality, workers, strict"
    with pytest.raises(ParamError) as err:
        config.check(config.Params, changed("train.epochs", KeyError))
    assert err.value.key == "train.epochs" and "key missing from params.yaml" in err.value.expected
    with pytest.raises(ParamError, match=r"'trian': .*one of the keys seed, model, data"):
        config.check(config.Params, changed("trian", {}))


def test_a_section_is_checked_under_its_own_key():
    assert config.check(config.Evaluate, {"clips": 2}, "evaluate").clips == 2
    with pytest.raises(ParamError, match=r"'evaluate.clips': 0"):
        config.check(config.Evaluate, {"clips": 0}, "evaluate")
    assert config.cores(3) == 3 and config.cores(0) >= 1  # 0 workers: every core this process may use


def test_a_missing_params_file_says_where_to_run(tmp_path):
    with pytest.raises(Exception, match="params.yaml: not found"):
        config.load(tmp_path / "params.yaml")
