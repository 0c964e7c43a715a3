# Losses that inject noise ("label smoothing by jitter", stochastic regularization).
import random

import keras
import numpy as np
from keras import ops


def noisy_mse(y_true, y_pred):
    noise = keras.random.normal(ops.shape(y_true), stddev=0.01)  # EXPECT: BSG201
    return ops.mean(ops.square(y_true + noise - y_pred), axis=-1)


def jitter_bce(y_true, y_pred):
    smoothing = np.random.uniform(0.0, 0.1)  # EXPECT: BSG201
    y_true = y_true * (1.0 - smoothing) + 0.5 * smoothing
    y_pred = ops.clip(y_pred, 1e-7, 1 - 1e-7)
    return -ops.mean(y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred), axis=-1)


def random_crop(image):
    # data augmentation, not a loss
    x = random.randint(0, 32)
    return image[x:x + 224]


model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=jitter_bce)
