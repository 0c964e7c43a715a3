"""Custom losses as they are often written -- and what `bsguard lint` says about them.

Run:  bsguard lint examples/losses.py
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import backend as K

BATCH_SIZE = 64


def focal_loss(gamma=2.0, alpha=0.25):
    """A focal loss factory, as found in many notebooks."""

    def loss(y_true, y_pred):
        cross_entropy = -y_true * K.log(y_pred)  # log(0) = -inf once a probability underflows
        weight = alpha * K.pow(1.0 - y_pred, gamma)
        return K.sum(weight * cross_entropy)  # sums over the batch: grows with batch size

    return loss


def epsilon_insensitive(y_true, y_pred, epsilon=0.1):
    """SVR-style loss: no gradient at all while |error| < epsilon."""
    error = tf.abs(y_true - y_pred)
    return tf.reduce_mean(tf.maximum(error - epsilon, 0.0), axis=-1)


def exponential_penalty(y_true, y_pred):
    """Punishes large errors hard -- and overflows float32 once 10*|err| passes ~88."""
    return tf.reduce_mean(tf.exp(10.0 * tf.abs(y_true - y_pred)), axis=-1)


def noisy_mse(y_true, y_pred):
    """numpy noise is drawn once, at trace time: every step adds the same 'noise'."""
    noise = np.random.normal(0.0, 0.01, size=(1,))
    return tf.reduce_mean(tf.square(y_true + noise - y_pred), axis=-1)


def per_sample_loop(y_true, y_pred):
    """A Python loop over the batch: unrolled per sample when the step is traced."""
    losses = []
    for i in range(y_true.shape[0]):
        losses.append(tf.reduce_mean(tf.square(y_true[i] - y_pred[i])))
    return tf.stack(losses)


class ContrastiveLoss(keras.losses.Loss):
    """A SimCLR-style loss: its B x B similarity matrix caps the batch size."""

    def __init__(self, temperature=0.1):
        super().__init__()
        self.temperature = temperature

    def call(self, y_true, y_pred):
        z = tf.math.l2_normalize(y_pred, axis=-1)
        similarity = tf.matmul(z, z, transpose_b=True) / self.temperature
        if tf.reduce_any(tf.math.is_nan(similarity)):
            print("nan in similarity", similarity.numpy())
        return tf.reduce_logsumexp(similarity, axis=-1) - tf.reduce_sum(y_true * similarity, axis=-1)


def fixed_batch_mse(y_true, y_pred):
    """Only works when the batch has exactly BATCH_SIZE samples."""
    flat = tf.reshape(y_pred, (BATCH_SIZE, -1))
    return tf.reduce_sum(tf.square(tf.reshape(y_true, (-1, flat.shape[-1])) - flat)) / BATCH_SIZE


def repeated_prediction_loss(y_true, y_pred):
    """Repeats every prediction 1000-fold: a 1000x larger tensor, kept for the backward pass."""
    repeated = K.repeat_elements(y_pred, rep=1000, axis=-1)
    return K.mean(K.square(repeated - y_true), axis=-1)


def random_kernel_smoothing_loss(y_true, y_pred):
    """Convolves the prediction with a random numpy kernel: drawn once at trace time, and a
    convolution on every step."""
    kernel = tf.constant(np.random.rand(3, 1, 1), dtype=tf.float32)
    smoothed = tf.nn.conv1d(y_pred[..., None], kernel, stride=1, padding="SAME")
    return tf.reduce_mean(tf.square(y_true[..., None] - smoothed), axis=[1, 2])


def stable_focal_loss(gamma=2.0, alpha=0.25):
    """The same focal loss, written so that bsguard has nothing to say."""

    def loss(y_true, y_pred):
        y_pred = K.clip(y_pred, K.epsilon(), 1.0 - K.epsilon())
        cross_entropy = -y_true * K.log(y_pred)
        weight = alpha * K.pow(1.0 - y_pred, gamma)
        return K.sum(weight * cross_entropy, axis=-1)

    return loss


def make_dataset(images, labels):
    """Data preparation is not a loss: nothing here is reported."""
    images = images + np.random.normal(0.0, 0.01, size=images.shape)
    for i in range(len(images)):
        images[i] = images[i] / 255.0
    return images, labels


if __name__ == "__main__":
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss=focal_loss(), metrics=["accuracy"])
    model.fit(np.zeros((128, 4)), np.zeros((128, 3)), batch_size=BATCH_SIZE, epochs=1)
