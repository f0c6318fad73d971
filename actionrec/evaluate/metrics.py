"""Evaluation metrics on class scores: accuracy, F1, ROC, confusions, and the rows ``dvc plots`` reads.

Scores are ``(samples, classes)`` arrays; labels are integer class indices into ``classes``.
Light on purpose (numpy + scikit-learn, no TensorFlow) so reports and tests import it cheaply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from sklearn import metrics as skm

from actionrec.errors import DataError

# --- input checks ------------------------------------------------------------------------------


def _probabilities(probabilities) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise DataError(f"probabilities must be a 2-D (samples, classes) array, got shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise DataError(f"probabilities is empty (shape {p.shape})")
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or infinite values")
    return p


def _labels(labels, n_classes: int, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise DataError(f"{name} must be a 1-D sequence of class indices, got shape {y.shape}")
    if y.size == 0:
        raise DataError(f"{name} is empty")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(y == np.round(y)):
            raise DataError(f"{name} must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise DataError(f"{name} out of range [0, {n_classes}): {sorted(set(y[bad].tolist()))[:10]}")
    return y


def _same_length(**arrays) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError("length mismatch: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))


def _classes(classes: Sequence[str], n_classes: int) -> list[str]:
    if len(classes) != n_classes:
        raise DataError(f"{len(classes)} class names for {n_classes} score columns")
    return list(classes)


def _scored(labels, probabilities) -> tuple[np.ndarray, np.ndarray]:
    p = _probabilities(probabilities)
    y = _labels(labels, p.shape[1])
    _same_length(labels=y, probabilities=p)
    return y, p


def _predicted(labels, predictions, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(labels, len(classes))
    pred = _labels(predictions, len(classes), "predictions")
    _same_length(labels=y, predictions=pred)
    return y, pred


# --- scores ------------------------------------------------------------------------------------


def top_k_accuracy(labels, probabilities, k: int) -> float:
    """Fraction of samples whose true class is among the k highest scores (sklearn's tie rule)."""
    y, p = _scored(labels, probabilities)
    if k < 1:
        raise DataError(f"top-k accuracy needs k >= 1, got {k}")
    n_classes = p.shape[1]
    if k >= n_classes:
        return 1.0
    if n_classes == 2:
        # sklearn's binary path thresholds one score column at 0.5 instead of comparing the two
        # columns; compare them, breaking ties towards the higher index as its multiclass path does.
        return float(np.mean(y == (p[:, 1] >= p[:, 0]).astype(np.int64)))
    return float(skm.top_k_accuracy_score(y, p, k=k, labels=np.arange(n_classes)))


def _roc_auc(y: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None, str | None]:
    """(macro, micro, note) one-vs-rest ROC AUC over the classes present in ``y``."""
    present = np.unique(y)
    if len(present) < 2:
        return None, None, f"ROC AUC is undefined: the labels contain {len(present)} class, it needs at least two"
    # sklearn's multi_class="ovr" fails when a class has no samples; the macro average is taken
    # here over the present classes only, each of which has both positives and negatives.
    macro = float(np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in present]))
    onehot = np.eye(p.shape[1], dtype=np.int64)[y]
    micro = float(skm.roc_auc_score(onehot.ravel(), p.ravel()))
    return macro, micro, None


def classification_summary(labels, probabilities, classes: list[str]) -> dict:
    """Accuracy, F1, ROC AUC, per-class scores and the confusion matrix of one model's video scores.

    Predictions are the argmax of each row. ``macro_f1``/``weighted_f1`` average over the classes
    that occur in the labels or the predictions (sklearn's default); ``per_class`` and
    ``confusion`` cover all classes.
    """
    y, p = _scored(labels, probabilities)
    names = _classes(classes, p.shape[1])
    every = np.arange(len(names))
    pred = p.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=every, zero_division=0)
    macro, micro, note = _roc_auc(y, p)
    summary = {
        "top1": top_k_accuracy(y, p, 1),
        "top5": top_k_accuracy(y, p, min(5, len(names))),
        "macro_f1": float(skm.f1_score(y, pred, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y, pred, average="weighted", zero_division=0)),
        "auc_macro": macro,
        "auc_micro": micro,
    }
    if note:
        summary["auc_note"] = note
    summary["per_class"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "accuracy": float(recall[i]),
        }
        for i, name in enumerate(names)
    }
    summary["confusion"] = skm.confusion_matrix(y, pred, labels=every).tolist()
    summary["videos"] = int(len(y))
    return summary


def accuracy_by_kind(labels, predictions, classes: Sequence[str], kinds: dict[str, str]) -> dict[str, float]:
    """Accuracy over the samples whose true class has each kind (e.g. "motion", "appearance")."""
    y, pred = _predicted(labels, predictions, classes)
    kind_of = np.array([kinds.get(name) for name in classes], dtype=object)[y]
    result = {}
    for kind in dict.fromkeys(kinds.values()):
        mask = kind_of == kind
        if mask.any():
            result[kind] = float(skm.accuracy_score(y[mask], pred[mask]))
    return result


def worst_confusions(confusion, classes: Sequence[str], k: int = 5) -> list[dict]:
    """The k off-diagonal (true, predicted) cells with the most errors, largest first."""
    cm = np.asarray(confusion, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise DataError(f"confusion must be a square matrix, got shape {cm.shape}")
    _classes(classes, cm.shape[0])
    errors = cm.copy()
    np.fill_diagonal(errors, 0)
    flat = np.argsort(-errors.ravel(), kind="stable")  # stable: equal counts keep (true, predicted) order
    rows = []
    for index in flat[:k]:
        t, q = divmod(int(index), cm.shape[1])
        if errors[t, q] == 0:
            break
        rows.append({"true": classes[t], "predicted": classes[q], "count": int(cm[t, q]), "rate": float(cm[t, q] / cm[t].sum())})
    return rows


# --- plot data ---------------------------------------------------------------------------------


def roc_curves(labels, probabilities, classes: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (fpr, tpr): one-vs-rest for each class present, plus "micro-average".

    A class needs both positives and negatives, so with a single class present only the
    micro-average (defined whenever there are two or more score columns) is returned.
    """
    y, p = _scored(labels, probabilities)
    names = _classes(classes, p.shape[1])
    curves = {}
    present = np.unique(y)
    if len(present) >= 2:
        for c in present:
            fpr, tpr, _ = skm.roc_curve(y == c, p[:, c])
            curves[names[c]] = (fpr, tpr)
    if len(names) >= 2:
        fpr, tpr, _ = skm.roc_curve(np.eye(len(names), dtype=np.int64)[y].ravel(), p.ravel())
        curves["micro-average"] = (fpr, tpr)
    return curves


def roc_points(labels, probabilities, classes: Sequence[str]) -> list[dict]:
    """Rows {"class", "fpr", "tpr"} for a ``dvc plots`` CSV (x=fpr, y=tpr), micro-average last."""
    return [
        {"class": name, "fpr": float(f), "tpr": float(t)}
        for name, (fpr, tpr) in roc_curves(labels, probabilities, classes).items()
        for f, t in zip(fpr, tpr)
    ]


def confusion_rows(labels, predictions, classes: Sequence[str]) -> list[dict]:
    """One {"actual", "predicted"} row per sample, for DVC's confusion template."""
    y, pred = _predicted(labels, predictions, classes)
    return [{"actual": classes[t], "predicted": classes[q]} for t, q in zip(y.tolist(), pred.tolist())]


# --- timing ------------------------------------------------------------------------------------


def latency_ms(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7) -> dict:
    """Wall time of ``fn()`` in milliseconds: ``warmup`` untimed calls, then ``repeats`` timed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"latency_ms needs repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median": float(np.median(times)), "min": min(times), "max": max(times), "repeats": repeats}


def video_accuracy(labels, probabilities, classes: Sequence[str], kinds: dict[str, str] | None, prefix: str) -> dict[str, float]:
    """``<prefix>video_accuracy`` and, given class kinds, ``<prefix>accuracy_<kind>`` (e.g. val_accuracy_motion)."""
    predicted = np.asarray(probabilities).argmax(axis=1)
    scores = {f"{prefix}video_accuracy": float(skm.accuracy_score(labels, predicted))}
    for kind, value in (accuracy_by_kind(labels, predicted, classes, kinds) if kinds else {}).items():
        scores[f"{prefix}accuracy_{kind}"] = value
    return scores
