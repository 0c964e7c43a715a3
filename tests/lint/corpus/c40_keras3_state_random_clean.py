# CLEAN
# Keras 3: randomness and state done the supported way (SeedGenerator, metrics in __init__).
import keras
from keras import ops


class NoisyLabelLoss(keras.losses.Loss):
    def __init__(self, stddev=0.01, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, y_true, y_pred):
        noise = keras.random.normal(ops.shape(y_true), stddev=self.stddev, seed=self.seed_generator)
        return ops.mean(ops.square(y_true + noise - y_pred), axis=-1)


class TrackedModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.mse_tracker = keras.metrics.Mean(name="mse")

    def call(self, x):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mse = ops.mean(ops.square(y - y_pred), axis=-1)
        self.mse_tracker.update_state(mse)
        return ops.mean(mse)
