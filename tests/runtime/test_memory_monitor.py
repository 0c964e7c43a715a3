"""MemoryMonitor: an honest host reading on CPU, and a leak reported within two windows."""

from __future__ import annotations

import json
import math

import keras
import pytest
from runtime_helpers import mlp, regression_data

from keras_bsguard import BSGuardWarning, MemoryMonitor, MemoryWarning

WINDOW = 5
STEPS_PER_EPOCH = 10


class LeakyCallback(keras.callbacks.Callback):
    """Keeps a real 4 MiB backend array per step from ``onset_epoch`` on (the bug: storing
    tensors in a list instead of floats)."""

    def __init__(self, onset_epoch):
        super().__init__()
        self.onset_epoch = onset_epoch
        self.epoch = 0
        self.kept = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch >= self.onset_epoch:
            self.kept.append(keras.ops.ones((1024 * 1024,), dtype="float32") * float(batch))


def test_callback_that_leaks_arrays_warns_within_two_windows(record_warnings):
    onset_epoch = 3
    model = mlp()
    model.compile("sgd", "mse")
    x, y = regression_data(n=STEPS_PER_EPOCH * 8)
    monitor = MemoryMonitor(window=WINDOW, sample_every=1, leak_windows=3,
                            leak_min_growth_mb=32, warmup_windows=2)
    leak = LeakyCallback(onset_epoch)
    model.fit(x, y, batch_size=8, epochs=6, verbose=0, callbacks=[leak, monitor])
    found = [w for w in record_warnings if issubclass(w.category, MemoryWarning)]
    assert found, "no MemoryWarning"
    message = str(found[0].message)
    assert "leak" in message and "MiB" in message
    step = int(message.split("[step ")[1].split("]")[0])
    onset_step = onset_epoch * STEPS_PER_EPOCH + 1
    assert onset_step <= step <= onset_step + 2 * WINDOW + WINDOW - 1  # window-aligned


def test_reading_is_device_where_there_is_one_else_honestly_host_only(record_warnings, tmp_path):
    from keras_bsguard.backends import get_adapter

    has_device_stats = get_adapter().device_memory() is not None
    model = mlp()
    model.compile("adam", "mse")
    x, y = regression_data(n=400)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        callbacks=[MemoryMonitor(window=WINDOW, log_dir=str(tmp_path))])
    assert not [w for w in record_warnings if issubclass(w.category, BSGuardWarning)]
    records = [json.loads(line) for line in (tmp_path / "bsguard_events.jsonl").open()]
    run = next(r for r in records if r["type"] == "run")
    # CI has no accelerator: there the reading must say it is host-only rather than be empty.
    assert run["source"].startswith("device" if has_device_stats else "host RSS only")
    peaks = history.history["memory_peak"]
    fractions = history.history["memory_fraction"]
    # MiB: a host process with a backend loaded holds well over 50 MiB; a device may hold little.
    assert all((0 < p if has_device_stats else 50 < p) and p < 1e6 for p in peaks)
    assert all(0 < f < 1 and math.isfinite(f) for f in fractions)


def test_config_round_trip():
    monitor = MemoryMonitor(threshold=0.8, window=20, leak_windows=4)
    assert MemoryMonitor(**monitor.get_config()).get_config() == monitor.get_config()
    with pytest.raises(ValueError):
        MemoryMonitor(threshold=1.5)
