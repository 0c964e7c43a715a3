# Python control flow and conversions on tensors inside losses.
import numpy as np
import tensorflow as tf


def switching_loss(y_true, y_pred):
    if tf.reduce_mean(y_pred) > 0.5:  # EXPECT: BSG701
        return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def scaled_loss(y_true, y_pred):
    scale = float(tf.reduce_max(y_true))  # EXPECT: BSG701
    return tf.reduce_mean(tf.square((y_true - y_pred) / (scale + 1e-6)), axis=-1)


def numpy_loss(y_true, y_pred):
    arr = y_pred.numpy()  # EXPECT: BSG701
    return tf.reduce_mean(tf.square(y_true - np.clip(arr, 0, 1)), axis=-1)


def debug_loss(y_true, y_pred, sample_weight=None):
    loss = tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    if sample_weight is not None:
        loss = loss * sample_weight
    tf.print("mean loss", tf.reduce_mean(loss))
    return loss


def wrapped_loss(y_true, y_pred):
    return tf.py_function(lambda a, b: np.mean((a - b) ** 2, axis=-1), [y_true, y_pred], tf.float32)  # EXPECT: BSG701


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=debug_loss)
