"""find_batch_size: the largest batch that fits, within 5%, with the model left as it was."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from runtime_helpers import BACKEND

from keras_bsguard import find_batch_size
from test_batch_size_guard import OOMAbove


def make_model(limit):
    model = keras.Sequential([keras.Input((8,)), OOMAbove(limit), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def state(model):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in [*model.variables, *model.optimizer.variables]]


def test_finds_the_largest_fitting_batch_within_five_percent_and_restores_the_model():
    model = make_model(limit=100)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # a model mid-training, optimizer slots filled
    before = state(model)
    search = find_batch_size(model, x, y, start_batch_size=8, max_batch_size=4096)
    assert 95 <= search.batch_size <= 100, search
    assert any(not t.fits for t in search.trials) and all(t.samples_per_second > 0 for t in search.trials if t.fits)
    assert len(search.trials) <= 12
    for got, want in zip(state(model), before):
        np.testing.assert_array_equal(got, want)
    assert f"largest batch that fits: {search.batch_size}" in str(search)


def test_caps_at_max_batch_size_when_nothing_fails():
    model = make_model(limit=None)
    x, y = data(16)  # fewer rows than the sizes tried: rows are repeated
    search = find_batch_size(model, x, y, start_batch_size=32, max_batch_size=200)
    assert search.batch_size == 200
    assert [t.batch_size for t in search.trials] == [32, 64, 128, 200]


def test_other_errors_propagate_and_uncompiled_models_are_refused():
    model = make_model(limit=10)
    model.layers[0].error = KeyError("not memory")
    x, y = data()
    with pytest.raises(Exception) as caught:
        find_batch_size(model, x, y)
    assert "not memory" in str(caught.value)
    with pytest.raises(ValueError, match="compiled"):
        find_batch_size(keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)]), x, y)


@pytest.mark.backend("jax")
def test_a_memory_prediction_needs_at_most_four_trials():
    """JAX predicts a step's bytes from the compiled step; with the limit where the prediction says
    batch 300 fits, the search lands within 5% of 300 in at most four real steps."""
    from keras_bsguard.backends import get_adapter

    x, y = data()
    predict = get_adapter().predict_step_bytes
    probe = make_model(limit=None)
    small, large = (predict(probe, np.resize(x, (s, 8)), np.resize(y, (s, 1)), None) for s in (8, 16))
    per_sample = (large - small) / 8
    limit = int((small + per_sample * (300 - 8)) / 0.9)
    model = make_model(limit=300)  # the injected OOM agrees with the memory model
    search = find_batch_size(model, x, y, memory_limit=limit, max_batch_size=4096)
    assert search.predicted_max is not None and abs(search.predicted_max - 300) <= 15
    assert 285 <= search.batch_size <= 300
    assert len(search.trials) <= 4, search


@pytest.mark.backend("tensorflow", "torch")
def test_measured_peaks_predict_the_largest_batch(monkeypatch):
    """TF/torch fit a line through the device peaks of two small steps (a fake device here:
    100 MB fixed + 1 MB per sample, 1.1 GB limit, so 900 samples fit at 90% headroom)."""
    from keras_bsguard.backends import get_adapter

    model = make_model(limit=900)
    seen = model.layers[0].seen
    adapter = get_adapter()
    monkeypatch.setattr(adapter, "reset_device_peak", lambda: None)
    monkeypatch.setattr(adapter, "device_memory", lambda *a, **k: {
        "peak": 100e6 + 1e6 * (seen[-1] if seen else 0), "limit": 1.1e9, "in_use": 0, "peak_resettable": True})
    x, y = data()
    search = find_batch_size(model, x, y, max_batch_size=4096)
    assert search.predicted_max == 890
    assert 855 <= search.batch_size <= 900
    assert len(search.trials) <= 5, search  # two measuring steps, then the prediction checked
