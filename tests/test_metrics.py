"""Evaluation metrics against values worked out by hand, bad inputs, and the PNG figures."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec.errors import DataError
from actionrec.evaluate import metrics, plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Six videos, three classes. Argmax predictions are [0, 0, 1, 1, 2, 2].
CLASSES = ["Rising", "Falling", "Star"]
LABELS = np.array([0, 0, 0, 1, 1, 2])
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.3, 0.5, 0.2],
        [0.2, 0.7, 0.1],
        [0.1, 0.4, 0.5],
        [0.1, 0.2, 0.7],
    ]
)


# --- top-k and video averaging -----------------------------------------------------------------


def test_top_k_accuracy_ranks_ties_like_sklearn():
    labels = [1, 2, 0, 0]
    probs = [
        [0.1, 0.6, 0.2, 0.1],  # top-1 hit
        [0.5, 0.2, 0.2, 0.1],  # true 2 ties with 1: sklearn ranks the higher index first -> top-2 hit
        [0.3, 0.3, 0.2, 0.2],  # true 0 ties with 1: class 1 ranks first -> top-1 miss, top-2 hit
        [0.1, 0.2, 0.3, 0.4],  # true class ranked last -> miss up to top-3
    ]
    assert metrics.top_k_accuracy(labels, probs, 1) == pytest.approx(1 / 4)
    assert metrics.top_k_accuracy(labels, probs, 2) == pytest.approx(3 / 4)
    assert metrics.top_k_accuracy(labels, probs, 3) == pytest.approx(3 / 4)
    assert metrics.top_k_accuracy(labels, probs, 4) == 1.0
    assert metrics.top_k_accuracy(labels, probs, 10) == 1.0


def test_top_k_accuracy_two_classes_compares_columns():
    # Scores, not probabilities: a 0.5 threshold on one column would call all three class 0.
    probs = [[0.1, 0.3], [0.2, 0.2], [0.4, 0.1]]
    assert metrics.top_k_accuracy([1, 1, 1], probs, 1) == pytest.approx(2 / 3)  # the tie goes to class 1


# --- summary -----------------------------------------------------------------------------------


def test_classification_summary_by_hand():
    # true 0 0 0 1 1 2 / predicted 0 0 1 1 2 2
    # class 0: tp 2 fp 0 fn 1 -> P 1,   R 2/3 -> F1 0.8
    # class 1: tp 1 fp 1 fn 1 -> P 1/2, R 1/2 -> F1 0.5
    # class 2: tp 1 fp 1 fn 0 -> P 1/2, R 1   -> F1 2/3
    # macro F1 = (0.8 + 0.5 + 2/3) / 3; weighted by support 3, 2, 1 = (2.4 + 1 + 2/3) / 6
    s = metrics.classification_summary(LABELS, PROBS, CLASSES)
    assert s["top1"] == pytest.approx(4 / 6)
    assert s["top5"] == 1.0  # top-min(5, 3)
    assert s["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert s["weighted_f1"] == pytest.approx((2.4 + 1 + 2 / 3) / 6)
    assert s["per_class"]["Rising"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3, "accuracy": 2 / 3})
    assert s["per_class"]["Star"]["precision"] == pytest.approx(0.5)
    assert s["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert s["videos"] == 6
    assert "auc_note" not in s


def test_roc_auc_by_hand():
    # AUC = fraction of (positive, negative) pairs ranked correctly, ties count 1/2.
    # class 0: positives .7 .6 .3 vs negatives .2 .1 .1 -> 9/9
    # class 1: positives .7 .4 vs negatives .2 .3 .5 .2 -> (4 + 3)/8
    # class 2: positive .7 vs negatives .1 .1 .2 .1 .5 -> 5/5
    # micro: the 6 true-class scores (.7 .6 .3 .7 .4 .7) against the 12 others
    #   (.1 x5, .2 x4, .3, .5 x2): .7 and .6 beat all 12 (4 x 12), .4 beats 10, .3 beats 9 and ties 1
    #   -> (48 + 10 + 9.5) / 72
    s = metrics.classification_summary(LABELS, PROBS, CLASSES)
    assert s["auc_macro"] == pytest.approx((1 + 7 / 8 + 1) / 3)
    assert s["auc_micro"] == pytest.approx(67.5 / 72)


def test_roc_auc_macro_leaves_out_absent_classes():
    labels = [0, 0, 1, 1]
    probs = [[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]]
    # class 0: .8 .4 vs .3 .2 -> 1; class 1: .6 .7 vs .1 .5 -> 1; class 2 absent, not averaged in
    s = metrics.classification_summary(labels, probs, CLASSES)
    assert s["auc_macro"] == pytest.approx(1.0)
    assert s["per_class"]["Star"]["support"] == 0


def test_roc_auc_undefined_with_one_class():
    s = metrics.classification_summary([2, 2], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], CLASSES)
    assert s["auc_macro"] is None and s["auc_micro"] is None
    assert "at least two" in s["auc_note"]
    assert s["top1"] == pytest.approx(0.5)


# --- breakdowns and plot data ------------------------------------------------------------------


def test_accuracy_by_kind():
    classes = ["Rising", "Falling", "Star", "Ring"]
    kinds = {"Rising": "motion", "Falling": "motion", "Star": "appearance", "Cross": "texture"}
    labels = [0, 0, 1, 2, 2, 3]
    predictions = [0, 1, 1, 2, 3, 3]
    # motion: samples 0-2, 2 right; appearance: samples 3-4, 1 right; Ring has no kind;
    # "texture" has no class in the data and is omitted
    assert metrics.accuracy_by_kind(labels, predictions, classes, kinds) == pytest.approx({"motion": 2 / 3, "appearance": 1 / 2})


def test_worst_confusions_largest_first_ties_in_row_order():
    confusion = [[5, 3, 1], [4, 2, 0], [3, 0, 6]]
    rows = metrics.worst_confusions(confusion, ["a", "b", "c"], k=3)
    assert [(r["true"], r["predicted"], r["count"]) for r in rows] == [("b", "a", 4), ("a", "b", 3), ("c", "a", 3)]
    assert rows[0]["rate"] == pytest.approx(4 / 6)
    assert rows[1]["rate"] == pytest.approx(3 / 9)
    assert len(metrics.worst_confusions(confusion, ["a", "b", "c"], k=10)) == 4  # zero cells excluded


def test_confusion_rows():
    rows = metrics.confusion_rows([0, 2], [1, 2], CLASSES)
    assert rows == [{"actual": "Rising", "predicted": "Falling"}, {"actual": "Star", "predicted": "Star"}]


def test_roc_points_per_present_class_and_micro_average():
    labels = [0, 0, 1, 1]
    probs = [[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]]
    rows = metrics.roc_points(labels, probs, CLASSES)
    names = list(dict.fromkeys(r["class"] for r in rows))
    assert names == ["Rising", "Falling", "micro-average"]  # Star has no samples
    for name in names:
        curve = [(r["fpr"], r["tpr"]) for r in rows if r["class"] == name]
        assert curve[0] == (0.0, 0.0) and curve[-1] == (1.0, 1.0)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.top_k_accuracy([0, 1], PROBS, 1), "length mismatch"),
        (lambda: metrics.top_k_accuracy([0], [0.5, 0.5], 1), "2-D"),
        (lambda: metrics.top_k_accuracy([0, 3], [[0.5, 0.5], [0.5, 0.5]], 1), r"out of range \[0, 2\): \[3\]"),
        (lambda: metrics.top_k_accuracy([-1], [[0.5, 0.5]], 1), "out of range"),
        (lambda: metrics.top_k_accuracy([], np.zeros((0, 3)), 1), "empty"),
        (lambda: metrics.top_k_accuracy([0], [[np.nan, 0.5]], 1), "NaN"),
        (lambda: metrics.top_k_accuracy([0], [[0.5, 0.5]], 0), "k >= 1"),
        (lambda: metrics.top_k_accuracy([0.5], [[0.5, 0.5]], 1), "integer"),
        (lambda: metrics.classification_summary(LABELS, PROBS, ["a", "b"]), "2 class names for 3"),
        (lambda: metrics.confusion_rows([0, 1], [0], CLASSES), "predictions=1"),
        (lambda: metrics.accuracy_by_kind([0], [5], CLASSES, {}), "predictions out of range"),
        (lambda: metrics.worst_confusions([[1, 2]], ["a"]), "square"),
        (lambda: plots.confusion_png([[1]], CLASSES, "unused.png", "t"), "3x3"),
    ],
)
def test_bad_input_raises_data_error(call, message):
    with pytest.raises(DataError, match=message):
        call()


# --- timing ------------------------------------------------------------------------------------


def test_latency_ms_calls_warmup_plus_repeats():
    calls = []
    result = metrics.latency_ms(lambda: calls.append(1), warmup=3, repeats=5)
    assert len(calls) == 8
    assert result["repeats"] == 5
    assert 0 <= result["min"] <= result["median"] <= result["max"]


# --- figures -----------------------------------------------------------------------------------


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert not list(path.parent.glob("*.tmp*")), "temporary file left behind"


def test_plots_write_png(tmp_path):
    out = tmp_path / "nested" / "plots"
    history = [
        {"epoch": 1, "loss": 1.2, "accuracy": 0.4, "val_loss": 1.3, "val_accuracy": 0.35},
        {"epoch": 2, "loss": 0.8, "accuracy": 0.7, "val_loss": 1.0, "val_accuracy": 0.5},
    ]
    summary = metrics.classification_summary(LABELS, PROBS, CLASSES)
    plots.training_curves_png(history, out / "curves.png", "basic_cnn")
    plots.confusion_png(summary["confusion"], CLASSES, out / "confusion.png", "basic_cnn")
    plots.confusion_png(summary["confusion"], CLASSES, out / "counts.png", "basic_cnn", normalize=False)
    plots.roc_png(LABELS, PROBS, CLASSES, out / "roc.png", "basic_cnn")
    plots.per_class_accuracy_png(
        summary["per_class"], out / "per_class.png", "basic_cnn", kinds={"Rising": "motion", "Falling": "motion", "Star": "appearance"}
    )
    plots.per_class_accuracy_png(summary["per_class"], out / "per_class_plain.png", "basic_cnn")
    rows = [
        {"architecture": "conv3d", "top1": 0.9, "macro_f1": 0.88},
        {"architecture": "basic_cnn", "top1": 0.5, "macro_f1": None},
    ]
    plots.leaderboard_png(rows, ["top1", "macro_f1"], out / "leaderboard.png", "Leaderboard")
    for name in ("curves", "confusion", "counts", "roc", "per_class", "per_class_plain", "leaderboard"):
        assert_png(out / f"{name}.png")


def test_plots_with_many_classes(tmp_path):
    # Past the annotation and legend limits: cells unlabelled, per-class ROC curves in grey.
    rng = np.random.default_rng(0)
    n = 40
    labels = np.arange(2 * n) % n
    probs = rng.dirichlet(np.ones(n), size=2 * n)
    classes = [f"c{i}" for i in range(n)]
    confusion = metrics.classification_summary(labels, probs, classes)["confusion"]
    plots.confusion_png(confusion, classes, tmp_path / "confusion.png", "many")
    plots.roc_png(labels, probs, classes, tmp_path / "roc.png", "many")
    assert_png(tmp_path / "confusion.png")
    assert_png(tmp_path / "roc.png")
