# Keras 3 losses: distances and sign-based losses.
import keras
from keras import ops


def pair_distance_loss(y_true, y_pred):
    anchor, positive = y_pred[:, :64], y_pred[:, 64:]
    d = ops.sqrt(ops.sum(ops.square(anchor - positive), axis=-1))  # EXPECT: BSG402
    return ops.mean(ops.maximum(d - y_true[:, 0], 0.0))


def direction_loss(y_true, y_pred):
    return ops.mean(ops.abs(ops.sign(y_true) - ops.sign(y_pred)), axis=-1)  # EXPECT: BSG302


def log_ratio_loss(y_true, y_pred):
    return ops.mean(ops.square(ops.log(y_pred / y_true)), axis=-1)  # EXPECT: BSG402


model = keras.Sequential([keras.layers.Dense(128)])
model.compile(optimizer="adam", loss=pair_distance_loss)
