"""Synthetic ``(y_true, y_pred)`` batches for ``bsguard probe``, as NumPy arrays.

Targets: ``regression`` (standard normal values), ``binary`` (0/1), ``onehot`` (one class per
sample along the last axis), ``sparse`` (integer class ids: ``y_true`` drops the last axis).
Predictions: ``values`` (standard normal), ``probabilities`` (a sigmoid for binary targets, a
softmax over the last axis otherwise), ``logits`` (normal, scale 2).

Example::

    >>> y_true, y_pred = make_batch(4, (3,), "onehot", "probabilities", "float32", seed=0)
    >>> y_true.shape, y_pred.shape, float(y_pred.sum(axis=-1).round(5).min())
    ((4, 3), (4, 3), 1.0)
"""

from __future__ import annotations

import re

import numpy as np


def default_kinds(name: str) -> tuple[str, str]:
    """A target and prediction kind from the loss's name (``focal`` -> binary probabilities)."""
    lowered = name.lower()
    words = set(re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()))
    pred = "logits" if "logit" in lowered or "logits" in words else "probabilities"
    if "sparse" in words:
        return "sparse", pred
    if words & {"categorical", "softmax", "multiclass", "ce", "nll"} or "cross_entropy" in lowered \
            or "crossentropy" in lowered:
        return "onehot", pred
    if words & {"binary", "bce", "focal", "dice", "iou", "jaccard", "tversky", "hinge", "lovasz", "sigmoid"} \
            or any(word in lowered for word in ("dice", "focal", "jaccard", "tversky", "binary")):
        return "binary", pred
    return "regression", "values"


def make_batch(batch_size: int, shape: tuple[int, ...], target: str, prediction: str, dtype: str,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One batch: ``y_true`` and ``y_pred`` with per-sample ``shape`` (class ids drop the last axis)."""
    rng = np.random.default_rng(seed)
    full = (batch_size, *shape)
    classes = shape[-1] if shape else 1
    if target == "regression":
        y_true = rng.normal(size=full)
    elif target == "binary":
        y_true = (rng.random(full) < 0.5).astype("float64")
    else:
        ids = rng.integers(0, max(classes, 1), size=full[:-1] if shape else full)
        y_true = ids if target == "sparse" else one_hot(ids, max(classes, 1), dtype)
    raw = rng.normal(size=full)
    if prediction == "logits":
        y_pred = 2.0 * raw
    elif prediction == "probabilities":
        if target in ("onehot", "sparse") and classes > 1:
            shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
            y_pred = shifted / shifted.sum(axis=-1, keepdims=True)
        else:
            y_pred = 1.0 / (1.0 + np.exp(-raw))
    else:
        y_pred = raw
    y_true = y_true.astype("int32") if target == "sparse" else y_true.astype(dtype)
    return y_true, y_pred.astype(dtype)


def near(y_true: np.ndarray, y_pred: np.ndarray, prediction: str, error: float, seed: int = 1) -> np.ndarray:
    """A prediction ``error`` away from the target (the optimum): ``y_true`` plus scaled noise.

    For class ids the optimum is their one-hot; probabilities stay in [0, 1]."""
    rng = np.random.default_rng(seed)
    optimum = optimum_prediction(y_true, y_pred)
    moved = optimum + error * rng.normal(size=y_pred.shape)
    if prediction == "probabilities":  # reflected into [0, 1]: near the target, never at a bound
        moved = np.where(moved < 0, -moved, moved)
        moved = np.where(moved > 1, 2 - moved, moved)
        moved = np.clip(moved, 1e-7, 1 - 1e-7) if error > 0 else moved
    return moved.astype(y_pred.dtype)


def optimum_prediction(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The prediction equal to the target (a one-hot for class ids)."""
    if y_true.shape != y_pred.shape and np.issubdtype(y_true.dtype, np.integer):
        return one_hot(y_true, y_pred.shape[-1], y_pred.dtype)
    return y_true.astype(y_pred.dtype)


def one_hot(ids: np.ndarray, classes: int, dtype) -> np.ndarray:
    """One-hot rows of ``ids`` in ``dtype`` (no ``classes x classes`` identity matrix)."""
    out = np.zeros((*ids.shape, classes), dtype=dtype)
    np.put_along_axis(out, ids[..., None].astype(np.int64), 1, axis=-1)
    return out
