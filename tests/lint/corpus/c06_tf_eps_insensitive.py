# SVR-style epsilon-insensitive loss and a hinge loss.
import tensorflow as tf
from tensorflow.keras import backend as K

EPSILON_TUBE = 0.1


def epsilon_insensitive(y_true, y_pred):
    return K.mean(K.maximum(K.abs(y_true - y_pred) - EPSILON_TUBE, 0.0), axis=-1)  # EXPECT: BSG301


def squared_hinge(y_true, y_pred):
    # labels in {-1, 1}: the margin is deliberate
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def tolerant_mse(y_true, y_pred, tol=0.05):
    err = y_pred - y_true
    err = tf.where(tf.abs(err) < tol, tf.zeros_like(err), err)  # EXPECT: BSG301
    return tf.reduce_mean(tf.square(err), axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss=epsilon_insensitive)
