"""BatchSizeGuard and a model that overrides ``train_step``: the guard cannot cut the batch inside
the user's step, so it says so once, refuses ``micro_batches > 1``, retries an OOM once with the
whole batch, and its logs say what really ran (the whole batch)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_bsguard import BatchSizeGuard, BatchSizeWarning
from keras_bsguard.backends import attached_hub
from keras_bsguard.oom import is_out_of_memory
from runtime_helpers import bsguard_warnings
from test_batch_size_guard import OOMAbove, data


class CustomStep(keras.Sequential):
    """A user's own train step (here Keras's, called through an override)."""

    def train_step(self, *args):
        return super().train_step(*args)


def make_model(limit=None, times=None):
    model = CustomStep([keras.Input((8,)), OOMAbove(limit, times=times), keras.layers.Dense(16, activation="tanh"),
                        keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def fit(model, callbacks, epochs=1):
    x, y = data(128)
    return model.fit(x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def retry_only_warnings(records):
    return [w for w in bsguard_warnings(records, BatchSizeWarning) if "can only retry" in str(w.message)]


def test_micro_batches_are_refused_with_a_reason():
    model = make_model()
    with pytest.raises(ValueError, match=r"micro_batches=2.*overrides train_step"):
        fit(model, [BatchSizeGuard(micro_batches=2)])
    hub = attached_hub(model)
    assert hub is None or not hub.owners


def test_it_says_once_that_it_can_only_retry_and_logs_the_whole_batch(record_warnings):
    model = make_model()
    guard = BatchSizeGuard()
    history = fit(model, [guard], epochs=2)
    fit(model, [guard])
    found = retry_only_warnings(record_warnings)
    assert len(found) == 1, [str(w.message) for w in found]
    assert "overrides train_step" in str(found[0].message)
    assert history.history["micro_batches"] == [1, 1] and history.history["batch_size"] == [64, 64]


def test_a_transient_oom_is_retried_with_the_whole_batch():
    model = make_model(limit=16, times=1)  # the first step fails once, then fits
    guard = BatchSizeGuard()
    history = fit(model, [guard])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert guard.micro_batches == 1 and history.history["batch_size"] == [64]
    assert 32 not in model.layers[0].seen and 16 not in model.layers[0].seen  # never split


def test_an_oom_that_persists_is_raised_after_one_retry_not_split_to_64():
    model = make_model(limit=16)
    start = [np.array(w) for w in model.get_weights()]
    guard = BatchSizeGuard()
    with pytest.raises(Exception) as caught:
        fit(model, [guard])
    assert is_out_of_memory(caught.value)
    assert model.layers[0].raised == 2  # the step and one retry of the whole batch
    assert set(model.layers[0].seen) == {64} and guard.micro_batches == 1
    for got, want in zip(model.get_weights(), start):
        np.testing.assert_array_equal(got, want)
