# Keras 3 compile variants: list of losses, lambda, functools.partial, string names.
import functools

import keras
from keras import ops


def weighted_l1(y_true, y_pred, weight=1.0):
    return weight * ops.mean(ops.abs(y_true - y_pred), axis=-1)


def rel_err(a, b):
    return ops.mean(ops.abs(a - b) / ops.abs(a), axis=-1)  # EXPECT: BSG402


inp = keras.Input((8,))
o1 = keras.layers.Dense(1, name="o1")(inp)
o2 = keras.layers.Dense(1, name="o2")(inp)
o3 = keras.layers.Dense(4, name="o3")(inp)
model = keras.Model(inp, [o1, o2, o3])
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=[
        functools.partial(weighted_l1, weight=2.0),
        rel_err,
        lambda t, p: ops.sum(ops.square(t - p)),  # EXPECT: BSG501
    ],
    metrics=[["mae"], ["mae"], ["mse"]],
)
