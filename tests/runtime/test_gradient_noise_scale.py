"""GradientNoiseScale: the estimate against closed forms, the shared step, logs, advice, reports.

The correctness setup: linear regression ``y = x . w* + e`` with ``x ~ N(0, I_d)`` and label noise
``e ~ N(0, s2)``, a bias-free Dense(1) held at ``w = w* + delta`` (SGD with learning rate 0, so
the weights, and with them the closed forms, stay put) and Keras's mean squared error. The
per-example gradient is ``2 x (x . delta - e)``, so

    |G|^2     = 4 |delta|^2
    tr(Sigma) = 4 ((d + 1) |delta|^2 + s2 d)
    B_simple  = (d + 1) + s2 d / |delta|^2
"""

from __future__ import annotations

import json
import math
import warnings

import keras
import numpy as np
import pytest
from runtime_helpers import StalledWorkerReads

from keras_bsguard import BatchSizeAdvice, BatchSizeGuard, BSGuardWarning, EventLog, GradientNoiseScale
from keras_bsguard.backends import attached_hub
from keras_bsguard.report_plots import build_figures

D = 8


def analytic_noise_scale(noise_variance: float, delta_sq: float = 1.0) -> float:
    return (D + 1) + noise_variance * D / delta_sq


def regression(noise_variance: float, steps: int, batch: int, seed: int = 0, delta_norm: float = 1.0):
    """(x, y) for ``steps`` batches, and a model at ``|delta| = delta_norm`` that never moves."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps * batch, D)).astype("float32")
    y = (math.sqrt(noise_variance) * rng.normal(size=(steps * batch, 1))).astype("float32")
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(np.full((D, 1), delta_norm / math.sqrt(D), "float32"))
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    return model, x, y


def reference(x, y, delta_norm, batch, slices, every, ema) -> dict:
    """The same estimator in float64 numpy, on the steps it should measure: the smoothed B_simple,
    tr(Sigma) and |G|^2 (bias-corrected). Slices as the train step cuts them (uneven when the
    batch does not divide), each weighted by its share of the batch."""
    w = np.full((D, 1), delta_norm / math.sqrt(D))
    bounds = [((i * batch) // slices, ((i + 1) * batch) // slices) for i in range(slices)]
    micro = batch / slices
    trace = grad_sq = 0.0
    measured = 0
    for step in range(1, len(x) // batch + 1):
        if step % every:
            continue
        xb, yb = x[(step - 1) * batch: step * batch].astype("float64"), y[(step - 1) * batch: step * batch]
        per_example = 2 * xb * (xb @ w - yb)
        small = sum((hi - lo) / batch * np.sum(per_example[lo:hi].mean(0) ** 2) for lo, hi in bounds)
        big = np.sum(per_example.mean(0) ** 2)
        step_grad_sq = (batch * big - micro * small) / (batch - micro)
        step_trace = (small - big) / (1 / micro - 1 / batch)
        trace = ema * trace + (1 - ema) * step_trace
        grad_sq = ema * grad_sq + (1 - ema) * step_grad_sq
        measured += 1
    correction = 1 - ema ** measured
    return {"gns": trace / grad_sq, "trace": trace / correction, "grad_sq": grad_sq / correction}


def reference_estimate(x, y, delta_norm, batch, slices, every, ema) -> float:
    return reference(x, y, delta_norm, batch, slices, every, ema)["gns"]


def fit(model, x, y, batch, callbacks, epochs=1):
    return model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=False,
                     callbacks=callbacks)


def records_of(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def windows(path) -> list[dict]:
    return [r for r in records_of(path) if r["type"] == "window" and r["monitor"] == "gradient_noise_scale"]


# --------------------------------------------------------------------- the estimate itself
def test_estimate_matches_the_closed_form_at_two_noise_levels():
    estimates = {}
    for noise_variance in (1.0, 4.0):
        model, x, y = regression(noise_variance, steps=600, batch=128)
        history = fit(model, x, y, 128, [GradientNoiseScale(ema=0.995)])
        estimate = history.history["gns"][-1]
        analytic = analytic_noise_scale(noise_variance)
        assert abs(estimate / analytic - 1) < 0.20, (noise_variance, estimate, analytic)
        # The device-side estimator is the float64 reference on the same batches.
        reference = reference_estimate(x, y, 1.0, 128, 2, 1, 0.995)
        assert estimate == pytest.approx(reference, rel=1e-3)
        assert history.history["gns_ratio"][-1] == pytest.approx(128 / estimate, rel=1e-6)
        estimates[noise_variance] = estimate
    ratio = estimates[4.0] / estimates[1.0]
    assert ratio == pytest.approx(analytic_noise_scale(4.0) / analytic_noise_scale(1.0), rel=0.15)


def test_no_measured_step_is_lost_when_the_reads_on_worker_threads_fall_behind(tmp_path):
    """Keras runs batch-end callbacks on worker threads (JAX, torch); on a loaded host they can
    fall a whole ring of the device buffer behind the training thread. The training thread then
    reads the buffer itself: every measured step is counted once and numbered right (a CI run
    once lost 63 rows here and advised at step 140 instead of 220)."""
    model, x, y = repeated_pair(82.0, 1.0, steps=200)
    log = EventLog(tmp_path)
    gns = GradientNoiseScale(window=20, event_log=log)
    stall = StalledWorkerReads(gns, release_at=170)
    fit(model, x, y, 2, [stall, gns], epochs=2)
    assert stall.stalled > 0 or keras.backend.backend() == "tensorflow"  # TF: no worker threads
    rows = windows(log.path)
    assert [w["step"] for w in rows] == list(range(20, 401, 20))
    assert all(w["measured_steps"] == 20 and w["skipped_steps"] == 0 for w in rows)
    advice = [e for e in records_of(log.path) if e.get("kind") == "batch_size_advice"]
    assert [(e["side"], e["step"]) for e in advice] == [("small", 60), ("small", 220)]


def test_every_n_steps_measures_steps_n_2n_and_leaves_the_others_unsplit():
    seen = []

    class Recorder(keras.layers.Layer):
        """Notes the batch size of every Python call: each eager torch step, each JAX trace."""

        def call(self, inputs):
            seen.append(inputs.shape[0])
            return inputs

    model, x, y = regression(1.0, steps=300, batch=64)
    model = keras.Sequential([keras.Input((D,)), Recorder(), model.layers[0]])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")

    class ForgetBuild(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen.clear()  # Keras's own calls before the first step

    history = fit(model, x, y, 64, [ForgetBuild(), GradientNoiseScale(ema=0.9, every_n_steps=3, window=10)])
    reference = reference_estimate(x, y, 1.0, 64, 2, 3, 0.9)
    assert history.history["gns"][-1] == pytest.approx(reference, rel=1e-3)
    if keras.backend.backend() == "torch":  # 100 measured steps in halves, 200 steps whole
        assert seen.count(32) == 200 and seen.count(64) == 200
    else:  # two compiled steps, each traced once: the split one and the plain one
        assert len(attached_hub(model).trace_signatures) == 2


def test_uneven_slices_weigh_each_by_its_share_of_the_batch():
    model, x, y = regression(1.0, steps=200, batch=63)  # slices of 31 and 32
    history = fit(model, x, y, 63, [GradientNoiseScale(ema=0.9)])
    assert history.history["gns"][-1] == pytest.approx(reference_estimate(x, y, 1.0, 63, 2, 1, 0.9),
                                                       rel=1e-3)


@pytest.mark.backend("jax", "tensorflow")  # torch runs one step per call
def test_every_n_steps_with_several_steps_per_call():
    """Keras runs 4 steps per call: JAX still picks each step's compiled step, and TensorFlow's
    compiled step splits every step and counts the steps itself."""
    model, x, y = regression(1.0, steps=300, batch=64)
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse", steps_per_execution=4)
    history = fit(model, x, y, 64, [GradientNoiseScale(ema=0.9, every_n_steps=3, window=10)])
    reference = reference_estimate(x, y, 1.0, 64, 2, 3, 0.9)
    assert history.history["gns"][-1] == pytest.approx(reference, rel=1e-3)


def test_reuses_batch_size_guard_split_as_the_small_batch(tmp_path):
    model, x, y = regression(1.0, steps=200, batch=64)
    log = EventLog(tmp_path)
    history = fit(model, x, y, 64, [BatchSizeGuard(micro_batches=4),
                                    GradientNoiseScale(ema=0.9, window=50, event_log=log)])
    reference = reference_estimate(x, y, 1.0, 64, 4, 1, 0.9)
    assert history.history["gns"][-1] == pytest.approx(reference, rel=1e-3)
    assert {w["micro_batch_size"] for w in windows(log.path)} == {16.0}


def test_loss_scale_is_divided_out(tmp_path):
    """B_simple is a ratio, blind to a constant scale: tr(Sigma) and |G|^2 themselves are checked."""
    model, x, y = regression(1.0, steps=100, batch=64)
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.0), initial_scale=1024.0),
                  "mse")
    log = EventLog(tmp_path)
    fit(model, x, y, 64, [GradientNoiseScale(ema=0.9, window=100, event_log=log)])
    (window,) = windows(log.path)
    expected = reference(x, y, 1.0, 64, 2, 1, 0.9)
    assert window["trace"] == pytest.approx(expected["trace"], rel=1e-3)
    assert window["grad_sq"] == pytest.approx(expected["grad_sq"], rel=1e-3)


def test_a_measured_fit_trains_like_a_plain_one():
    """The measured step applies the update of the whole batch (accumulated over the slices)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(512, D)).astype("float32"), rng.normal(size=(512, 1)).astype("float32")
    weights = []
    for callbacks in ([], [GradientNoiseScale(window=4)]):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(1e-2), "mse")
        fit(model, x, y, 64, callbacks, epochs=2)
        weights.append(model.get_weights())
    for plain, measured in zip(*weights):
        np.testing.assert_allclose(measured, plain, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------- logs and reports
def test_logs_reach_history_csv_logger_and_the_event_log(tmp_path):
    model, x, y = regression(1.0, steps=100, batch=64)
    log = EventLog(tmp_path)
    csv_path = tmp_path / "history.csv"
    history = fit(model, x, y, 64, [GradientNoiseScale(ema=0.9, window=20, event_log=log),
                                    keras.callbacks.CSVLogger(str(csv_path))], epochs=2)
    assert len(history.history["gns"]) == 2 and all(g > 0 for g in history.history["gns"])
    header, *rows = csv_path.read_text().splitlines()
    assert "gns" in header.split(",") and "gns_ratio" in header.split(",") and len(rows) == 2
    found = windows(log.path)
    assert [w["step"] for w in found] == [20, 40, 60, 80, 100, 120, 140, 160, 180, 200]
    assert all(w["batch_size"] == 64 and w["micro_batch_size"] == 32 for w in found)
    assert found[-1]["gns"] == pytest.approx(history.history["gns"][-1], rel=1e-6)
    panels = build_figures(records_of(log.path))
    (panel,) = [p for p in panels if p.monitor == "gradient_noise_scale"]
    assert "smoothed B_simple" in panel.alt and "batch size (64)" in panel.alt


# ----------------------------------------------------------------------------- advice
def advice_of(record_warnings) -> list[str]:
    return [str(w.message) for w in record_warnings if issubclass(w.category, BatchSizeAdvice)]


def repeated_pair(a: float, c: float, steps: int):
    """The same batch of two samples at every step, on a 1-weight linear model held at 0: the
    slices' gradients are 2a and 2c, so every step's estimates are |G|^2 = 4ac and
    tr(Sigma) = 2 (a - c)^2, and B_simple = (a - c)^2 / (2ac) exactly, with no spread."""
    x = np.ones((2 * steps, 1), "float32")
    y = np.tile(np.array([[-a], [-c]], "float32"), (steps, 1))
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                     kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    return model, x, y


def test_advice_when_the_batch_is_far_below_the_noise_scale(record_warnings, tmp_path):
    model, x, y = repeated_pair(82.0, 1.0, steps=200)  # B_simple = 81^2 / 164 = 40 > 10 x 2
    log = EventLog(tmp_path)
    history = fit(model, x, y, 2, [GradientNoiseScale(window=20, event_log=log)], epochs=2)
    assert history.history["gns"] == pytest.approx([40.0, 40.0], rel=1e-3)
    messages = advice_of(record_warnings)
    assert len(messages) == 2  # once per epoch
    assert "batch size (2) is far below the gradient noise scale (B_simple ~ 40)" in messages[0]
    assert "by its square root" in messages[0] and "heuristic" in messages[0]
    events = records_of(log.path)
    advice = [e for e in events if e.get("kind") == "batch_size_advice"]
    assert [(e["side"], e["step"]) for e in advice] == [("small", 60), ("small", 220)]


def test_advice_when_the_batch_is_far_above_the_noise_scale(record_warnings):
    # No label noise: B_simple = d + 1 = 9 against a batch of 256.
    model, x, y = regression(0.0, steps=200, batch=256)
    fit(model, x, y, 256, [GradientNoiseScale(ema=0.9, window=20)])
    (message,) = advice_of(record_warnings)
    assert "far above the gradient noise scale" in message and "diminishing returns" in message


def test_no_advice_near_the_noise_scale_or_when_turned_off(record_warnings):
    model, x, y = regression(4.0, steps=200, batch=128)  # B_simple 41, batch 128
    fit(model, x, y, 128, [GradientNoiseScale(ema=0.95, window=20)])
    model, x, y = repeated_pair(82.0, 1.0, steps=100)
    fit(model, x, y, 2, [GradientNoiseScale(window=20, advice=False)])
    assert advice_of(record_warnings) == []


def test_no_advice_from_noise_alone(record_warnings, tmp_path):
    """B_simple = 809 against a batch of 16: |G|^2 is not resolved in 300 steps (its noise is
    about B_simple / b times its size per step), so the point estimate wanders; its bounds do
    not clear the batch size 10x and nothing is advised."""
    model, x, y = regression(100.0, steps=300, batch=16)
    log = EventLog(tmp_path)
    fit(model, x, y, 16, [GradientNoiseScale(ema=0.95, window=25, event_log=log)])
    assert advice_of(record_warnings) == []
    assert all(w["gns_low"] < 160 or math.isnan(w["gns_low"]) for w in windows(log.path))


# -------------------------------------------------------------------- the shared step
def test_second_fit_with_fresh_objects_reuses_the_compiled_step():
    model, x, y = regression(1.0, steps=40, batch=32)
    fit(model, x, y, 32, [GradientNoiseScale(window=10)])
    builds = attached_hub(model).builds
    history = fit(model, x, y, 32, [GradientNoiseScale(window=10)])
    assert attached_hub(model).builds == builds
    assert math.isfinite(history.history["gns"][-1])
    assert model.train_step.__func__ is type(model).train_step  # detached: Keras's own step


def test_inactive_for_a_custom_train_step(record_warnings):
    class Custom(keras.Sequential):
        def train_step(self, *args, **kwargs):
            return super().train_step(*args, **kwargs)

    model = Custom([keras.Input((D,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.rand(64, D).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=16, verbose=0, callbacks=[GradientNoiseScale()])
    assert math.isnan(history.history["gns"][0]) and math.isnan(history.history["gns_ratio"][0])
    messages = [str(w.message) for w in record_warnings if w.category is BSGuardWarning]
    assert any("GradientNoiseScale is inactive" in m and "train_step" in m for m in messages)


def test_batch_normalization_is_named(record_warnings):
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(4),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.rand(64, D).astype("float32")
    model.fit(x, x[:, :1], batch_size=16, verbose=0, callbacks=[GradientNoiseScale()])
    messages = [str(w.message) for w in record_warnings if w.category is BSGuardWarning]
    assert any("BatchNormalization" in m and "bn" in m for m in messages)


@pytest.mark.parametrize("kwargs, message", [
    ({"micro_batches": 1}, "micro_batches must be an integer >= 2"),
    ({"ema": 1.0}, "ema must be a finite number in [0, 1)"),
    ({"every_n_steps": 0}, "every_n_steps must be an integer >= 1"),
    ({"window": 2.5}, "window must be an integer >= 1"),
    ({"advice": "yes"}, "advice must be True or False"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message.replace("[", r"\[").replace(")", r"\)")):
        GradientNoiseScale(**kwargs)


def test_unresolved_estimate_is_nan_not_a_number_it_did_not_measure():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, x, y = regression(1.0, steps=4, batch=1)  # batches of 1 cannot be split
        history = fit(model, x, y, 1, [GradientNoiseScale()])
    assert math.isnan(history.history["gns"][0])


def test_a_last_batch_smaller_than_the_split_trains_like_a_plain_fit(tmp_path):
    """66 samples in batches of 32: the last batch of 2 is cut into 4 slices where the batch
    size is only known at run time (TensorFlow), two of them empty; a loss taking a plain mean
    is NaN on an empty slice, which must not reach the loss or the update."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(66, D)).astype("float32"), rng.normal(size=(66, 1)).astype("float32")
    results = []
    log = EventLog(tmp_path)
    for callbacks in ([], [GradientNoiseScale(micro_batches=4, window=1, event_log=log)]):
        keras.utils.set_random_seed(4)
        model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(1e-2), lambda t, p: keras.ops.mean(keras.ops.square(t - p)))
        history = fit(model, x, y, 32, callbacks, epochs=2)
        results.append((history.history["loss"], model.get_weights()))
    (plain_loss, plain_weights), (loss, weights) = results
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
    for a, b in zip(weights, plain_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The batch of 2 is measured as 2 slices of 1 (JAX, torch) or run whole and not measured
    # (TensorFlow), never recorded as slices it did not run (a trace of exactly 0).
    last = [w for w in windows(log.path) if w.get("batch_size") == 2]
    assert all(w["micro_batch_size"] == 1 and w["gns_window"] != 0 for w in last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BatchNormalization notice
        model = keras.Sequential([keras.Input((D,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        fit(model, x, y, 32, [GradientNoiseScale(micro_batches=4, window=1)], epochs=2)
    assert all(np.isfinite(w).all() for w in model.get_weights())  # moving statistics included


def test_nothing_measured_while_the_guard_shrinks_the_batch(record_warnings):
    model, x, y = regression(1.0, steps=20, batch=32)
    history = fit(model, x, y, 32, [BatchSizeGuard(strategy="shrink", micro_batches=2),
                                    GradientNoiseScale(window=5)])
    assert math.isnan(history.history["gns"][0])
    messages = [str(w.message) for w in record_warnings if w.category is BSGuardWarning]
    assert any("measures nothing while BatchSizeGuard shrinks" in m for m in messages)


@pytest.mark.backend("jax")
def test_both_compiled_steps_are_compiled_at_the_first_step(tmp_path):
    """A compile at step n drains JAX's dispatch queue and skews StepTimeMonitor's baseline: the
    measuring step and the plain one are both compiled at step 1."""
    from keras_bsguard import StepTimeMonitor

    model, x, y = regression(1.0, steps=60, batch=32)
    log = EventLog(tmp_path)
    fit(model, x, y, 32, [StepTimeMonitor(window=10, event_log=log),
                          GradientNoiseScale(every_n_steps=5, window=4, event_log=log)])
    compiles = [(r["kind"], r["step"]) for r in records_of(log.path)
                if r["type"] == "event" and r["kind"] in ("compile", "recompile")]
    assert compiles == [("compile", 1)]
    assert len(attached_hub(model).trace_signatures) == 2
