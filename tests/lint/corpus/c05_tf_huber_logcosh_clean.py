# CLEAN
import tensorflow as tf


class HuberLoss(tf.keras.losses.Loss):
    def __init__(self, delta=1.0, name="huber_custom"):
        super().__init__(name=name)
        self.delta = delta

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        abs_error = tf.abs(error)
        quadratic = tf.minimum(abs_error, self.delta)
        linear = abs_error - quadratic
        return tf.reduce_mean(0.5 * tf.square(quadratic) + self.delta * linear, axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def log_cosh(y_true, y_pred):
    x = y_pred - y_true
    return tf.reduce_mean(x + tf.math.softplus(-2.0 * x) - tf.math.log(2.0), axis=-1)


def weighted_mae(y_true, y_pred, sample_weight=None):
    err = tf.abs(y_true - y_pred)
    if sample_weight is not None:
        err = err * sample_weight
    return tf.reduce_mean(err, axis=-1)


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=HuberLoss(delta=2.0), metrics=[log_cosh, "mae"])
