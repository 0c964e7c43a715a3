"""GradientNormMonitor: the in-step norm equals a hand-computed reference; faults are reported."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from runtime_helpers import (
    BatchLogs,
    Delay,
    SetOnEpoch,
    StalledWorkerReads,
    mlp,
    reference_grad_norm,
    regression_data,
)

from keras_bsguard import GradientNormMonitor, GradientNormWarning


def _frozen_sgd():
    # Learning rate 0: the weights never move, so every step's reference is computable upfront.
    return keras.optimizers.SGD(learning_rate=0.0)


def _assert_close(actual, expected):
    assert math.isfinite(actual)
    assert abs(actual - expected) <= 1e-5 * abs(expected), (actual, expected)


def _windows(log_dir):
    import json

    records = [json.loads(line) for line in (log_dir / "bsguard_events.jsonl").open()]
    return [r for r in records if r["type"] == "window"]


def test_grad_norm_equals_autodiff_reference_every_step(tmp_path):
    # The norms stay in a device-side buffer and are read once per window: per step they reach
    # the window records (min/median/max) and the epoch logs, not the batch logs.
    x, y = regression_data(n=48)
    model = mlp()
    model.compile(optimizer=_frozen_sgd(), loss="mse")
    expected = sorted(reference_grad_norm(model, x[i : i + 16], y[i : i + 16]) for i in (0, 16, 32))
    batches = BatchLogs()
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                        callbacks=[GradientNormMonitor(window=3, log_dir=str(tmp_path)), batches])
    assert len(batches.batches) == 3
    (window,) = _windows(tmp_path)
    assert window["steps"] == 3
    _assert_close(window["grad_norm_min"], expected[0])
    _assert_close(window["grad_norm"], expected[1])
    _assert_close(window["grad_norm_max"], expected[2])
    _assert_close(history.history["grad_norm"][0], expected[1])
    _assert_close(history.history["grad_norm_max"][0], expected[2])


def test_grad_norm_is_read_every_window_across_epochs(tmp_path):
    # Windows of 2 over epochs of 3 steps: reads mid-epoch and at each epoch end, every step
    # seen exactly once, in order.
    x, y = regression_data(n=48)
    model = mlp()
    model.compile(optimizer=_frozen_sgd(), loss="mse")
    expected = [reference_grad_norm(model, x[i : i + 16], y[i : i + 16]) for i in (0, 16, 32)]
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(window=2, log_dir=str(tmp_path))])
    windows = _windows(tmp_path)
    assert [w["steps"] for w in windows] == [2, 2, 2, 2, 1] and windows[-1]["partial"]
    assert [w["step"] for w in windows] == [2, 4, 6, 8, 9]
    per_step = expected * 3
    for w, start in zip(windows, range(0, 9, 2)):
        pair = per_step[start : start + 2]
        _assert_close(w["grad_norm_max"], max(pair))
        _assert_close(w["grad_norm_min"], min(pair))


def test_no_norm_is_lost_when_the_reads_on_worker_threads_fall_behind(tmp_path):
    # Keras's worker threads (JAX, torch) held back for 120 steps, four turns of the 32-slot
    # ring: the training thread reads the buffer itself, and every step is seen once, in order.
    x, y = regression_data(n=16 * 150)
    model = mlp()
    model.compile(optimizer=_frozen_sgd(), loss="mse")
    monitor = GradientNormMonitor(window=10, log_dir=str(tmp_path))
    stall = StalledWorkerReads(monitor, release_at=120)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[stall, monitor])
    assert stall.stalled > 0 or keras.backend.backend() == "tensorflow"  # TF: no worker threads
    windows = _windows(tmp_path)
    assert [w["step"] for w in windows] == list(range(10, 151, 10))
    assert all(w["steps"] == 10 for w in windows)


def test_grad_norm_is_unscaled_under_loss_scale_optimizer():
    x, y = regression_data(n=16)
    model = mlp()
    optimizer = keras.optimizers.LossScaleOptimizer(_frozen_sgd(), initial_scale=2.0**12)
    model.compile(optimizer=optimizer, loss="mse")
    expected = reference_grad_norm(model, x, y)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                        callbacks=[GradientNormMonitor()])
    _assert_close(history.history["grad_norm"][0], expected)


@pytest.mark.backend("jax", "tensorflow")  # torch requires steps_per_execution == 1
def test_grad_norm_with_steps_per_execution_records_every_step(tmp_path):
    # Keras hands callbacks one set of logs per execution of 2 steps; the device buffer still
    # holds the norm of every step.
    x, y = regression_data(n=64)
    model = mlp()
    model.compile(optimizer=_frozen_sgd(), loss="mse", steps_per_execution=2)
    expected = sorted(reference_grad_norm(model, x[i : i + 16], y[i : i + 16])
                      for i in (0, 16, 32, 48))
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                        callbacks=[GradientNormMonitor(window=4, log_dir=str(tmp_path))])
    (window,) = _windows(tmp_path)
    assert window["steps"] == 4
    _assert_close(window["grad_norm_min"], expected[0])
    _assert_close(window["grad_norm_max"], expected[3])
    _assert_close(history.history["grad_norm"][0], (expected[1] + expected[2]) / 2)


@pytest.mark.backend("tensorflow")
def test_grad_norm_under_mirrored_strategy_is_norm_of_summed_replica_gradients():
    import tensorflow as tf

    # ReductionToOneDevice: no collective ops, whose instance keys can clash with another
    # MirroredStrategy's earlier in the same process (the guard's distributed test).
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    assert strategy.num_replicas_in_sync == 2
    x, y = regression_data(n=32)
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=_frozen_sgd(), loss="mse")
    # One global batch of 32, split 16/16 over the replicas: the applied gradient is the
    # full-batch gradient.
    expected = reference_grad_norm(model, x, y)
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0,
                        callbacks=[GradientNormMonitor()])
    _assert_close(history.history["grad_norm"][0], expected)


def test_per_layer_norms_name_the_largest_layers(tmp_path):
    import json

    x, y = regression_data(n=32)
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[GradientNormMonitor(window=2, top_k_layers=1, log_dir=str(tmp_path))])
    records = [json.loads(line) for line in (tmp_path / "bsguard_events.jsonl").open()]
    windows = [r for r in records if r["type"] == "window"]
    assert windows and all(len(w["layers"]) == 1 for w in windows)
    layer = next(iter(windows[0]["layers"]))
    assert layer.split("/")[-1] in {layer.name for layer in model.layers}


def _explosion_data(n_per_epoch, onset_epoch, growth=100.0):
    """(x, y, sample_weight) batches and the callback that, from ``onset_epoch``, multiplies the
    loss weight by ``growth`` every epoch."""
    x, y = regression_data(n=n_per_epoch)
    loss_weight = Delay()  # a number changed while training runs
    loss_weight.seconds = 1.0

    class Weighted(keras.utils.PyDataset):
        def __len__(self):
            return n_per_epoch // 8

        def __getitem__(self, index):
            sl = slice(index * 8, index * 8 + 8)
            return x[sl], y[sl], np.full((8,), loss_weight.seconds, dtype="float32")

    schedule = SetOnEpoch(loss_weight, lambda epoch: growth ** max(0, epoch - onset_epoch + 1))
    return Weighted(), schedule


def test_loss_scaled_up_each_epoch_warns_explosion_within_two_windows(record_warnings):
    window, onset_epoch, steps_per_epoch = 5, 2, 10
    data, schedule = _explosion_data(80, onset_epoch)
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    monitor = GradientNormMonitor(window=window, min_history=5)
    model.fit(data, epochs=4, verbose=0, callbacks=[schedule, monitor])
    found = [w for w in record_warnings if issubclass(w.category, GradientNormWarning)]
    assert found, "no GradientNormWarning"
    message = str(found[0].message)
    assert "exploded" in message and "Evidence" in message and "Try" in message
    step = int(message.split("[step ")[1].split("]")[0])
    onset_step = onset_epoch * steps_per_epoch + 1
    assert onset_step <= step <= onset_step + 2 * window


def test_on_explode_stop_stops_training():
    data, schedule = _explosion_data(80, onset_epoch=1)
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    monitor = GradientNormMonitor(window=5, min_history=5, on_explode="stop")
    with pytest.warns(GradientNormWarning, match="exploded"):
        history = model.fit(data, epochs=6, verbose=0, callbacks=[schedule, monitor])
    assert len(history.history["loss"]) == 2  # stopped during the first faulty epoch


def test_nan_input_warns_nonfinite(record_warnings):
    x, y = regression_data(n=32)
    x[20] = np.nan
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                        callbacks=[GradientNormMonitor()])
    found = [w for w in record_warnings if issubclass(w.category, GradientNormWarning)]
    assert len(found) == 1 and "nan" in str(found[0].message).lower()
    assert math.isnan(history.history["grad_norm_max"][0]) or history.history["grad_norm"][0] > 0


def test_config_round_trip():
    monitor = GradientNormMonitor(explode_factor=5.0, on_explode="reduce_lr", top_k_layers=3)
    clone = GradientNormMonitor(**monitor.get_config())
    assert clone.get_config() == monitor.get_config()
    with pytest.raises(ValueError):
        GradientNormMonitor(on_explode="explode")
