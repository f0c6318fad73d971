"""Params profiles: the UCF101 profile is valid against params.yaml and becomes `dvc exp run -S ...`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from actionrec import config, profiles
from actionrec.errors import ParamError, PipelineError


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_ucf101_profile_is_valid_and_real_data_sized():
    overrides = dict(profiles.leaves(profiles.load("ucf101")))
    profiles.check(list(overrides.items()), config.load_params())
    assert overrides["data.source"] == "ucf101" and overrides["data.split"] == 1
    assert overrides["frames.short_side"] == 128 and overrides["architectures.conv3d.input_size"] == 112
    assert overrides["architectures.conv3d.sampling.clip_len"] == 16 and overrides["architectures.conv3d.sampling.frame_interval"] == 1
    assert overrides["flow.stack"] == 10 and overrides["evaluate.clips"] == 10 and overrides["evaluate.crops"] == 3
    assert overrides["architectures.mobilenet.weights"] == "imagenet"


def test_the_224_profile_extends_ucf101_with_a_256_store_for_the_imagenet_backbones():
    overrides = dict(profiles.leaves(profiles.load("ucf101_224")))
    profiles.check(list(overrides.items()), config.load_params())
    assert overrides["frames.short_side"] == 256 and overrides["architectures.mobilenet.input_size"] == 224
    assert overrides["architectures.mobilenet.weights"] == "imagenet"  # from ucf101
    assert overrides["architectures.conv3d.input_size"] == 112 and overrides["data.source"] == "ucf101"


def test_options_are_compact_yaml_and_commas_are_not_sweeps():
    options = profiles.set_options([("augment.scales", [1.0, 0.875]), ("train.hosts", "a:4,b:4"), ("data.path", None), ("train.xla", True)])
    assert options == ["-S", "augment.scales=[1.0,0.875]", "-S", "train.hosts='a:4,b:4'", "-S", "data.path=null", "-S", "train.xla=true"]
    assert yaml.safe_load(options[1].split("=", 1)[1]) == [1.0, 0.875]


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"frames": {"short_sdie": 128}}, "frames.short_sdie"),
        ({"architectures": {"conv3d": {"sampling": {"clip_lne": 16}}}}, "architectures.conv3d.sampling.clip_lne"),
        ({"architectures": {"conv3d": {"filtres": 8}}}, "architectures.conv3d.filtres"),
        ({"architectures": {"resnet": {"epochs": 8}}}, "architectures.resnet.epochs"),
    ],
)
def test_a_misspelt_key_fails_naming_it(overrides, key):
    with pytest.raises(ParamError, match=key.replace(".", r"\.")):
        profiles.check(profiles.leaves(overrides), config.load_params())


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"frames": {"quality": 200}}, "frames.quality"),
        ({"train": {"xla": "yes"}}, "train.xla"),
        ({"data": {"split": 4}}, "data.split"),
        ({"architectures": {"conv3d": {"dropout": 2}}}, "architectures.conv3d.dropout"),  # a model key (models/conv3d.py)
        ({"architectures": {"two_stream": {"fusion": "early"}}}, "architectures.two_stream.fusion"),
        ({"architectures": {"conv3d": {"sampling": {"clip_len": 0}}}}, "architectures.conv3d.sampling.clip_len"),  # a trainer key
    ],
)
def test_a_bad_value_fails_naming_it_before_anything_runs(overrides, key):
    with pytest.raises(ParamError) as err:
        profiles.check(profiles.leaves(overrides), config.load_params())
    assert err.value.key == key


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(PipelineError, match=r"profiles/nope.yaml: no such profile \(profiles here: .*ucf101"):
        profiles.load("nope")


def test_run_hands_the_options_and_extra_arguments_to_dvc_exp_run(tmp_path):
    stub = tmp_path / "dvc"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "actionrec.profiles", "ucf101", "--run", "train@conv3d"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    argv = result.stdout.splitlines()
    assert argv[:2] == ["exp", "run"] and argv[-1] == "train@conv3d"
    assert "frames.short_side=128" in argv and "data.source=ucf101" in argv
