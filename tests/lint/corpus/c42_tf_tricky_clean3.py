# CLEAN
import tensorflow as tf
from tensorflow.keras import backend as K

CLASS_WEIGHTS = tf.constant([1.0, 3.0, 10.0])


def weighted_mean_ce(y_true, y_pred):
    y_pred = K.clip(y_pred, K.epsilon(), 1.0)
    w = tf.reduce_sum(y_true * CLASS_WEIGHTS, axis=-1)
    ce = -tf.reduce_sum(y_true * tf.math.log(y_pred), axis=-1)
    return tf.reduce_sum(w * ce) / tf.reduce_sum(w)


def rbf_contrast(y_true, y_pred, gamma=5.0):
    d2 = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return 1.0 - tf.exp(-gamma * d2)


def uncertainty_weighted(y_true, y_pred):
    mean, log_var = y_pred[..., :1], y_pred[..., 1:]
    precision = tf.exp(-log_var)
    return tf.reduce_mean(precision * tf.square(y_true - mean) + log_var, axis=-1)


def element_mean(y_true, y_pred):
    sq = tf.square(y_true - y_pred)
    return tf.reduce_sum(sq) / tf.cast(tf.size(sq), tf.float32)


def normalized_mse(y_true, y_pred):
    num = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    den = tf.reduce_sum(tf.square(y_true), axis=-1) + 1e-8
    return num / den


def temperature_scaled(y_true, logits, temperature=2.0):
    return tf.keras.losses.categorical_crossentropy(y_true, logits / temperature, from_logits=True)


def focal_from_logits(y_true, logits, gamma=2.0, alpha=0.25):
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)
    p = tf.sigmoid(logits)
    p_t = y_true * p + (1 - y_true) * (1 - p)
    alpha_t = y_true * alpha + (1 - y_true) * (1 - alpha)
    return tf.reduce_sum(alpha_t * tf.pow(1.0 - p_t, gamma) * ce, axis=-1)


def anchor_reshape(y_true, y_pred):
    num_anchors = 9
    y_pred = tf.reshape(y_pred, (-1, num_anchors, 4))
    y_true = tf.reshape(y_true, (-1, num_anchors, 4))
    return tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2])


def cosine_proximity(y_true, y_pred):
    y_true = tf.nn.l2_normalize(y_true, axis=-1)
    y_pred = tf.nn.l2_normalize(y_pred, axis=-1)
    return -tf.reduce_sum(y_true * y_pred, axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss={"out": weighted_mean_ce}, metrics={"out": ["accuracy"]})
