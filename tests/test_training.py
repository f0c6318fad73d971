"""The train stage for real: horovodrun with two CPU processes, kill-and-resume, bad params.

Every test runs the stage as users do (``python -m stages.train`` or ``horovodrun ...``) in a
small project directory holding a tiny synthetic frame store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from tiny import shrink_inputs

from actionrec.pipeline import stage_argv

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def tiny_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # 10 classes x 12 groups: split 1 trains on groups 8-12, one of which is held out for validation.
    params["data"]["synthetic"].update(groups=12, clips_per_group=1, frames=[10, 14], size=[64, 48])
    shrink_inputs(params)
    params["train"].update(epochs=3, batch_size=8, patience=5, val_groups=1)
    params["architectures"]["basic_cnn"].update(epochs=3, filters=8, blocks=2)
    params["architectures"]["conv3d"].update(epochs=3, filters=4, blocks=2)
    return params


def run(cwd: Path, *cmd: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A project directory with params.yaml and the data stages' outputs (built once per module)."""
    root = tmp_path_factory.mktemp("train") / "project"
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    for stage in ("download", "extract", "flow"):
        run(root, sys.executable, *stage_argv(stage))
    return root


@pytest.fixture
def project(store, tmp_path) -> Path:
    """A fresh copy of the project (no trained models, no checkpoints)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(store / "params.yaml", root)
    (root / "data").mkdir()
    for part in ("frames", "flow"):
        os.symlink(store / "data" / part, root / "data" / part)
    return root


def set_params(root: Path, change) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    change(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def outputs(root: Path) -> set[str]:
    skip = ("dvclive", "logs")
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not str(p.relative_to(root)).startswith(skip)}


def test_two_horovod_processes_stay_in_sync_and_write_what_one_writes(project, tmp_path):
    single = tmp_path / "single"
    shutil.copytree(project, single, symlinks=True)
    run(single, "horovodrun", "-np", "1", "-H", "localhost:1", sys.executable, *stage_argv("train@basic_cnn"))

    result = run(project, "horovodrun", "-np", "2", "-H", "localhost:2", sys.executable, *stage_argv("train@basic_cnn"))
    summary = json.loads((project / "metrics/train/basic_cnn.json").read_text())
    assert summary["processes"] == 2 and summary["ranks_in_sync"] is True
    assert outputs(project) == outputs(single)  # rank 0 alone writes, and it writes the same set
    assert result.stdout.count("train basic_cnn: ") == 3  # the header, the recipe and the result, printed by rank 0 only
    assert "[1]<stdout>:train" not in result.stdout


def checkpoint_epoch(root: Path, arch: str) -> int:
    states = list((root / "data/checkpoints" / arch).glob("*/state.json"))
    return json.loads(states[0].read_text())["epoch"] if states else 0


def saved_weights(root: Path, arch: str) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(root / f"data/models/{arch}/model.keras", safe_mode=True).get_weights()


# Forced on CPU: `auto` would turn mixed precision on only with a GPU. float16 with the frame models
# (basic_cnn trained through its segmental consensus; mobilenet_finetuned's backbone at half the
# head's rate, ScaledAdamW inside the LossScaleOptimizer): TensorFlow has no float16 MaxPool3D kernel
# on CPU. Batch 6 divides none of basic_cnn's 40 videos, mobilenet_finetuned's 160 frames and conv3d's 40 clips.
@pytest.mark.parametrize(
    "arch, precision", [("conv3d", False), ("basic_cnn", "float16"), ("mobilenet_finetuned", "float16"), ("conv3d", "bfloat16")]
)
def test_killed_run_resumes_after_its_last_epoch_with_the_same_result(project, tmp_path, arch, precision):
    def change(p):
        p["architectures"][arch].update(epochs=4, batch_size=6)
        p["train"].update(mixed_precision=precision)
        if arch == "mobilenet_finetuned":  # random weights: the test project has no pretrain stage
            p["architectures"][arch].update(weights=None, backbone_rate=0.5)

    set_params(project, change)
    reference = tmp_path / "reference"
    shutil.copytree(project, reference, symlinks=True)
    run(reference, sys.executable, *stage_argv(f"train@{arch}"))
    expected = json.loads((reference / f"data/models/{arch}/history.json").read_text())

    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        [sys.executable, *stage_argv(f"train@{arch}")],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while checkpoint_epoch(project, arch) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = checkpoint_epoch(project, arch)
    assert 1 <= done < 4, "the run should be killed after its first epoch and before the end"
    assert not (project / f"data/models/{arch}/model.keras").exists()

    result = run(project, sys.executable, *stage_argv(f"train@{arch}"))
    assert f"resuming after epoch {done}" in result.stdout
    history = json.loads((project / f"data/models/{arch}/history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    # One process on CPU is bit-reproducible (make_reproducible), the input stream is a function
    # of (seed, epoch) and the loss scale is in the checkpoint: the resumed run repeats the
    # uninterrupted one exactly.
    for got, want in zip(history, expected):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert got[key] == want[key], f"epoch {got['epoch']} {key}: {got[key]} resumed, {want[key]} uninterrupted"
    for got, want in zip(saved_weights(project, arch), saved_weights(reference, arch), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not (project / f"data/checkpoints/{arch}").exists()  # removed once the model is saved
    summary = json.loads((project / f"metrics/train/{arch}.json").read_text())
    assert summary["precision"] == {False: "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[precision]
    import keras

    saved = keras.saving.load_model(project / f"data/models/{arch}/model.keras", safe_mode=True)
    assert saved.dtype_policy.name == "float32" and {w.dtype for w in saved.weights} == {"float32"}  # runs on any device


# Trains one model a few steps on fixed tensors, set up as the train stage sets itself up, and saves its weights.
FIT_FIXED_TENSORS = """
import sys, keras, numpy as np
import models
from actionrec.cluster.distributed import World
from actionrec.train.settings import make_reproducible
arch, out = sys.argv[1:]
make_reproducible(World(0, 1, 0))
keras.utils.set_random_seed(42)
model = models.build(arch, 10, models.InputSpec(8, 64, 64), models.get(arch).Settings())
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (128, 8, 64, 64, 3)).astype("float32")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, rng.integers(0, 10, 128), batch_size=32, epochs=1, shuffle=False, verbose=0)
np.savez(out, *model.get_weights())
"""


@pytest.mark.parametrize("arch", ["conv3d", "cnn_lstm"])
def test_two_runs_under_one_seed_end_with_bit_identical_weights(arch, tmp_path):
    """Conv3D and LSTM models drifted from run to run under op determinism alone; at these sizes
    (default widths, 8 frames of 64x64, batch 32) every pair of runs differed before make_reproducible."""
    weights = []
    for name in ("first", "second"):
        run(tmp_path, sys.executable, "-c", FIT_FIXED_TENSORS, arch, str(tmp_path / f"{name}.npz"))
        with np.load(tmp_path / f"{name}.npz") as saved:
            weights.append([saved[k] for k in saved.files])
    for got, want in zip(*weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_checkpoint_of_other_params_is_never_reused(project):
    set_params(project, lambda p: p["architectures"]["basic_cnn"].update(epochs=1))
    run(project, sys.executable, *stage_argv("train@basic_cnn"))
    stale = project / "data/checkpoints/basic_cnn/0123456789abcdef"
    stale.mkdir(parents=True)
    (stale / "state.json").write_text(json.dumps({"epoch": 1}))
    set_params(project, lambda p: p["architectures"]["basic_cnn"].update(learning_rate=0.002))
    result = run(project, sys.executable, *stage_argv("train@basic_cnn"))
    assert "resuming" not in result.stdout


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda p: p["train"].update(epochs=0), "'train.epochs': 0"),
        (lambda p: p["architectures"]["basic_cnn"].update(epochs=0), "'architectures.basic_cnn.epochs': 0"),
        (lambda p: (p["train"].update(batch_size=1000), p["architectures"]["basic_cnn"].pop("batch_size")), "'train.batch_size': 1000"),
        (lambda p: p["architectures"]["basic_cnn"].update(batch_size=1000), "'architectures.basic_cnn.batch_size': 1000"),
        (lambda p: p["architectures"]["basic_cnn"].update(batch_size=0), "'architectures.basic_cnn.batch_size': 0"),
        (lambda p: p["architectures"]["basic_cnn"].update(learning_rate=50), "'architectures.basic_cnn.learning_rate': 50"),
        (lambda p: p["architectures"]["basic_cnn"].update(optimizer="adam"), "'architectures.basic_cnn.optimizer': 'adam'"),
        (lambda p: p["architectures"]["basic_cnn"].update(filtres=8), "'architectures.basic_cnn.filtres'"),
        (lambda p: p["architectures"]["basic_cnn"]["augment"].update(crop=0.01), "'architectures.basic_cnn.augment.crop'"),
        (lambda p: p["train"].update(val_groups=50), "'train.val_groups': 50"),
        (lambda p: p["train"].update(mixed_precision=True), "'train.mixed_precision': True (expected auto, float16, bfloat16 or false)"),
        (lambda p: p["train"].update(mixed_precision="fp16"), "'train.mixed_precision': 'fp16'"),
        (lambda p: p["train"].update(xla="yes"), "'train.xla': 'yes'"),
    ],
)
def test_bad_params_fail_naming_the_key(project, change, message):
    set_params(project, change)
    result = run(project, sys.executable, *stage_argv("train@basic_cnn"), check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_clip_len_below_what_conv3d_needs(project):
    set_params(project, lambda p: p["architectures"]["conv3d"].update(blocks=4))  # pools time 3 times: needs 8 frames
    result = run(project, sys.executable, *stage_argv("train@conv3d"), check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "'architectures.conv3d.sampling.clip_len': 4" in result.stderr and "at least 8 for conv3d" in result.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(input_size=200), "'architectures.conv3d.input_size': 200 (expected at most 4 x frames.short_side = 128"),
        (lambda a: a.update(sampling={"clip_len": 0, "frame_interval": 1}), "'architectures.conv3d.sampling.clip_len': 0"),
        (lambda a: a.update(sampling={"clip_len": 4, "frame_intreval": 1}), "'architectures.conv3d.sampling.frame_intreval'"),
        (lambda a: a.update(sampling={"segments": 4}), "'architectures.conv3d.sampling.segments'"),
    ],
)
def test_bad_input_size_or_sampling_fails_before_training(project, change, message):
    set_params(project, lambda p: change(p["architectures"]["conv3d"]))
    result = run(project, sys.executable, *stage_argv("train@conv3d"), check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]


def test_a_store_built_with_other_frames_params_is_refused(project):
    set_params(project, lambda p: p["frames"].update(short_side=40))
    result = run(project, sys.executable, *stage_argv("train@basic_cnn"), check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "frames.short_side=32 but params.yaml says 40" in result.stderr and "dvc repro extract" in result.stderr


def test_unknown_architecture_lists_the_valid_names(project):
    result = run(project, sys.executable, "-m", "stages.train", "resnet", *stage_argv("train@basic_cnn")[3:], check=False)
    assert result.returncode == 2
    assert "resnet" in result.stderr and "basic_cnn, vgg, mobilenet" in result.stderr and "two_stream" in result.stderr


def test_a_rank_with_an_empty_shard_fails_on_every_rank_before_any_collective():
    """Every rank computes the same split sizes, so all of them raise (no rank left waiting in an allreduce)."""
    from actionrec.cluster.distributed import World
    from actionrec.errors import DataError
    from actionrec.train.training import _shard

    rows = [{"video": "a"}]
    for rank in (0, 1):
        with pytest.raises(DataError, match="fewer than train.processes=2"):
            _shard(rows, World(rank, 2, rank), "validation")
    assert _shard(rows * 3, World(1, 2, 1), "validation") == [{"video": "a"}]


def test_a_kill_between_the_checkpoint_renames_still_leaves_the_previous_epoch(tmp_path):
    from actionrec.train.checkpoints import latest, previous

    directory = tmp_path / "conv3d" / "abc"
    assert latest(directory) is None
    previous(directory).mkdir(parents=True)
    (previous(directory) / "state.json").write_text('{"epoch": 3}')
    assert latest(directory) == previous(directory)  # killed after moving epoch 3 aside
    directory.mkdir()
    (directory / "state.json").write_text('{"epoch": 4}')
    assert latest(directory) == directory


# Two ranks on different data, set up as the train stage sets them up: XLA on, dropout and batch norm.
RANKS_SCRIPT = """
import json, sys, keras, numpy as np, tensorflow as tf
from actionrec.cluster import distributed
world = distributed.init()
keras.utils.set_random_seed(42)  # the same seed on every rank, as in the stage
inputs = keras.Input((8,))
h = keras.layers.BatchNormalization()(keras.layers.Dense(32)(inputs))
h = keras.layers.Dropout(0.5, name="dropout")(h)
trainer = distributed.DistributedModel(inputs=inputs, outputs=keras.layers.Dense(3, activation="softmax")(h))
trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", jit_compile=True)
distributed.broadcast_variables(trainer.variables)
rng = np.random.default_rng(world.rank)  # each rank its own shard
x, y = rng.normal(world.rank, 1, (64, 8)).astype("float32"), rng.integers(0, 3, 64)
callbacks = [distributed.AverageStatisticsOverRanks(), distributed.DropoutSeedsPerRank(42, world.rank)]
trainer.fit(x, y, batch_size=16, epochs=2, shuffle=False, callbacks=callbacks, verbose=0)
mask = (trainer.get_layer("dropout")(tf.ones((1, 256)), training=True).numpy() != 0).astype(int).tolist()
gathered = distributed.hvd.allgather(tf.constant(mask), name="masks").numpy()
in_sync = distributed.ranks_in_sync(trainer.weights + trainer.optimizer.variables)
if world.rank == 0:
    print(json.dumps({"in_sync": in_sync,
                      "masks_differ": bool((gathered[0] != gathered[1]).any()),
                      "statistics": len(distributed.moving_statistics(trainer))}))
"""


def test_ranks_draw_their_own_dropout_masks_and_stay_in_sync_under_xla(tmp_path):
    result = run(tmp_path, "horovodrun", "-np", "2", "-H", "localhost:2", sys.executable, "-c", RANKS_SCRIPT)
    line = next(line for line in result.stdout.splitlines() if '"in_sync"' in line)
    report = json.loads(line[line.index("{") :])
    # Weights, optimizer state and the averaged moving statistics are identical; the masks are not.
    assert report == {"in_sync": True, "masks_differ": True, "statistics": 2}


def test_only_the_moving_statistics_of_batch_norm_layers_that_train_are_averaged():
    import keras

    from actionrec.cluster.distributed import moving_statistics

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization(name="frozen")])
    inner.get_layer("frozen").trainable = False
    inputs = keras.Input((3, 4))
    h = keras.layers.TimeDistributed(keras.layers.BatchNormalization(name="wrapped"))(inputs)
    h = keras.layers.TimeDistributed(inner)(h)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="top")(h))
    names = sorted(v.path.split("/")[-2] + "/" + v.name for v in moving_statistics(model))
    assert names == ["top/moving_mean", "top/moving_variance", "wrapped/moving_mean", "wrapped/moving_variance"]
