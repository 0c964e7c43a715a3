# Dice loss without smoothing, and a masked MSE that divides by the mask count.
import tensorflow as tf


def dice_loss(y_true, y_pred):
    numerator = 2 * tf.reduce_sum(y_true * y_pred, axis=(1, 2, 3))
    denominator = tf.reduce_sum(y_true + y_pred, axis=(1, 2, 3))
    return 1 - numerator / denominator  # EXPECT: BSG402


def masked_mse(y_true, y_pred):
    mask = tf.cast(tf.not_equal(y_true, -1.0), tf.float32)
    sq = tf.square(y_true - y_pred) * mask
    return tf.reduce_sum(sq, axis=-1) / tf.reduce_sum(mask, axis=-1)  # EXPECT: BSG402


model = tf.keras.Sequential([tf.keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
model.compile("adam", loss=dice_loss)
