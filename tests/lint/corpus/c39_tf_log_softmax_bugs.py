# Hand-written cross-entropies on logits.
import tensorflow as tf


def ce_from_logits(y_true, logits):
    return -tf.reduce_sum(y_true * tf.math.log(tf.nn.softmax(logits)), axis=-1)  # EXPECT: BSG402


def bce_from_logits(y_true, logits):
    p = tf.sigmoid(logits)
    return -tf.reduce_mean(y_true * tf.math.log(p) + (1 - y_true) * tf.math.log(1 - p), axis=-1)  # EXPECT: BSG402


def softplus_by_hand(y_true, y_pred):
    return tf.reduce_mean(tf.math.log1p(tf.exp(-y_true * y_pred)), axis=-1)  # EXPECT: BSG401


def temperature_ce(y_true, logits, temperature=0.1):
    scaled = logits / temperature
    lse = tf.math.log(tf.reduce_sum(tf.exp(scaled), axis=-1))  # EXPECT: BSG401
    return lse - tf.reduce_sum(y_true * scaled, axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(5)])
model.compile(optimizer="adam", loss=ce_from_logits)
