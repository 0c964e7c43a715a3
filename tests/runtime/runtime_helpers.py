"""Helpers shared by the runtime tests (models, data, fault injectors, hand references)."""

from __future__ import annotations

import os
import time

import keras
import numpy as np

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def mlp(input_dim=8, hidden=16, extra_layers=()):
    layers = [keras.Input((input_dim,)), keras.layers.Dense(hidden, activation="relu")]
    layers += list(extra_layers)
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


def regression_data(n=80, input_dim=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, input_dim)).astype("float32")
    y = (x @ rng.normal(size=(input_dim, 1)) + 0.1).astype("float32")
    return x, y


def bsguard_warnings(records, category=None):
    from keras_bsguard import BSGuardWarning

    category = category or BSGuardWarning
    return [r for r in records if issubclass(r.category, category)]


class Delay:
    """A delay in seconds that a test changes while training runs (read at run time)."""

    def __init__(self):
        self.seconds = 0.0


class SleepLayer(keras.layers.Layer):
    """Identity layer that sleeps ``delay.seconds`` at *run time* inside the compiled step.

    JAX: a ``jax.pure_callback``; TensorFlow: a ``tf.py_function``; torch: plain Python (eager).
    """

    def __init__(self, delay: Delay, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def _sleep(self, x):
        time.sleep(self.delay.seconds)
        return np.asarray(x)

    def call(self, x):
        # The host call sees a gradient-stopped copy and its result is added back as
        # (copy - x): the output equals x, the gradient is the identity's, and the call is not
        # dead code.
        if BACKEND == "jax":
            import jax

            frozen = jax.lax.stop_gradient(x)
            slept = jax.pure_callback(self._sleep, jax.ShapeDtypeStruct(x.shape, x.dtype), frozen)
            return x + (slept - frozen)
        if BACKEND == "tensorflow":
            import tensorflow as tf

            frozen = tf.stop_gradient(x)
            slept = tf.py_function(self._sleep, [frozen], Tout=x.dtype)
            slept.set_shape(x.shape)
            return x + (slept - frozen)
        time.sleep(self.delay.seconds)
        return x


class SetOnEpoch(keras.callbacks.Callback):
    """Sets ``holder.seconds = schedule(epoch)`` at each epoch begin."""

    def __init__(self, holder, schedule):
        super().__init__()
        self.holder, self.schedule = holder, schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.holder.seconds = self.schedule(epoch)


def reference_grad_norm(model, x, y) -> float:
    """Global norm of d(mean squared error)/d(trainable weights), by the backend's own autodiff."""
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_fn(weights):
            y_pred, _ = model.stateless_call(weights, non_trainable, jnp.asarray(x))
            return jnp.mean((y_pred - jnp.asarray(y)) ** 2)

        grads = jax.grad(loss_fn)(trainable)
        arrays = [np.asarray(g, dtype=np.float64) for g in grads]
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
        arrays = [np.asarray(g, dtype=np.float64) for g in grads]
    else:
        import torch

        weights = [v.value for v in model.trainable_variables]
        x_t, y_t = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)  # on the device
        loss = torch.mean((model(x_t) - y_t) ** 2)
        grads = torch.autograd.grad(loss, weights)
        arrays = [g.detach().cpu().double().numpy() for g in grads]
    return float(np.sqrt(sum(float(np.sum(a * a)) for a in arrays)))


class BatchLogs(keras.callbacks.Callback):
    """Collects every batch's logs (copies), to look at what the monitors put there."""

    async_safe = True

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs or {}))


class StalledWorkerReads(keras.callbacks.Callback):
    """Holds back a monitor's batch-end callbacks on Keras's worker threads until global step
    ``release_at`` begins, as a loaded host does when those threads get no CPU: meanwhile the
    training thread runs ahead, the device buffer fills and newer snapshots replace the unread
    ones. The training thread's own reads (epoch ends, and any the monitor decides to make)
    pass. ``stalled`` counts the calls held back.

    Wraps ``monitor.on_train_batch_end``; list it before the monitor.
    """

    def __init__(self, monitor, release_at: int):
        super().__init__()
        import threading

        self._main = threading.main_thread()
        self._release = threading.Event()
        self._release_at = release_at
        self._steps = 0
        self.stalled = 0
        batch_end = monitor.on_train_batch_end

        def held_back(*args, **kwargs):
            if threading.current_thread() is not self._main and not self._release.is_set():
                self.stalled += 1
                self._release.wait(timeout=120)
            return batch_end(*args, **kwargs)

        monitor.on_train_batch_end = held_back

    def on_train_batch_begin(self, batch, logs=None):
        self._steps += 1
        if self._steps >= self._release_at:
            self._release.set()

    def on_train_end(self, logs=None):
        self._release.set()
