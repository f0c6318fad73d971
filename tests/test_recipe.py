"""The training recipe: params, learning-rate schedule, scaling rule, loss, two-stream heads and fusion."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import models
from actionrec.errors import ParamError
from actionrec.train.recipe import ClassificationLoss, HeadAccuracy, Recipe

TRAINER = {"input_size": 64, "sampling": {"clip_len": 8, "frame_interval": 4}}


def params_with(**recipe) -> dict:
    return {**TRAINER, "learning_rate": 0.01, **recipe}


def read(section: dict) -> Recipe:
    """The recipe of ``architectures.conv3d`` as the train stage reads it."""
    return Recipe.of(models.settings("conv3d", section))


def test_every_key_is_read_and_defaults_fill_the_rest():
    recipe = read(params_with(optimizer="sgd", weight_decay=1e-4, warmup_epochs=0.5, label_smoothing=0.1))
    assert recipe == Recipe("sgd", 0.01, 1e-4, 0.5, "cosine", 0.1)
    assert read(params_with()) == Recipe("adamw", 0.01, 0.0, 0.0, "cosine", 0.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizer": "adam"}, "'architectures.conv3d.optimizer': 'adam' (expected one of sgd, adamw)"),
        ({"schedule": "step"}, "'architectures.conv3d.schedule': 'step' (expected one of cosine, constant)"),
        ({"learning_rate": 0}, "'architectures.conv3d.learning_rate': 0 (expected a number in (0, 10))"),
        ({"learning_rate": "fast"}, "'architectures.conv3d.learning_rate': 'fast'"),
        ({"weight_decay": -1}, "'architectures.conv3d.weight_decay': -1"),
        ({"warmup_epochs": True}, "'architectures.conv3d.warmup_epochs': True"),
        ({"label_smoothing": 1.0}, "'architectures.conv3d.label_smoothing': 1.0 (expected a number in [0, 1))"),
    ],
)
def test_bad_recipe_values_name_the_key(change, message):
    with pytest.raises(ParamError) as error:
        read(params_with(**change))
    assert message in str(error.value)


def test_a_missing_learning_rate_names_the_key():
    with pytest.raises(ParamError, match="'architectures.conv3d.learning_rate'"):
        read(TRAINER)


def test_the_scaling_rule_fits_the_optimizer():
    sgd, adamw = Recipe("sgd", 0.1, 0, 1, "cosine", 0), Recipe("adamw", 1e-3, 0, 1, "cosine", 0)
    assert sgd.peak_rate(8) == pytest.approx(0.8)  # linear (Goyal et al.)
    assert adamw.peak_rate(8) == pytest.approx(1e-3 * math.sqrt(8))  # square root
    assert sgd.peak_rate(1) == 0.1 and adamw.peak_rate(1) == 1e-3


def rates(recipe: Recipe, processes: int, epochs: int, steps: int) -> np.ndarray:
    schedule = recipe.schedule_for(processes, epochs, steps)
    return np.array([float(schedule(step)) for step in range(epochs * steps)])


def test_linear_warmup_then_cosine_to_zero():
    lr = rates(Recipe("sgd", 0.1, 0, 2, "cosine", 0), processes=2, epochs=10, steps=10)
    np.testing.assert_allclose(lr[:21], np.linspace(0, 0.2, 21), atol=1e-7)  # 2 epochs of 10 steps up to 0.1 x 2 processes
    assert np.all(np.diff(lr[20:]) < 0) and lr[-1] < 0.2 * 0.001  # then down to about 0
    np.testing.assert_allclose(lr[20 + 40], 0.1, rtol=1e-5)  # halfway through the cosine: half the peak


def test_constant_schedule_and_no_warmup():
    lr = rates(Recipe("adamw", 3e-3, 0, 0, "constant", 0), processes=1, epochs=3, steps=5)
    np.testing.assert_allclose(lr, 3e-3, rtol=1e-6)
    warm = rates(Recipe("adamw", 3e-3, 0, 1, "constant", 0), processes=1, epochs=3, steps=5)
    np.testing.assert_allclose(warm[5:], 3e-3, rtol=1e-6)
    assert warm[0] == 0


def test_weight_decay_spares_biases_and_batch_norm():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    optimizer = Recipe("sgd", 0.1, 0.5, 0, "constant", 0).make_optimizer(1, 1, 1)
    optimizer.build(model.trainable_variables)
    decayed = {v.name: optimizer._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}


def one_step(recipe: Recipe, model: keras.Model, rate_scales=(), loss_scale: float | None = None) -> list[np.ndarray]:
    """Each trainable variable's change after one optimizer step on fixed gradients (``loss_scale``:
    through the LossScaleOptimizer that compile() wraps it in under mixed_float16)."""
    optimizer = recipe.make_optimizer(1, 1, 10, rate_scales)
    if loss_scale:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=loss_scale)
    before = [np.array(v) for v in model.trainable_variables]
    grads = [keras.ops.ones_like(v) * 0.5 * (loss_scale or 1) for v in model.trainable_variables]
    optimizer.apply(grads, model.trainable_variables)
    after = [np.array(v) for v in model.trainable_variables]
    for variable, value in zip(model.trainable_variables, before):
        variable.assign(value)
    return [a - b for a, b in zip(after, before)]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_variable_group_learns_and_decays_at_its_fraction_of_the_rate(optimizer):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="backbone"), keras.layers.Dense(2, name="head")])
    model.get_layer("backbone").kernel.assign(np.full((4, 3), 2.0, "float32"))  # weight decay has something to act on
    recipe = Recipe(optimizer, 0.1, 0.05, 0, "constant", 0)
    whole = one_step(recipe, model)
    group = [(model.get_layer("backbone").trainable_variables, 0.1)]
    for scaled in (one_step(recipe, model, group), one_step(recipe, model, group, loss_scale=1024.0)):
        for name, got, full in zip(["backbone kernel", "backbone bias", "head kernel", "head bias"], scaled, whole):
            factor = 0.1 if name.startswith("backbone") else 1.0
            np.testing.assert_allclose(got, factor * full, rtol=1e-5, err_msg=name)  # update and decoupled decay alike
            assert np.all(full != 0)
    assert type(recipe.make_optimizer(1, 1, 10)) is (keras.optimizers.SGD if optimizer == "sgd" else keras.optimizers.AdamW)


def test_fine_tuned_backbones_ask_for_their_rate():
    spec = models.InputSpec(1, 32, 32)
    for name in ("efficientnet", "mobilenet_finetuned"):
        settings = {"weights": None, "backbone_rate": 0.1}
        model = models.build(name, 3, spec, settings)
        (variables, scale), *others = models.rate_scales(name, model, settings)
        head = model.get_layer("probabilities").trainable_variables
        assert scale == 0.1 and not others and variables
        assert not {id(v) for v in head} & {id(v) for v in variables}
        assert {id(v) for v in variables} | {id(v) for v in head} == {id(v) for v in model.trainable_variables}
        assert models.rate_scales(name, model, {"weights": None}) == []  # 1.0 by default: one rate for all
        with pytest.raises(ParamError, match=f"'architectures.{name}.backbone_rate': 0"):
            models.build(name, 3, spec, {"weights": None, "backbone_rate": 0})
    basic = models.build("basic_cnn", 3, spec, TINY)
    assert models.rate_scales("basic_cnn", basic, TINY) == []


def test_the_loss_is_cross_entropy_with_label_smoothing_and_weighted_heads():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=(6, 3)).astype("float32")  # (batch, heads, classes)
    labels = rng.integers(0, 5, 6)
    sparse = keras.losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(float(ClassificationLoss()(labels, probs[:, 0])), float(sparse(labels, probs[:, 0])), rtol=1e-5)

    smooth = 0.1
    target = np.full((6, 5), smooth / 5) + np.eye(5)[labels] * (1 - smooth)
    expected = -(target * np.log(probs[:, 0])).sum(1).mean()
    np.testing.assert_allclose(float(ClassificationLoss(smooth)(labels, probs[:, 0])), expected, rtol=1e-5)

    weights = (0.5, 1.0, 2.0)
    per_head = [float(sparse(labels, probs[:, h])) for h in range(3)]
    got = float(ClassificationLoss(0.0, weights)(labels, probs))
    np.testing.assert_allclose(got, sum(w * x for w, x in zip(weights, per_head)), rtol=1e-5)


def test_head_accuracy_scores_the_first_head():
    probs = np.zeros((2, 3, 4), "float32")
    probs[:, 0, 1] = 1  # the model's own output says class 1
    probs[:, 1:, 2] = 1  # the other heads say 2
    metric = HeadAccuracy()
    metric.update_state(np.array([1, 1]), probs)
    assert float(metric.result()) == 1.0


SPEC = models.InputSpec(frames=2, height=16, width=16, flow_stack=2)
TINY = {"filters": 2, "blocks": 1}


def test_two_stream_trains_each_stream_through_its_own_head():
    model = models.build("two_stream", 3, SPEC, {**TINY, "fused_loss": 0.5})
    heads, weights = models.training_heads("two_stream", model, {**TINY, "fused_loss": 0.5})
    assert [h.name for h in heads][0] == model.output.name and len(heads) == 3 and weights == (0.5, 1.0, 1.0)
    concat = models.build("two_stream", 3, SPEC, {**TINY, "fusion": "concat"})
    assert models.training_heads("two_stream", concat, {**TINY, "fusion": "concat"}) == ([concat.output], None)
    basic = models.build("basic_cnn", 3, models.InputSpec(1, 16, 16), TINY)
    assert models.training_heads("basic_cnn", basic, TINY) == ([basic.output], None)
    with pytest.raises(ParamError, match="'architectures.two_stream.fused_loss': -1"):
        models.build("two_stream", 3, SPEC, {**TINY, "fused_loss": -1})


def test_segmental_consensus_trains_the_frame_model_on_the_mean_of_its_frame_scores():
    from actionrec.train.training import segmental_consensus

    keras.utils.set_random_seed(0)
    basic = models.build("basic_cnn", 3, models.InputSpec(1, 16, 16), TINY)
    inputs, heads, weights = segmental_consensus(basic, segments=4)
    trainer = keras.Model(inputs, heads[0])
    videos = np.random.default_rng(2).uniform(0, 255, (2, 4, 16, 16, 3)).astype("float32")
    frames = np.asarray(basic.predict_on_batch(videos.reshape(8, 16, 16, 3))).reshape(2, 4, 3)
    np.testing.assert_allclose(trainer.predict_on_batch(videos), frames.mean(axis=1), rtol=1e-5, atol=1e-7)  # the evaluator's video score
    assert weights is None and [v.path for v in trainer.weights] == [v.path for v in basic.weights]  # shared: the frame model is saved
    trainer.compile(optimizer="sgd", loss=ClassificationLoss())
    before = [w.copy() for w in basic.get_weights()]
    trainer.train_on_batch(videos, np.array([0, 2]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, basic.get_weights()))


def test_the_fusion_weight_mixes_the_streams_and_is_saved(tmp_path):
    from models import two_stream

    model = models.build("two_stream", 3, SPEC, TINY)
    rng = np.random.default_rng(1)
    x = {"rgb": rng.uniform(0, 255, (4, 2, 16, 16, 3)).astype("float32"), "flow": rng.uniform(0, 255, (4, 2, 16, 16, 2)).astype("float32")}
    rgb, flow = (np.asarray(p) for p in keras.Model(model.inputs, two_stream.stream_outputs(model)).predict_on_batch(x))
    two_stream.set_fusion(model, 0.8)
    np.testing.assert_allclose(model.predict_on_batch(x), 0.2 * rgb + 0.8 * flow, rtol=1e-5, atol=1e-7)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), 0.2 * rgb + 0.8 * flow, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arch", ["basic_cnn", "vgg", "conv3d", "two_stream"])
def test_global_pooling_is_max_or_avg(arch):
    spec = models.InputSpec(1 if arch in ("basic_cnn", "vgg") else 2, 32, 32, 2 if arch == "two_stream" else 0)
    model = models.build(arch, 3, spec, {**TINY, "pooling": "max"})
    assert any(isinstance(layer, (keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D)) for layer in _all_layers(model))
    with pytest.raises(ParamError, match=f"'architectures.{arch}.pooling': 'sum'"):
        models.build(arch, 3, spec, {**TINY, "pooling": "sum"})


def _all_layers(model):
    from actionrec.cluster.distributed import layers_of

    return layers_of(model)
