# Custom Model with a compute_loss override (Keras 3 / tf.keras 2.11+ style).
import keras
import tensorflow as tf


class RegularizedModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, x):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        step = tf.Variable(0.0, trainable=False)  # EXPECT: BSG702
        mse = tf.reduce_mean(tf.square(y - y_pred), axis=-1)
        if sample_weight is not None:
            mse = mse * sample_weight
        loss = tf.reduce_mean(mse) + tf.add_n(self.losses) if self.losses else tf.reduce_mean(mse)
        print("loss is", loss)  # EXPECT: BSG701
        self.loss_tracker.update_state(loss)
        tf.print("loss:", loss)
        return loss


class GoodModel(keras.Model):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        ce = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        n = tf.cast(tf.shape(ce)[0], tf.float32)
        return tf.reduce_sum(ce) / n
