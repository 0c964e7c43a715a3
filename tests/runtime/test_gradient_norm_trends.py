"""GradientNormMonitor over windows: sustained growth, per-layer vanishing, every step's norm."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
from runtime_helpers import BatchLogs, Delay, SetOnEpoch, mlp, reference_grad_norm, regression_data

from keras_bsguard import GradientNormMonitor, GradientNormWarning

STEPS_PER_EPOCH = 10


def _weighted_data(schedule_of_epoch):
    """A PyDataset whose sample weight (the loss weight) is ``schedule_of_epoch(epoch)``."""
    x, y = regression_data(n=STEPS_PER_EPOCH * 8)
    weight = Delay()
    weight.seconds = 1.0

    class Weighted(keras.utils.PyDataset):
        def __len__(self):
            return STEPS_PER_EPOCH

        def __getitem__(self, index):
            sl = slice(index * 8, index * 8 + 8)
            return x[sl], y[sl], np.full((8,), weight.seconds, dtype="float32")

    return Weighted(), SetOnEpoch(weight, schedule_of_epoch)


def _growth_warnings(record_warnings):
    return [str(w.message) for w in record_warnings
            if issubclass(w.category, GradientNormWarning) and "grows steadily" in str(w.message)]


def test_loss_weight_x10_per_epoch_is_reported_as_growth_within_two_windows(record_warnings):
    onset_epoch, window = 2, STEPS_PER_EPOCH
    data, schedule = _weighted_data(lambda epoch: 10.0 ** max(0, epoch - onset_epoch + 1))
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="mse")
    # explode_patience 20: the x10 jumps at the epoch boundaries are not judged as explosions
    # here (they may be, batch by batch, x8-x16 over the running median): growth acts alone.
    monitor = GradientNormMonitor(window=window, on_explode="stop", explode_patience=20)
    model.fit(data, epochs=5, verbose=0, callbacks=[schedule, monitor])
    found = _growth_warnings(record_warnings)
    assert found, [str(w.message)[:80] for w in record_warnings]
    step = int(found[0].split("[step ")[1].split("]")[0])
    onset_step = onset_epoch * STEPS_PER_EPOCH + 1
    assert onset_step <= step <= onset_step + 2 * window - 1  # the second grown window
    assert "window medians" in found[0] and "action: training stopped" in found[0]
    assert model.stop_training


def test_one_level_shift_is_not_growth(record_warnings):
    data, schedule = _weighted_data(lambda epoch: 1.0 if epoch < 2 else 10.0)
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="mse")
    model.fit(data, epochs=5, verbose=0,
              callbacks=[schedule, GradientNormMonitor(window=STEPS_PER_EPOCH)])
    assert not _growth_warnings(record_warnings)


def _saturated_model():
    """Four sigmoid layers whose units all sit at exactly 1.0 (float32): zero gradient there,
    beside a linear output layer that still learns."""
    saturate = {"activation": "sigmoid", "kernel_initializer": "zeros",
                "bias_initializer": keras.initializers.Constant(50.0)}
    layers = [keras.Input((8,))] + [keras.layers.Dense(8, name=f"sig{i}", **saturate) for i in range(4)]
    return keras.Sequential(layers + [keras.layers.Dense(1, name="out")])


def test_layers_at_zero_gradient_beside_a_learning_layer_are_reported(record_warnings, tmp_path):
    model = _saturated_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(n=80)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[GradientNormMonitor(window=5, top_k_layers=2, log_dir=str(tmp_path))])
    found = [str(w.message) for w in record_warnings if issubclass(w.category, GradientNormWarning)]
    assert len(found) == 1 and "vanished in 4 of 5 layers" in found[0], found
    assert all(f"sig{i}=0" in found[0] for i in range(4)) and "out=" in found[0]
    assert int(found[0].split("[step ")[1].split("]")[0]) == 5  # the first full window
    windows = [json.loads(line) for line in (tmp_path / "bsguard_events.jsonl").open()]
    window = next(r for r in windows if r["type"] == "window")
    assert len(window["layers"]) == 2 and next(iter(window["layers"])).endswith("out")
    assert len(window["layers_smallest"]) == 2  # the top_k_layers smallest, at zero
    assert set(window["layers_smallest"].values()) == {0.0}


def _frozen_model():
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    return model


def _expected_norms(model, x, y, batch=16):
    return [reference_grad_norm(model, x[i : i + batch], y[i : i + batch])
            for i in range(0, len(x), batch)]


def test_per_step_log_puts_each_steps_norm_into_its_batch_logs():
    x, y = regression_data(n=64)
    model = _frozen_model()
    expected = _expected_norms(model, x, y)
    batches = BatchLogs()
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(window=50, per_step_log=True), batches])
    norms = [logs["grad_norm"] for logs in batches.batches]
    assert len(norms) == 8
    for actual, wanted in zip(norms, expected * 2):
        assert math.isfinite(actual) and abs(actual - wanted) <= 1e-5 * wanted, (actual, wanted)


def test_the_event_log_keeps_every_steps_norm(tmp_path):
    x, y = regression_data(n=64)
    model = _frozen_model()
    expected = _expected_norms(model, x, y)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
              callbacks=[GradientNormMonitor(window=3, log_dir=str(tmp_path))])
    records = [json.loads(line) for line in (tmp_path / "bsguard_events.jsonl").open()]
    per_step = [n for r in records if r["type"] == "window" for n in r["grad_norms"]]
    assert len(per_step) == 8
    for actual, wanted in zip(per_step, expected * 2):
        assert abs(actual - wanted) <= 1e-5 * wanted, (actual, wanted)
