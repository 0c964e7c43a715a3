# CLEAN
# Keras 3, backend-agnostic losses.
import keras
from keras import ops


@keras.saving.register_keras_serializable()
class WeightedBCE(keras.losses.Loss):
    def __init__(self, pos_weight=2.0, **kwargs):
        super().__init__(**kwargs)
        self.pos_weight = pos_weight

    def call(self, y_true, y_pred):
        y_pred = ops.clip(y_pred, keras.backend.epsilon(), 1.0 - keras.backend.epsilon())
        loss = -(self.pos_weight * y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred))
        return ops.mean(loss, axis=-1)


def mae(y_true, y_pred):
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def log_cosh(y_true, y_pred):
    diff = y_pred - y_true
    return ops.mean(diff + ops.softplus(-2.0 * diff) - ops.log(2.0), axis=-1)


def kl_divergence(y_true, y_pred):
    eps = 1e-7
    y_true = ops.clip(y_true, eps, 1.0)
    y_pred = ops.clip(y_pred, eps, 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def gaussian_nll(y_true, y_pred):
    mu, log_var = ops.split(y_pred, 2, axis=-1)
    return ops.mean(0.5 * (log_var + ops.square(y_true - mu) * ops.exp(-log_var)), axis=-1)


model = keras.Sequential([keras.layers.Dense(4)])
model.compile(optimizer="adam", loss=WeightedBCE(pos_weight=3.0), metrics=[mae])
