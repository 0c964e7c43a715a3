# Exponential losses and hand-written softmax.
import tensorflow as tf


def exp_weighted_mse(y_true, y_pred):
    err = tf.abs(y_true - y_pred)
    return tf.reduce_mean(tf.exp(10.0 * err) * tf.square(err), axis=-1)  # EXPECT: BSG401


def manual_softmax_ce(y_true, logits):
    probs = tf.exp(logits) / tf.reduce_sum(tf.exp(logits), axis=-1, keepdims=True)  # EXPECT: BSG401
    return -tf.reduce_sum(y_true * tf.math.log(probs + 1e-9), axis=-1)


def stable_softmax_ce(y_true, logits):
    shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)
    probs = tf.exp(shifted) / tf.reduce_sum(tf.exp(shifted), axis=-1, keepdims=True)
    return -tf.reduce_sum(y_true * tf.math.log(probs + 1e-9), axis=-1)


def logistic_loss(y_true, y_pred):
    # labels in {-1, 1}
    return tf.reduce_mean(tf.math.log(1.0 + tf.exp(-y_true * y_pred)), axis=-1)  # EXPECT: BSG401


def gaussian_kernel_loss(y_true, y_pred, sigma=1.0):
    d2 = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return 1.0 - tf.exp(-d2 / (2.0 * sigma ** 2))


def log_cosh_naive(y_true, y_pred):
    return tf.reduce_mean(tf.math.log(tf.math.cosh(y_pred - y_true)), axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(10)])
model.compile(optimizer="adam", loss=stable_softmax_ce)
