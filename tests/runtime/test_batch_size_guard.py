"""BatchSizeGuard: an injected OOM (the backend's real exception type, above a chosen per-step
batch size) is survived without losing a step, a weight or an optimizer slot."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_bsguard import BatchSizeGuard, BatchSizeWarning, GradientNormMonitor
from keras_bsguard.oom import is_out_of_memory

from runtime_helpers import BACKEND, bsguard_warnings


def backend_oom(message: str) -> Exception:
    """The exception each backend really raises when an allocation fails."""
    if BACKEND == "jax":
        import jax

        return jax.errors.JaxRuntimeError(f"RESOURCE_EXHAUSTED: Out of memory while trying to allocate ({message})")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.errors.ResourceExhaustedError(None, None, f"OOM when allocating tensor ({message})")
    import torch

    return torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB ({message})")


class OOMAbove(keras.layers.Layer):
    """Identity that raises the backend's OOM when it sees more than ``limit`` samples at once.

    The batch size is read from the static shape (at trace time under jit, every call in eager
    torch), as an allocator would fail for a step that is too large. TensorFlow traces the
    hub's steps with an unknown batch dimension: there the check runs inside the graph (a
    ``tf.py_function``, whose ``ResourceExhaustedError`` reaches the caller as itself).
    ``inference=True`` applies ``limit`` to the test and predict steps too; ``inference_limit``
    gives them their own; ``times`` raises at most that many times (a transient OOM).
    """

    def __init__(self, limit, error=None, inference=False, times=None, inference_limit=None, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.error = error
        self.inference = inference
        self.inference_limit = inference_limit
        self.times = times
        self.raised = 0
        self.seen: list[int] = []
        self.seen_inference: list[int] = []

    def compute_output_shape(self, input_shape):
        return input_shape

    def _check(self, size, limit, seen):
        seen.append(int(size))
        if limit is not None and size > limit and (self.times is None or self.raised < self.times):
            self.raised += 1
            raise self.error or backend_oom(f"{size} samples")

    def call(self, x, training=False):
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope

        if in_symbolic_scope():  # Keras's symbolic build
            return x
        if training:
            limit, seen = self.limit, self.seen
        elif self.inference or self.inference_limit is not None:
            limit = self.inference_limit if self.inference_limit is not None else self.limit
            seen = self.seen_inference
        else:
            return x
        size = x.shape[0]
        if isinstance(size, int):
            self._check(size, limit, seen)
            return x
        if BACKEND == "tensorflow" and (self.error is None or not isinstance(self.error, Exception)
                                        or type(self.error).__module__.startswith("tensorflow")):
            import tensorflow as tf

            def check(n):
                self._check(int(n), limit, seen)
                return n

            done = tf.py_function(check, [tf.shape(x)[0]], Tout=tf.int32)
            done.set_shape([])
            return x + tf.cast(tf.stop_gradient(done), x.dtype) * 0.0
        if self.error is not None and limit is not None:
            raise self.error  # a Python error cannot leave a graph as itself: raised when traced
        return x


def make_model(limit=None, error=None, batch_norm=False):
    layers = [keras.Input((8,)), OOMAbove(limit, error), keras.layers.Dense(16, activation="tanh")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    return model


def data(n=128):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(8, 1))).astype("float32")
    return x, y


def fit(model, callbacks, batch_size=64, epochs=2, n=128):
    x, y = data(n)
    return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def weights(model):
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]


def test_split_matches_an_unconstrained_run(record_warnings):
    start = weights_at_init(make_model())
    reference = make_model()
    reference.set_weights(start)
    fit(reference, [])
    guarded = make_model(limit=16)
    guarded.set_weights(start)
    guard = BatchSizeGuard()
    history = fit(guarded, [guard])

    assert int(guarded.optimizer.iterations) == int(reference.optimizer.iterations) == 4
    for got, want in zip(weights(guarded), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert history.history["micro_batches"] == [4, 4]
    assert history.history["batch_size"] == [16, 16]
    assert guard.micro_batches == 4
    found = bsguard_warnings(record_warnings, BatchSizeWarning)
    assert found, "the guard must say what it did"
    text = str(found[0].message)
    assert "ran out of memory" in text and "64" in text and "32" in text


def weights_at_init(model):
    return [np.array(w) for w in model.get_weights()]


def test_uneven_micro_batches_are_weighted_exactly():
    init = make_model()
    start = weights_at_init(init)
    reference = make_model()
    reference.set_weights(start)
    fit(reference, [], batch_size=60, n=120, epochs=1)
    guarded = make_model(limit=25)  # 60 -> 2 x 30 (too big) -> 4 slices of 15
    guarded.set_weights(start)
    fit(guarded, [BatchSizeGuard()], batch_size=60, n=120, epochs=1)
    for got, want in zip(weights(guarded), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_composes_with_the_gradient_norm_monitor():
    guarded = make_model(limit=32)
    history = fit(guarded, [BatchSizeGuard(), GradientNormMonitor()])
    assert history.history["micro_batches"] == [2, 2]
    assert all(np.isfinite(v) and v > 0 for v in history.history["grad_norm"])


def test_errors_that_are_not_oom_propagate_untouched(monkeypatch):
    keras.config.disable_traceback_filtering()  # Keras would otherwise re-raise a copy with call info
    monkeypatch.setattr(keras.config, "is_traceback_filtering_enabled", lambda: False)
    error = ValueError("a bug in the model, not memory")
    model = make_model(limit=16, error=error)
    guard = BatchSizeGuard()
    try:
        with pytest.raises(ValueError) as caught:
            fit(model, [guard])
    finally:
        keras.config.enable_traceback_filtering()
    assert caught.value is error
    assert guard.micro_batches == 1


def test_gives_up_with_the_original_error_when_it_cannot_split_further():
    model = make_model(limit=0)
    guard = BatchSizeGuard(max_micro_batches=8)
    with pytest.raises(Exception) as caught:
        fit(model, [guard])
    assert "injected" not in str(caught.value) or "samples" in str(caught.value)
    # (TF may wrap an error raised inside a py_function in UnknownError, message kept)
    assert type(caught.value).__name__ in ("JaxRuntimeError", "ResourceExhaustedError", "OutOfMemoryError",
                                           "UnknownError")
    assert is_out_of_memory(caught.value)
    assert guard.micro_batches == 8


def test_shrink_takes_more_steps_and_rescales_the_learning_rate(record_warnings):
    model = make_model(limit=16)
    guard = BatchSizeGuard(strategy="shrink", lr_scaling="linear")
    history = fit(model, [guard], epochs=1)
    assert guard.micro_batches == 4
    assert int(model.optimizer.iterations) == 2 * 4  # two batches of 64, four steps of 16 each
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.05 / 4)
    assert history.history["batch_size"] == [16]
    messages = " ".join(str(w.message) for w in bsguard_warnings(record_warnings, BatchSizeWarning))
    assert "learning rate" in messages


def test_batch_norm_models_are_told_their_statistics_change(record_warnings):
    model = make_model(limit=32, batch_norm=True)
    fit(model, [BatchSizeGuard()], epochs=1)
    messages = " ".join(str(w.message) for w in bsguard_warnings(record_warnings, BatchSizeWarning))
    assert "BatchNormalization" in messages


def test_no_oom_no_warning_and_logs_still_there(record_warnings):
    model = make_model()
    history = fit(model, [BatchSizeGuard()])
    assert history.history["micro_batches"] == [1, 1]
    assert history.history["batch_size"] == [64, 64]
    assert not bsguard_warnings(record_warnings)


def test_memory_pressure_splits_before_the_crash(monkeypatch, record_warnings):
    from keras_bsguard.backends import get_adapter

    adapter = get_adapter()
    monkeypatch.setattr(adapter, "device_memory", lambda *a, **k: {"peak": 95, "limit": 100, "in_use": 90})
    model = make_model()
    guard = BatchSizeGuard(on_pressure="split", check_every=1, max_micro_batches=2)
    history = fit(model, [guard], epochs=1)
    assert guard.micro_batches == 2
    assert history.history["micro_batches"] == [2]
    assert "95%" in " ".join(str(w.message) for w in bsguard_warnings(record_warnings, BatchSizeWarning))


def test_config_round_trip_and_validation():
    guard = BatchSizeGuard(strategy="shrink", lr_scaling="sqrt", max_micro_batches=16)
    assert BatchSizeGuard(**guard.get_config()).get_config() == guard.get_config()
    with pytest.raises(ValueError):
        BatchSizeGuard(strategy="halve")
    with pytest.raises(ValueError):
        BatchSizeGuard(on_pressure="panic")


def test_a_split_decided_between_steps_really_retraces_the_step():
    """Pre-emptive splits happen after the step was traced whole: the next call must be split."""
    from keras_bsguard.backends import get_adapter

    class Pressure:
        def __call__(self, *args, **kwargs):
            return {"peak": 95, "limit": 100, "in_use": 90}

    adapter = get_adapter()
    original = adapter.device_memory
    adapter.device_memory = Pressure()
    try:
        model = make_model()
        seen = model.layers[0].seen
        fit(model, [BatchSizeGuard(on_pressure="split", check_every=1, max_micro_batches=2)], epochs=1)
    finally:
        adapter.device_memory = original
    assert 32 in seen, seen  # slices of 32 went through the model after the split


class Batches(keras.utils.PyDataset):
    """A PyDataset (it carries its own batching: fit(batch_size=...) does not apply)."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def test_shrink_splits_the_batches_of_a_py_dataset_and_split_matches_it_too():
    x, y = data()
    start = weights_at_init(make_model())
    reference = make_model()
    reference.set_weights(start)
    reference.fit(Batches(x, y, 64), epochs=1, verbose=0, shuffle=False)
    split = make_model(limit=16)
    split.set_weights(start)
    split.fit(Batches(x, y, 64), epochs=1, verbose=0, shuffle=False, callbacks=[BatchSizeGuard()])
    for got, want in zip(weights(split), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    shrunk = make_model(limit=16)
    guard = BatchSizeGuard(strategy="shrink", lr_scaling="sqrt")
    history = shrunk.fit(Batches(x, y, 64), epochs=1, verbose=0, shuffle=False, callbacks=[guard])
    assert int(shrunk.optimizer.iterations) == 2 * 4
    assert history.history["batch_size"] == [16]
    assert float(keras.ops.convert_to_numpy(shrunk.optimizer.learning_rate)) == pytest.approx(0.05 * 0.5)


@pytest.mark.backend("tensorflow")
def test_tensorflow_steps_are_traced_for_an_unknown_batch_dimension():
    """The hub's TF functions trace the step for the batch's type with the batch dimension
    unknown, as Keras's tf.data path does: a trace for the static shape of a host batch let TF's
    constant folding materialise batch-sized constants, which crashed under a memory ceiling."""
    from keras_bsguard.backends import attached_hub

    model = make_model(limit=16)
    fit(model, [BatchSizeGuard()], epochs=1)
    signatures = attached_hub(model).trace_signatures
    assert signatures and all(shape[0] is None for signature in signatures for shape in signature), signatures
