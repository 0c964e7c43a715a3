"""Rescale an optimizer's learning rate when the batch size changes.

Rules: ``"linear"`` (Goyal et al. 2017, for SGD: lr x new/old), ``"sqrt"`` (for Adam-family
optimizers: lr x sqrt(new/old)), ``"auto"`` (``"linear"`` for SGD, ``"sqrt"`` otherwise) or
``None`` (leave it). A ``LearningRateSchedule`` is wrapped (``ScaledSchedule``), never replaced
by a constant, so warm-up and decay keep their shape.

    >>> import keras
    >>> optimizer = keras.optimizers.SGD(learning_rate=0.1)
    >>> change = rescale_learning_rate(optimizer, old_batch=64, new_batch=32, rule="auto")
    >>> round(float(change.new_factor), 3), change.rule
    (0.5, 'linear')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

_LINEAR_OPTIMIZERS = ("SGD",)
RULES = ("linear", "sqrt", "auto", None)


@keras.saving.register_keras_serializable(package="keras_bsguard")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * factor``: a schedule scaled without losing its shape.

    >>> base = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(ScaledSchedule(base, 0.5)(0)), 3)
    0.05
    """

    def __init__(self, schedule, factor):
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])


@dataclass(frozen=True)
class LearningRateChange:
    rule: str | None
    step_factor: float  # applied now
    new_factor: float  # cumulative, relative to the user's original learning rate
    old_value: float | None  # the learning rate before (None for schedules)
    new_value: float | None


def resolve_rule(optimizer, rule: str | None) -> str | None:
    if rule not in RULES:
        raise ValueError(f"lr_scaling must be one of 'linear', 'sqrt', 'auto' or None, not {rule!r}")
    if rule != "auto":
        return rule
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    return "linear" if type(inner).__name__ in _LINEAR_OPTIMIZERS else "sqrt"


def rescale_learning_rate(optimizer, old_batch: int, new_batch: int, rule: str | None,
                          scale_variable=None) -> LearningRateChange:
    """Scale ``optimizer``'s learning rate for a batch going from ``old_batch`` to ``new_batch``.

    ``scale_variable(variable, factor) -> (old, new)`` changes a float learning rate where its
    live value is (mid-fit on JAX: in the training state); by default the variable itself.
    """
    rule = resolve_rule(optimizer, rule)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if rule is None or old_batch == new_batch:
        return LearningRateChange(rule, 1.0, getattr(inner, "_bsguard_lr_factor", 1.0), None, None)
    ratio = new_batch / old_batch
    factor = ratio if rule == "linear" else math.sqrt(ratio)
    cumulative = getattr(inner, "_bsguard_lr_factor", 1.0) * factor
    # The schedule object itself, if any: BaseOptimizer keeps it in ``_learning_rate`` and its
    # public ``learning_rate`` getter only returns the current value (checked: keras 3.15.1).
    learning_rate = getattr(inner, "_learning_rate", None)
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        base = learning_rate.schedule if isinstance(learning_rate, ScaledSchedule) else learning_rate
        inner.learning_rate = ScaledSchedule(base, cumulative)  # the public setter accepts schedules
        old_value = new_value = None
    elif scale_variable is not None:
        old_value, new_value = scale_variable(learning_rate, factor)
    else:
        old_value = float(keras.ops.convert_to_numpy(inner.learning_rate))
        new_value = old_value * factor
        inner.learning_rate = new_value
    object.__setattr__(inner, "_bsguard_lr_factor", cumulative)
    return LearningRateChange(rule, factor, cumulative, old_value, new_value)
