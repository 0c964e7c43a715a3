# Comprehension / while loops over the batch, and tf.random inside a loss.
import tensorflow as tf
import keras
from keras import ops


def listwise_mse(y_true, y_pred):
    per = [tf.reduce_mean(tf.square(t - p)) for t, p in zip(y_true, y_pred)]  # EXPECT: BSG101
    return tf.stack(per)


def rowwise_max(y_true, y_pred):
    maxes = [ops.max(row) for row in y_pred]  # EXPECT: BSG101
    return ops.mean(ops.square(y_true[:, 0] - ops.stack(maxes)))


def while_loss(y_true, y_pred):
    i = 0
    total = 0.0
    while i < y_pred.shape[0]:  # EXPECT: BSG101
        total += ops.mean(ops.square(y_true[i] - y_pred[i]))
        i += 1
    return total


def dropout_mse(y_true, y_pred):
    keep = tf.cast(tf.random.uniform(tf.shape(y_pred)) > 0.1, tf.float32)  # EXPECT: BSG202
    return tf.reduce_mean(tf.square((y_true - y_pred) * keep), axis=-1)


def vectorized(y_true, y_pred):
    return keras.ops.vectorized_map(lambda a: ops.mean(ops.square(a[0] - a[1])), (y_true, y_pred))


model = keras.Sequential([keras.layers.Dense(4)])
model.compile(optimizer="adam", loss=vectorized)
