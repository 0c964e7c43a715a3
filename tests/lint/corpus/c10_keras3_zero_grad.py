# Losses built from thresholded predictions.
import keras
import tensorflow as tf
from keras import ops


def soft_f1_wrong(y_true, y_pred):
    y_hat = ops.round(y_pred)  # EXPECT: BSG302
    tp = ops.sum(y_true * y_hat, axis=-1)
    return 1.0 - 2.0 * tp / (ops.sum(y_true, axis=-1) + ops.sum(y_hat, axis=-1) + 1e-7)


def accuracy_loss(y_true, y_pred):
    correct = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), tf.argmax(y_true, axis=-1)), tf.float32)  # EXPECT: BSG302
    return 1.0 - correct


def class_weighted_ce(y_true, y_pred):
    # argmax of the labels, not of the prediction: fine
    class_idx = tf.cast(tf.argmax(y_true, axis=-1), tf.int32)
    w = tf.gather(tf.constant([1.0, 5.0, 10.0]), class_idx)
    return w * keras.losses.categorical_crossentropy(y_true, y_pred)


def thresholded_mse(y_true, y_pred):
    hard = ops.cast(y_pred > 0.5, "float32")  # EXPECT: BSG302
    return ops.mean(ops.square(y_true - hard), axis=-1)


model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss=class_weighted_ce, metrics=["accuracy"])
