# Per-sample losses written with Python loops (a common beginner pattern).
import tensorflow as tf


def per_sample_mse(y_true, y_pred):
    losses = []
    for i in range(y_true.shape[0]):  # EXPECT: BSG101
        losses.append(tf.reduce_mean(tf.square(y_true[i] - y_pred[i])))
    return tf.stack(losses)


def unstacked_ce(y_true, y_pred):
    out = []
    for yt, yp in zip(tf.unstack(y_true), tf.unstack(y_pred)):  # EXPECT: BSG101
        out.append(-tf.reduce_sum(yt * tf.math.log(tf.clip_by_value(yp, 1e-7, 1.0))))
    return tf.stack(out)


def channel_weighted_mse(y_true, y_pred):
    # loop over a fixed number of channels, not over the batch: fine
    weights = [1.0, 2.0, 0.5]
    total = 0.0
    for c in range(3):
        total += weights[c] * tf.reduce_mean(tf.square(y_true[..., c] - y_pred[..., c]), axis=-1)
    return total


model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
model.compile(optimizer="adam", loss=per_sample_mse)
