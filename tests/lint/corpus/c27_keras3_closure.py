# Keras 3 factory whose inner function has non-standard argument names.
import keras
from keras import ops


def weighted_bce(pos_weight=3.0):
    def _inner(a, b):
        return -ops.mean(pos_weight * a * ops.log(b) + (1 - a) * ops.log(1 - b), axis=-1)  # EXPECT: BSG402
    return _inner


def make_quantile_loss(q):
    def qloss(t, p):
        e = t - p
        return ops.mean(ops.maximum(q * e, (q - 1) * e), axis=-1)
    return qloss


model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=weighted_bce(pos_weight=5.0))
model2 = keras.Sequential([keras.layers.Dense(1)])
model2.compile(optimizer="adam", loss=make_quantile_loss(0.9))
