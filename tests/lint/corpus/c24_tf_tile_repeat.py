# Losses that expand tensors by large literal factors.
import tensorflow as tf
from keras import ops

NUM_SAMPLES = 1024


def mc_dropout_like_loss(y_true, y_pred):
    y_rep = tf.tile(y_pred, [1000, 1])  # EXPECT: BSG602
    t_rep = tf.tile(y_true, [1000, 1])  # EXPECT: BSG602
    return tf.reduce_mean(tf.square(y_rep - t_rep), axis=-1)


def repeated_targets(y_true, y_pred):
    y_true = ops.repeat(y_true, 512, axis=0)  # EXPECT: BSG602
    return ops.mean(ops.square(y_true - ops.repeat(y_pred, 512, axis=0)), axis=-1)  # EXPECT: BSG602


def small_tile(y_true, y_pred):
    y_true = tf.tile(y_true, [1, 2])
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(4)])
model.compile(optimizer="adam", loss=small_tile)
