# CLEAN
# Correct losses that contain patterns a naive linter might flag.
import tensorflow as tf
from tensorflow.keras import backend as K


def clipped_ce(y_true, y_pred):
    y_pred = K.clip(y_pred, K.epsilon(), 1 - K.epsilon())
    return -K.sum(y_true * K.log(y_pred), axis=-1)


def kl_with_eps(y_true, y_pred):
    eps = 1e-8
    return tf.reduce_sum(y_true * tf.math.log((y_true + eps) / (y_pred + eps)), axis=-1)


def stable_logsumexp(y_true, logits):
    m = tf.reduce_max(logits, axis=-1, keepdims=True)
    lse = m + tf.math.log(tf.reduce_sum(tf.exp(logits - m), axis=-1, keepdims=True))
    return tf.reduce_sum(y_true * (lse - logits), axis=-1)


def rbf_similarity_loss(y_true, y_pred):
    d2 = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return 1.0 - tf.exp(-d2)


def contrastive_loss(y_true, y_pred, margin=1.0):
    # Keras siamese example: y_pred is the distance, y_true 1 for similar pairs
    square_pred = tf.square(y_pred)
    margin_square = tf.square(tf.maximum(margin - y_pred, 0.0))
    return tf.reduce_mean((1 - y_true) * square_pred + y_true * margin_square, axis=-1)


def euclidean_distance(vects):
    x, y = vects
    sum_square = tf.reduce_sum(tf.square(x - y), axis=1, keepdims=True)
    return tf.sqrt(tf.maximum(sum_square, K.epsilon()))


def mean_over_batch(y_true, y_pred):
    per = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return tf.reduce_sum(per) / tf.cast(tf.shape(y_true)[0], tf.float32)


def safe_masked(y_true, y_pred):
    mask = tf.cast(y_true > 0, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(tf.abs(y_true - y_pred) * mask, axis=-1), tf.reduce_sum(mask, axis=-1))


def sigmoid_ce(y_true, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits), axis=-1)


def softplus_logistic(y_true, y_pred):
    return tf.reduce_mean(tf.nn.softplus(-y_true * y_pred), axis=-1)


def cosine_loss(y_true, y_pred):
    cos = tf.reduce_sum(tf.math.l2_normalize(y_true, -1) * tf.math.l2_normalize(y_pred, -1), axis=-1)
    return tf.exp(2.0 * (1.0 - cos)) - 1.0


model = tf.keras.Sequential([tf.keras.layers.Dense(8)])
model.compile(optimizer="adam", loss=clipped_ce)
