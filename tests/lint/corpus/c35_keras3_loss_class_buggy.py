# Keras 3 Loss subclasses with bugs.
import keras
import numpy as np
from keras import ops

BATCH = 128


class SoftmaxCE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        e = ops.exp(y_pred)  # EXPECT: BSG401
        p = e / ops.sum(e, axis=-1, keepdims=True)
        return -ops.sum(y_true * ops.log(p + 1e-7), axis=-1)


class FixedBatchMSE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        flat = ops.reshape(y_pred - y_true, (BATCH, -1))  # EXPECT: BSG502
        return ops.mean(ops.square(flat), axis=-1)


class CenterLoss(keras.losses.Loss):
    def __init__(self, num_classes=10, dim=64, **kwargs):
        super().__init__(**kwargs)
        self.centers = keras.Variable(np.zeros((num_classes, dim), "float32"), trainable=False)

    def call(self, y_true, y_pred):
        c = ops.take(self.centers, ops.cast(y_true[:, 0], "int32"), axis=0)
        return ops.sum(ops.square(y_pred - c), axis=-1)


model = keras.Sequential([keras.layers.Dense(10)])
model.compile(optimizer="adam", loss=SoftmaxCE())
