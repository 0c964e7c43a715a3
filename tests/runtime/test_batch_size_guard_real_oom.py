"""BatchSizeGuard against a *real* allocation failure on the CPU (slow: run by .ci/run).

A layer asks for an impossible buffer (1 TiB and more) only when it sees more than 16 samples, so
the allocator really fails -- at run time inside the compiled step on JAX (with the training
state passed in, which Keras would otherwise have donated), through TF's allocator (which retries
for about 10 s before it gives up) and torch's CPU allocator.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from runtime_helpers import BACKEND

from keras_bsguard import BatchSizeGuard

LIMIT = 16


class RealAllocationAbove(keras.layers.Layer):
    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, x, training=False):
        size = x.shape[0]
        if BACKEND == "tensorflow" and training and size is None:
            # The hub traces TF steps for an unknown batch dimension: decide at run time.
            import tensorflow as tf

            def allocate():
                huge = tf.fill(tf.stack([tf.shape(x)[0] * 2**22, 2**20]), x[0, 0])  # > 16 TiB
                return x + tf.reduce_sum(huge[:1, :1]) * 0.0

            return tf.cond(tf.shape(x)[0] > LIMIT, allocate, lambda: tf.identity(x))
        if not (training and isinstance(size, int) and size > LIMIT):
            return x
        if BACKEND == "jax":
            import jax
            import jax.numpy as jnp

            huge = jnp.cumsum(jnp.broadcast_to(x[0, 0], (2**38,)))  # 1 TiB that XLA must materialise
            return x + huge[-1] * 0.0
        if BACKEND == "tensorflow":
            import tensorflow as tf

            huge = tf.fill(tf.stack([tf.shape(x)[0] * 2**22, 2**20]), x[0, 0])  # > 16 TiB
            return x + tf.reduce_sum(huge[:1, :1]) * 0.0
        import torch

        huge = torch.empty(2**45, dtype=torch.uint8)  # 32 TiB: the CPU allocator refuses
        return x + huge[:1].float().sum() * 0.0


@pytest.mark.slow
def test_guard_survives_a_real_allocation_failure_and_matches_the_unconstrained_run():
    def build():
        model = keras.Sequential([keras.Input((8,)), RealAllocationAbove(), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    reference = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    reference.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    guarded = build()
    reference.set_weights(guarded.get_weights())
    reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    guard = BatchSizeGuard()
    guarded.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[guard])

    assert guard.micro_batches == 2
    assert int(guarded.optimizer.iterations) == int(reference.optimizer.iterations) == 2
    for got, want in zip(guarded.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
