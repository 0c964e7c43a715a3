"""Losses for trying ``bsguard probe`` (written with ``keras.ops``: they run on every backend).

Each one but ``mean_squared_error`` has a problem that ``bsguard lint`` suspects and that
``bsguard probe`` measures:

    KERAS_BACKEND=jax bsguard probe examples/probe_losses.py::pairwise_distance_loss
    KERAS_BACKEND=jax bsguard probe examples/probe_losses.py::summed_squared_error --batch-sizes 8,32,128
"""

import keras
import numpy as np
from keras import ops


def mean_squared_error(y_true, y_pred):
    """Fine: per-sample mean, vectorised."""
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def summed_squared_error(y_true, y_pred):
    """Sums over the batch: the loss (and the gradient) doubles when the batch doubles."""
    return ops.sum(ops.square(y_true - y_pred))


def pairwise_distance_loss(y_true, y_pred):
    """Builds a batch x batch x features tensor: memory grows as the square of the batch."""
    differences = ops.expand_dims(y_pred, 0) - ops.expand_dims(y_pred, 1)
    spread = ops.mean(ops.square(differences))
    return ops.mean(ops.square(y_true - y_pred), axis=-1) + 0.01 * spread


def per_sample_loop(y_true, y_pred):
    """A Python loop over the batch: traced once per sample."""
    total = 0.0
    for i in range(y_pred.shape[0]):
        total = total + ops.mean(ops.square(y_true[i] - y_pred[i]))
    return total / y_pred.shape[0]


def similarity_loss(y_true, y_pred):
    """A batch x batch similarity matrix (as in contrastive losses): memory grows as B^2."""
    similarity = ops.matmul(y_pred, ops.transpose(y_pred))
    return ops.mean(ops.square(y_true - y_pred), axis=-1) + 0.001 * ops.mean(similarity)


def repeated_prediction_loss(y_true, y_pred):
    """Repeats the prediction 1000-fold before reducing it."""
    repeated = ops.repeat(y_pred, 1000, axis=-1)
    return ops.mean(ops.square(ops.repeat(y_true, 1000, axis=-1) - repeated), axis=-1)


def epsilon_insensitive(y_true, y_pred, epsilon=0.5):
    """No gradient at all for errors under epsilon: a dead zone around the target."""
    return ops.mean(ops.maximum(ops.abs(y_true - y_pred) - epsilon, 0.0), axis=-1)


def noisy_mse(y_true, y_pred):
    """NumPy noise in a compiled loss is drawn once, at trace time, and then frozen."""
    noise = np.random.normal(0.0, 0.1, size=(10,)).astype("float32")
    return ops.mean(ops.square(y_true + noise - y_pred), axis=-1)


def unseeded_keras_noise(y_true, y_pred):
    """keras.random without a seed: a new draw at every call, so the loss is not deterministic."""
    noise = keras.random.normal(ops.shape(y_pred), stddev=0.1)
    return ops.mean(ops.square(y_true + noise - y_pred), axis=-1)


def exponential_penalty(y_true, y_pred):
    """exp of the scaled error: overflows to inf once the error passes ~9."""
    return ops.mean(ops.exp(10.0 * (y_pred - y_true)), axis=-1)
