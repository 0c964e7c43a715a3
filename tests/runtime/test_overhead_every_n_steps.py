"""``GradientNormMonitor(every_n_steps=n)``: the exact norm of steps n, 2n, ... only (computed in
the compiled step at those steps alone), and every figure built from those steps; on every
backend."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
from runtime_helpers import BatchLogs, mlp, reference_grad_norm, regression_data

from keras_bsguard import GradientNormMonitor, GradientNormWarning

BATCH, STEPS_PER_EPOCH = 16, 8


def _frozen_model():
    # Learning rate 0: the weights never move, so every step's reference is computable upfront.
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    return model


def _expected(model, x, y):
    return [reference_grad_norm(model, x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH)]


def _close(actual, expected):
    return math.isfinite(actual) and abs(actual - expected) <= 1e-5 * abs(expected)


def _records(log_dir):
    return [json.loads(line) for line in (log_dir / "bsguard_events.jsonl").open()]


def test_every_fourth_step_is_measured_and_the_windows_use_only_those_steps(tmp_path):
    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = _frozen_model()
    per_batch = _expected(model, x, y)
    monitor = GradientNormMonitor(window=2, every_n_steps=4, log_dir=str(tmp_path))
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])

    # Steps 4, 8, 12, 16 (1-based, across epochs) are batches 3 and 7 of each epoch.
    measured = [per_batch[3], per_batch[7]] * 2
    windows = [r for r in _records(tmp_path) if r["type"] == "window"]
    assert [w["step"] for w in windows] == [8, 16]  # windows of 2 norms = 8 training steps
    assert [w["steps"] for w in windows] == [2, 2] and not any(w["partial"] for w in windows)
    norms = [n for w in windows for n in w["grad_norms"]]
    assert len(norms) == 4 and all(_close(a, b) for a, b in zip(norms, measured)), (norms, measured)
    for window, pair in zip(windows, (measured[:2], measured[2:])):
        assert _close(window["grad_norm_min"], min(pair)) and _close(window["grad_norm_max"], max(pair))
        assert _close(window["grad_norm"], float(np.median(pair)))
    for epoch in range(2):
        assert _close(history.history["grad_norm"][epoch], float(np.median(measured[:2])))
        assert _close(history.history["grad_norm_max"][epoch], max(measured[:2]))
    assert monitor._step == 16 and monitor._missed == 0
    run = next(r for r in _records(tmp_path) if r["type"] == "run" and r["monitor"] == "gradient_norm")
    assert run["every_n_steps"] == 4


def test_the_compiled_step_writes_a_norm_only_at_every_nth_step():
    """The device buffer after 16 steps with every_n_steps=4: four norms in the first four slots,
    the rest of the ring never written, and the counter at 16 steps (JAX, where the host picks the
    measuring step: 4 norms written)."""
    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = _frozen_model()
    per_batch = _expected(model, x, y)
    monitor = GradientNormMonitor(window=50, every_n_steps=4)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
    ring = np.asarray(monitor._feature.buffer.norms.numpy())
    capacity = monitor._feature.buffer.capacity
    counted = 4 if keras.backend.backend() == "jax" else 16
    assert ring[capacity] == counted and ring[capacity] // monitor._feature.counted_every == 4
    written = ring[:capacity]
    assert all(_close(float(a), b) for a, b in zip(written[:4], [per_batch[3], per_batch[7]] * 2))
    assert not written[4:].any()


def test_per_step_log_carries_the_norm_of_the_measured_steps_only():
    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = _frozen_model()
    per_batch = _expected(model, x, y)
    batches = BatchLogs()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(every_n_steps=2, per_step_log=True), batches])
    logged = {i: logs["grad_norm"] for i, logs in enumerate(batches.batches) if "grad_norm" in logs}
    assert sorted(logged) == [1, 3, 5, 7]  # steps 2, 4, 6, 8
    assert all(_close(logged[i], per_batch[i]) for i in logged)


@pytest.mark.backend("jax", "tensorflow")  # steps_per_execution > 1 runs its steps in one call there
def test_every_nth_step_inside_multi_step_calls(tmp_path):
    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", steps_per_execution=3)
    per_batch = _expected(model, x, y)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(window=1, every_n_steps=2, log_dir=str(tmp_path))])
    windows = [r for r in _records(tmp_path) if r["type"] == "window"]
    assert [w["step"] for w in windows] == [2, 4, 6, 8, 10, 12, 14, 16]
    wanted = [per_batch[i] for i in (1, 3, 5, 7)] * 2
    assert all(_close(w["grad_norms"][0], b) for w, b in zip(windows, wanted))


def test_a_nan_is_reported_at_its_own_measured_step(record_warnings):
    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    x[5 * BATCH] = np.nan  # batch 5 = step 6, a measured step with every_n_steps=2
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(window=2, every_n_steps=2)])
    found = [str(w.message) for w in record_warnings if issubclass(w.category, GradientNormWarning)]
    assert found and found[0].startswith("[step 6] The gradient norm is nan"), found


@pytest.mark.parametrize("value, error", [(0, ValueError), (-4, ValueError), (2.5, TypeError),
                                          ("4", TypeError), (True, TypeError)])
def test_every_n_steps_is_validated(value, error):
    with pytest.raises(error, match=r"GradientNormMonitor\(every_n_steps=.*\): every_n_steps must be an integer >= 1"):
        GradientNormMonitor(every_n_steps=value)


def test_every_n_steps_round_trips_through_the_config():
    monitor = GradientNormMonitor(every_n_steps=8)
    assert GradientNormMonitor(**monitor.get_config()).every_n_steps == 8
    assert GradientNormMonitor().every_n_steps == 1


def _counting(variants):
    """Wrap each compiled step of a JAX scheduled step to count its calls (by which features
    measure)."""
    calls = {}
    for key, function in list(variants.items()):
        calls[key] = 0

        def counted(*args, _key=key, _function=function):
            calls[_key] += 1
            return _function(*args)

        variants[key] = counted
    return calls


@pytest.mark.backend("jax")
def test_jax_runs_keras_own_step_between_measured_steps_compiled_once():
    """every_n_steps=4 on JAX: two compiled steps (with the norm, and Keras's own), each traced
    once; a later fit with a new monitor reuses both without a trace, runs the measuring one at
    steps 4, 8, ... and the plain one at the 3 steps of 4 between, and measures the same norms."""
    from keras_bsguard.backends import attached_hub

    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = _frozen_model()
    per_batch = _expected(model, x, y)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(every_n_steps=4)])
    hub = attached_hub(model)
    assert len(hub.trace_signatures) == 2  # the measuring step and the plain one, once each
    variants = hub._cache[next(k for k in hub._cache if k[0] == "train")].function
    scheduled = [cell.cell_contents for cell in variants.__closure__ or ()
                 if hasattr(cell.cell_contents, "variants")]
    assert len(scheduled) == 1 and sorted(scheduled[0].variants) == [(False,), (True,)]
    calls = _counting(scheduled[0].variants)
    builds = hub.builds

    monitor = GradientNormMonitor(every_n_steps=4)  # a new object, the same configuration
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
    assert hub.builds == builds and hub.trace_signatures == []  # cached, nothing traced again
    assert calls == {(True,): 4, (False,): 12}
    assert monitor._step == 16 and len(monitor._history) == 4
    assert all(_close(a, b) for a, b in zip(monitor._history, [per_batch[3], per_batch[7]] * 2))


@pytest.mark.backend("jax")
def test_jax_every_n_steps_one_calls_no_python_between_keras_and_the_compiled_step():
    """The default (every step measured): the train function calls the jitted step directly."""
    from keras_bsguard.backends import attached_hub

    x, y = regression_data(n=BATCH * STEPS_PER_EPOCH)
    model = _frozen_model()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor()])
    hub = attached_hub(model)
    function = hub._cache[next(k for k in hub._cache if k[0] == "train")].function
    cells = [cell.cell_contents for cell in function.__closure__ or ()]
    assert not any(hasattr(c, "variants") for c in cells)
    assert any(getattr(c, "__name__", "") == "bsguard_train_step" and hasattr(c, "lower") for c in cells)
