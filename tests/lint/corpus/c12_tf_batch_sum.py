# Sum-of-squares losses.
import tensorflow as tf
from tensorflow.keras import backend as K


def sse(y_true, y_pred):
    return tf.reduce_sum(tf.square(y_true - y_pred))  # EXPECT: BSG501


def sse_k(y_true, y_pred):
    return K.sum(K.square(y_pred - y_true))  # EXPECT: BSG501


def per_sample_sse(y_true, y_pred):
    return tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)


def batch_mean_sse(y_true, y_pred):
    total = tf.reduce_sum(tf.square(y_true - y_pred))
    return total / tf.cast(tf.shape(y_true)[0], tf.float32)


def image_sse(y_true, y_pred):
    return tf.reduce_sum(tf.square(y_true - y_pred), axis=[1, 2, 3])


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=sse)
