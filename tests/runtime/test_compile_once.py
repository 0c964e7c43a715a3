"""The instrumented step is built and compiled once per model and configuration: later fits
reuse it (with new monitor objects too), detaching puts Keras's own compiled step back, and a
fit aborted by an exception leaves no instrumentation behind."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

from keras_bsguard import BatchSizeGuard, GradientNormMonitor, MemoryMonitor, StepTimeMonitor
from keras_bsguard.backends import attached_hub
from runtime_helpers import BACKEND, mlp, regression_data


def monitors():
    return [StepTimeMonitor(window=4), GradientNormMonitor(window=4), MemoryMonitor(window=4)]


def fit(model, callbacks, epochs=2, **options):
    x, y = regression_data(n=96)
    return model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks, **options)


def compiled_model():
    model = mlp()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


@contextlib.contextmanager
def jax_compiles():
    """Every XLA compilation in the block (JAX only; empty elsewhere)."""
    names: list[str] = []
    if BACKEND != "jax":
        yield names
        return
    import jax

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            names.append(str(kwargs.get("fun_name")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_fresh_monitors_reuse_the_compiled_instrumented_step():
    model = compiled_model()
    fit(model, monitors())
    hub = attached_hub(model)
    builds = hub.builds
    fit(model, [])
    with jax_compiles() as compiles:
        history = fit(model, monitors(), validation_data=regression_data(n=32, seed=1))
    assert hub.builds == builds  # the cached function, not a new one
    assert hub.trace_signatures == []  # ... and its step was not traced again
    assert not [name for name in compiles if "train_step" in name], compiles
    assert all(np.isfinite(history.history["grad_norm"])) and all(v > 0 for v in history.history["grad_norm"])


def test_a_cached_step_reports_the_new_monitor_s_norms_exactly():
    """Two identical models: one reuses the step traced for an earlier monitor (its buffer
    variables stand in for the new ones: positions on JAX, shared tf.Variables on TF), the other
    is rebuilt for each monitor. Their per-step norms agree."""
    reused, rebuilt = compiled_model(), compiled_model()
    rebuilt.set_weights(reused.get_weights())
    for model in (reused, rebuilt):
        fit(model, [GradientNormMonitor(window=4)])
    attached_hub(rebuilt)._cache.clear()
    first, second = GradientNormMonitor(window=4), GradientNormMonitor(window=4)
    got = fit(reused, [first]).history
    want = fit(rebuilt, [second]).history
    np.testing.assert_allclose(got["grad_norm"], want["grad_norm"], rtol=1e-6)
    np.testing.assert_allclose(got["grad_norm_max"], want["grad_norm_max"], rtol=1e-6)
    assert first._step == second._step == 12 and first._missed == 0


def test_detaching_puts_keras_compiled_train_function_back():
    model = compiled_model()
    fit(model, [])
    keras_function = model.train_function
    fit(model, monitors())
    assert model.train_function is keras_function
    assert "train_step" not in model.__dict__
    with jax_compiles() as compiles:
        fit(model, [])
    assert not compiles, compiles  # Keras's own step was kept compiled


def test_the_guard_and_the_monitors_are_separate_cached_configurations():
    model = compiled_model()
    fit(model, [BatchSizeGuard(), *monitors()])
    hub = attached_hub(model)
    builds = hub.builds
    fit(model, monitors())
    validation = regression_data(n=32, seed=1)
    fit(model, [BatchSizeGuard(), *monitors()], validation_data=validation)
    fit(model, [BatchSizeGuard(), *monitors()], validation_data=validation)
    assert hub.builds == builds + 1  # the validation (test) function, once


def test_recompiling_the_model_drops_the_cached_steps():
    model = compiled_model()
    fit(model, monitors())
    hub = attached_hub(model)
    builds = hub.builds
    model.compile(keras.optimizers.SGD(0.01), "mse")
    fit(model, monitors())
    assert hub.builds > builds
    assert isinstance(model.optimizer, keras.optimizers.SGD)


class FailAt(keras.callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.batch:
            raise RuntimeError("a callback failed")


class FailingLayer(keras.layers.Layer):
    """Raises in the train step (not in Keras's symbolic build)."""

    def call(self, x, training=False):
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope

        if training and not in_symbolic_scope():
            raise ValueError("a bug in the model")
        return x


@pytest.mark.parametrize("where", ["step", "callback"])
def test_an_aborted_fit_leaves_no_instrumentation_behind(where):
    """Keras skips on_train_end when fit raises. An error inside the train function detaches
    everything at once; one elsewhere (a callback) at the next fit's first step, or when the
    next fit's monitors attach."""
    model = compiled_model()
    fit(model, [])
    keras_function = model.train_function
    if where == "step":
        model = keras.Sequential([keras.Input((8,)), FailingLayer(), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.01), "mse")
        with pytest.raises(ValueError, match="a bug in the model"):
            fit(model, [BatchSizeGuard(), *monitors()])
        assert "train_step" not in model.__dict__ and not attached_hub(model).owners
        assert not getattr(model.train_function, "__name__", "").startswith("bsguard")
        return
    with pytest.raises(RuntimeError, match="a callback failed"):
        fit(model, [*monitors(), FailAt(2)])
    assert attached_hub(model).owners  # still attached: Keras did not call on_train_end
    fit(model, [])  # a plain fit after the abort runs Keras's own step and detaches the rest
    assert not attached_hub(model).owners and "train_step" not in model.__dict__
    assert model.train_function is keras_function
    with pytest.raises(RuntimeError, match="a callback failed"):
        fit(model, [*monitors(), FailAt(2)])
    history = fit(model, monitors())  # the next monitored fit drops the stale owners
    hub = attached_hub(model)
    assert len(history.history["grad_norm"]) == 2 and not hub.owners
    assert model.train_function is keras_function


@pytest.mark.backend("tensorflow")
def test_tensorflow_pulls_batches_in_the_graph_unless_the_host_needs_them():
    """Alone, GradientNormMonitor runs Keras's own builder (the step pulls its batch from the
    tf.data iterator inside the graph); a guard (replays) or StepTimeMonitor (times the input)
    needs the batches on the host."""
    from keras_bsguard.backends.tensorflow_adapter import _HostFunction

    model = compiled_model()
    seen = {}

    class Peek(keras.callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_train_batch_begin(self, batch, logs=None):
            seen[self.name] = attached_hub(model)._inner["train"]

    history = fit(model, [GradientNormMonitor(window=4), Peek("norm")])
    fit(model, [StepTimeMonitor(window=4), GradientNormMonitor(window=4), Peek("timed")])
    fit(model, [BatchSizeGuard(), Peek("guarded")])
    assert not isinstance(seen["norm"], _HostFunction)
    assert isinstance(seen["timed"], _HostFunction) and isinstance(seen["guarded"], _HostFunction)
    assert all(np.isfinite(history.history["grad_norm"]))
