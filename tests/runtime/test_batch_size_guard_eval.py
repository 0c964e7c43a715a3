"""BatchSizeGuard covers every step of ``fit`` (validation too), ``evaluate`` and ``predict``: each
kind of step has its own split, an OOM is attributed to the step that raised it, and when the
guard gives up the model holds the state of the last completed step (readable, not deleted)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_bsguard import BatchSizeGuard, BatchSizeWarning
from keras_bsguard.backends import attached_hub
from keras_bsguard.oom import is_out_of_memory
from runtime_helpers import bsguard_warnings
from test_batch_size_guard import OOMAbove, data


def make_model(limit=None, inference_limit=None, **layer_options):
    model = keras.Sequential([keras.Input((8,)), OOMAbove(limit, inference_limit=inference_limit, **layer_options),
                              keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse", metrics=["mae"])
    return model


def pair(**guarded_options):
    """(unconstrained reference, model with injected OOMs) from the same weights."""
    reference, guarded = make_model(), make_model(**guarded_options)
    guarded.set_weights(reference.get_weights())
    return reference, guarded


def is_ours(function) -> bool:
    return getattr(function, "__name__", "").startswith("bsguard")


def state(model):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in [*model.weights, *model.optimizer.variables]]


def assert_same(got, want, rtol=1e-5):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)


def test_a_validation_oom_splits_validation_only_and_matches_the_unconstrained_run(record_warnings):
    x, y = data(128)
    reference, guarded = pair(inference_limit=16)  # training fits; validation at 64 does not
    fit = dict(batch_size=64, epochs=2, shuffle=False, verbose=0, validation_data=(x[:96], y[:96]))
    expected = reference.fit(x, y, **fit).history
    guard = BatchSizeGuard()
    history = guarded.fit(x, y, callbacks=[guard], **fit).history
    assert guard.micro_batches == 1 and history["micro_batches"] == [1, 1]  # not taken for a train OOM
    assert guard.eval_micro_batches["test"] == 4
    for key in ("loss", "val_loss", "val_mae"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5)
    assert_same(state(guarded), state(reference))
    messages = [str(w.message) for w in bsguard_warnings(record_warnings, BatchSizeWarning)]
    assert any("validation step ran out of memory" in m for m in messages), messages
    assert not any("train step ran out of memory" in m for m in messages), messages


def test_a_train_oom_does_not_split_validation():
    x, y = data(128)
    reference, guarded = pair(limit=16, inference_limit=None)
    fit = dict(batch_size=64, epochs=1, shuffle=False, verbose=0, validation_data=(x[:64], y[:64]))
    expected = reference.fit(x, y, **fit).history
    guard = BatchSizeGuard()
    history = guarded.fit(x, y, callbacks=[guard], **fit).history
    assert guard.micro_batches == 4 and guard.eval_micro_batches == {"test": 1, "predict": 1}
    # The failed attempts left no trace in the metrics (the loss tracker was updated before the
    # gradients ran out of memory; TF and torch put it back before the retry).
    for key in ("loss", "mae", "val_loss"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5)


def test_evaluate_and_predict_are_split_with_the_guard():
    x, y = data(128)
    reference, guarded = pair(inference_limit=20)
    guard = BatchSizeGuard()
    expected = reference.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    got = guarded.evaluate(x, y, batch_size=64, verbose=0, return_dict=True, callbacks=[guard])
    assert guard.eval_micro_batches["test"] == 4  # 64 -> 2 x 32 (> 20) -> 4 x 16
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-5)
    predictions = guarded.predict(x, batch_size=64, verbose=0, callbacks=[guard])
    np.testing.assert_allclose(predictions, reference.predict(x, batch_size=64, verbose=0), rtol=1e-5, atol=1e-6)
    assert guard.eval_micro_batches["predict"] == 4 and guard.micro_batches == 1
    # Detached after each call: Keras's own functions are back.
    assert not attached_hub(guarded).owners
    assert not is_ours(guarded.test_function) and not is_ours(guarded.predict_function)


def test_a_validation_oom_the_guard_cannot_split_leaves_the_last_completed_step():
    """The guard gives up during validation: the error leaves ``fit`` and the model holds the
    weights, optimizer state and step count of its last train step (on JAX, Keras would have
    deleted them: its test step donates the state)."""
    x, y = data(128)
    reference, guarded = pair(inference_limit=0)  # no validation batch fits
    reference.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    guard = BatchSizeGuard(max_micro_batches=2)
    with pytest.raises(Exception) as caught:
        guarded.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0, validation_data=(x[:64], y[:64]),
                    callbacks=[guard])
    assert is_out_of_memory(caught.value)
    assert guard.eval_micro_batches["test"] == 2
    assert int(keras.ops.convert_to_numpy(guarded.optimizer.iterations)) == 2
    assert_same(state(guarded), state(reference))
    # Nothing of the guard is left on the model; the next fit trains normally.
    assert "train_step" not in guarded.__dict__ and not attached_hub(guarded).owners
    guarded.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert int(keras.ops.convert_to_numpy(guarded.optimizer.iterations)) == 4


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, sizes):
        super().__init__()
        self.x, self.y, self.sizes = x, y, sizes
        self.starts = np.cumsum([0, *sizes])

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        part = slice(self.starts[index], self.starts[index + 1])
        return self.x[part], self.y[part]


def test_giving_up_mid_epoch_leaves_the_state_of_the_last_completed_step():
    """Two steps of 16 fit; the third batch (64) does not and cannot be split: the error leaves
    fit with the weights and optimizer state after exactly two steps."""
    x, y = data(96)
    reference, guarded = pair(limit=32)
    reference.fit(Batches(x, y, [16, 16]), epochs=1, shuffle=False, verbose=0)
    guard = BatchSizeGuard(max_micro_batches=1)
    with pytest.raises(Exception) as caught:
        guarded.fit(Batches(x, y, [16, 16, 64]), epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    assert is_out_of_memory(caught.value)
    assert int(keras.ops.convert_to_numpy(guarded.optimizer.iterations)) == 2
    assert_same(state(guarded), state(reference))


def test_evaluate_and_predict_that_give_up_leave_the_model_readable():
    """Keras's evaluate and predict have no ``finally``: on JAX an error leaves the variables
    purged (their values live in the loop's state). The guard puts the state back."""
    x, y = data(64)
    _, guarded = pair(inference_limit=0)
    before = state(guarded)
    guard = BatchSizeGuard(max_micro_batches=2)
    for run in (lambda: guarded.evaluate(x, y, batch_size=32, verbose=0, callbacks=[guard]),
                lambda: guarded.predict(x, batch_size=32, verbose=0, callbacks=[guard])):
        with pytest.raises(Exception) as caught:
            run()
        assert is_out_of_memory(caught.value)
        assert_same(state(guarded), before)
    assert guard.eval_micro_batches == {"test": 2, "predict": 2}


@pytest.mark.backend("jax", "tensorflow")  # torch requires steps_per_execution == 1
def test_steps_per_execution_two_splits_training_and_validation_exactly():
    x, y = data(256)
    reference, guarded = make_model(), make_model(limit=16, inference_limit=16)
    for model in (reference, guarded):
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"],
                      steps_per_execution=2)
    guarded.set_weights(reference.get_weights())
    fit = dict(batch_size=64, epochs=2, shuffle=False, verbose=0, validation_data=(x[:128], y[:128]))
    expected = reference.fit(x, y, **fit).history
    guard = BatchSizeGuard()
    history = guarded.fit(x, y, callbacks=[guard], **fit).history
    assert guard.micro_batches == 4 and guard.eval_micro_batches["test"] == 4
    assert int(keras.ops.convert_to_numpy(guarded.optimizer.iterations)) == 8
    for key in ("loss", "val_loss", "val_mae"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5)
    assert_same(state(guarded), state(reference))
