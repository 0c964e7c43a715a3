"""BatchSizeGuard under data parallelism: one decision for all replicas, every micro-batch
divisible by the replica count, and the same weights as an unconstrained distributed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_bsguard import BatchSizeGuard
from test_batch_size_guard import OOMAbove


def _data(n=64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, np.tanh(x[:, :1] * 2.0).astype("float32")


@pytest.mark.backend("tensorflow")
def test_mirrored_strategy_two_replicas_split_matches_the_unconstrained_run():
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = _data()

    def build(limit):
        with strategy.scope():
            model = keras.Sequential([keras.Input((8,)), OOMAbove(limit), keras.layers.Dense(8, activation="tanh"),
                                      keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return model

    reference, guarded = build(None), build(8)  # each replica sees 16 of the 32: OOM above 8
    guarded.set_weights(reference.get_weights())
    reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    guard = BatchSizeGuard()
    guarded.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.micro_batches == 2
    iterations = [int(keras.ops.convert_to_numpy(m.optimizer.iterations.value)) for m in (guarded, reference)]
    assert iterations == [4, 4]
    for got, want in zip(guarded.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


_JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, keras, numpy as np
    sys.path.insert(0, {tests!r})
    from keras_bsguard import BatchSizeGuard
    from test_batch_size_guard import OOMAbove

    assert len(jax.devices()) == 4
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = np.tanh(x[:, :1] * 2.0).astype("float32")

    def build(limit):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), OOMAbove(limit), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return model

    reference, guarded = build(None), build(24)   # global batch 64 over 4 devices; OOM above 24
    guarded.set_weights(reference.get_weights())
    reference.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    guard = BatchSizeGuard()
    history = guarded.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    error = max(float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6)))
                for a, b in zip(guarded.get_weights(), reference.get_weights()))
    print("RESULT " + json.dumps({{"k": guard.micro_batches, "seen": sorted(set(guarded.layers[0].seen)),
                                  "iterations": [int(guarded.optimizer.iterations), int(reference.optimizer.iterations)],
                                  "max_relative_error": error, "batch_size": history.history["batch_size"]}}))
    """
)


@pytest.mark.backend("jax")
def test_jax_data_parallel_on_four_virtual_devices_keeps_micro_batches_divisible(tmp_path):
    tests = str(Path(__file__).parent)
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", _JAX_SCRIPT.format(tests=tests)], env=env,
                            capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    outcome = json.loads(lines[0][7:])
    # 64 -> 2 x 32 (> 24, OOM) -> 4 x 16: 3 slices would be uneven and not divisible by 4 devices
    assert outcome["k"] == 4, outcome
    assert outcome["batch_size"] == [16, 16]
    assert all(size % 4 == 0 for size in outcome["seen"] if size <= 24), outcome
    assert outcome["iterations"] == [4, 4]
    assert outcome["max_relative_error"] < 1e-5, outcome
