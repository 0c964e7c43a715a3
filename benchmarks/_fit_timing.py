"""Shared by the runtime benchmarks: the benchmark MLP and a clock of each epoch's wall time.

Import inside a worker process, after ``KERAS_BACKEND`` is set (it imports keras).
"""

from __future__ import annotations

import time

import keras


class EpochClock(keras.callbacks.Callback):
    """Wall time of every epoch of a ``fit``, in ``epoch_seconds``.

    ``async_safe``: epoch hooks only, so Keras keeps its asynchronous dispatch.
    """

    async_safe = True

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def benchmark_mlp(features: int = 64, hidden: int = 512) -> keras.Model:
    """The small MLP both overhead benchmarks time: ``features -> hidden -> hidden -> 10``, Adam,
    sparse categorical cross-entropy on logits."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def seeds_mlp() -> keras.Model:
    """The seeds' MNIST MLP of issue #11: ``784 -> 128 (relu) -> 10``, Adam, sparse categorical
    cross-entropy on logits."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def mnist_shaped(samples: int = 60000, seed: int = 0):
    """Random data of MNIST's shape (``samples`` x 784 floats in [0, 1), 10 integer classes)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.random((samples, 784), dtype=np.float32),
            rng.integers(0, 10, size=(samples,)).astype("int32"))
