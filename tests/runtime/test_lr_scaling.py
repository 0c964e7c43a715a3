"""Learning-rate rescaling rules for a changed batch size."""

from __future__ import annotations

import math

import keras
import pytest

from keras_bsguard.lr_scaling import ScaledSchedule, rescale_learning_rate, resolve_rule


def test_auto_picks_linear_for_sgd_and_sqrt_for_adam_family():
    assert resolve_rule(keras.optimizers.SGD(), "auto") == "linear"
    for optimizer in (keras.optimizers.Adam(), keras.optimizers.AdamW(), keras.optimizers.RMSprop()):
        assert resolve_rule(optimizer, "auto") == "sqrt"
    assert resolve_rule(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()), "auto") == "linear"
    with pytest.raises(ValueError, match="lr_scaling"):
        resolve_rule(keras.optimizers.SGD(), "cubic")


def test_float_learning_rates_are_scaled_in_place():
    sgd = keras.optimizers.SGD(learning_rate=0.1)
    change = rescale_learning_rate(sgd, old_batch=64, new_batch=16, rule="auto")
    assert change.rule == "linear" and change.step_factor == pytest.approx(0.25)
    assert float(keras.ops.convert_to_numpy(sgd.learning_rate)) == pytest.approx(0.025)
    adam = keras.optimizers.Adam(learning_rate=1e-3)
    rescale_learning_rate(adam, old_batch=64, new_batch=16, rule="sqrt")
    assert float(keras.ops.convert_to_numpy(adam.learning_rate)) == pytest.approx(5e-4)


def test_schedules_are_wrapped_not_overwritten_and_factors_compose():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([10], [0.1, 0.01])
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    rescale_learning_rate(optimizer, old_batch=64, new_batch=32, rule="sqrt")
    rescale_learning_rate(optimizer, old_batch=32, new_batch=16, rule="sqrt")
    wrapped = optimizer._learning_rate
    assert isinstance(wrapped, ScaledSchedule) and wrapped.schedule is schedule
    assert wrapped.factor == pytest.approx(0.5)
    assert float(wrapped(0)) == pytest.approx(0.05) and float(wrapped(20)) == pytest.approx(0.005)
    restored = ScaledSchedule.from_config(wrapped.get_config())
    assert float(restored(20)) == pytest.approx(0.005)


def test_none_leaves_the_learning_rate_alone():
    sgd = keras.optimizers.SGD(learning_rate=0.1)
    change = rescale_learning_rate(sgd, 64, 8, rule=None)
    assert change.step_factor == 1.0 and math.isclose(float(keras.ops.convert_to_numpy(sgd.learning_rate)), 0.1,
                                                        rel_tol=1e-6)
