# Minimal reproductions of the failures found with this corpus.
import tensorflow as tf
import torch


def centre_loss(y_true, y_pred):
    # the "After" example of `bsguard rule BSG601`: C x D, not B x B
    centres = tf.linalg.matmul(y_true, y_pred, transpose_a=True)
    return tf.reduce_sum(tf.square(y_pred - tf.matmul(y_true, centres)), axis=-1)


def feature_covariance(y_true, y_pred):
    # D x D decorrelation penalty (Barlow Twins / DeCov style)
    z = y_pred - tf.reduce_mean(y_pred, axis=0, keepdims=True)
    cov = tf.transpose(z) @ z / tf.cast(tf.shape(z)[0], tf.float32)
    off = cov - tf.linalg.diag(tf.linalg.diag_part(cov))
    return tf.reduce_sum(tf.square(off))


def cauchy(y_true, y_pred):
    return tf.reduce_sum(tf.math.log1p(tf.square(y_true - y_pred)))  # EXPECT: BSG501


def torch_label_mask(y_pred, y_true):
    same = (y_true.view(-1, 1) == y_true.view(1, -1)).float()  # EXPECT: BSG601
    return (same * y_pred.sum(-1)).mean()


def norm_distance(y_true, y_pred):
    return tf.reduce_mean(tf.norm(y_true - y_pred, axis=-1))  # EXPECT: BSG402
