# losses.py of a repo: no compile() here, the training script imports these.
import tensorflow as tf
from tensorflow.keras import backend as K


def cauchy(y_true, y_pred, c=1.0):
    return tf.reduce_mean(tf.math.log(1.0 + tf.square((y_true - y_pred) / c)), axis=-1)


def asymmetric_mse(y_true, y_pred, over_penalty=4.0):
    err = y_pred - y_true
    w = tf.where(err > 0, over_penalty, 1.0)
    return tf.reduce_sum(w * tf.square(err))  # EXPECT: BSG501


def soft_iou(y_true, y_pred):
    inter = tf.reduce_sum(y_true * y_pred, axis=[1, 2, 3])
    union = tf.reduce_sum(y_true + y_pred - y_true * y_pred, axis=[1, 2, 3])
    return 1.0 - inter / union  # EXPECT: BSG402


def macro_soft_f1(y, y_hat):
    y = tf.cast(y, tf.float32)
    tp = tf.reduce_sum(y_hat * y, axis=0)
    fp = tf.reduce_sum(y_hat * (1 - y), axis=0)
    fn = tf.reduce_sum((1 - y_hat) * y, axis=0)
    soft_f1 = 2 * tp / (2 * tp + fn + fp + 1e-16)
    return tf.reduce_mean(1 - soft_f1)


def hard_f1_surrogate(y_true, y_pred):
    y_hat = K.round(y_pred)  # EXPECT: BSG302
    tp = K.sum(y_true * y_hat, axis=-1)
    return 1 - 2 * tp / (K.sum(y_true + y_hat, axis=-1) + K.epsilon())


def make_weighted_loss(weights):
    w = tf.constant(weights, tf.float32)

    def _weighted(a, b):
        return -tf.reduce_sum(w * a * tf.math.log(b), axis=-1)  # EXPECT: BSG402
    return _weighted


def triplet_loss(anchor, positive, negative, margin=0.2):
    pos = tf.norm(anchor - positive, axis=-1)  # EXPECT: BSG402
    neg = tf.norm(anchor - negative, axis=-1)  # EXPECT: BSG402
    return tf.reduce_mean(tf.maximum(pos - neg + margin, 0.0))
