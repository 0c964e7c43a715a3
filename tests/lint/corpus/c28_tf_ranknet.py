# RankNet-style pairwise ranking loss over a batch of scores.
import tensorflow as tf


def ranknet_loss(y_true, y_pred):
    s_diff = y_pred[:, None] - y_pred[None, :]  # EXPECT: BSG601
    t_diff = tf.cast(y_true[:, None] > y_true[None, :], tf.float32)
    loss = t_diff * tf.math.log(1.0 + tf.exp(-s_diff))  # EXPECT: BSG401
    return tf.reduce_mean(loss, axis=-1)


def listnet_loss(y_true, y_pred):
    # per-sample lists along axis -1: no batch x batch, stable primitives
    p_true = tf.nn.softmax(y_true, axis=-1)
    log_p_pred = tf.nn.log_softmax(y_pred, axis=-1)
    return -tf.reduce_sum(p_true * log_p_pred, axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=ranknet_loss)
