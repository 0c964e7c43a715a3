# Losses that bake in the batch size.
import tensorflow as tf

BATCH_SIZE = 32
NUM_CLASSES = 10


def flat_mse(y_true, y_pred):
    y_pred = tf.reshape(y_pred, (BATCH_SIZE, -1))  # EXPECT: BSG502
    y_true = tf.reshape(y_true, (-1, NUM_CLASSES))
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def summed_then_averaged(y_true, y_pred):
    return tf.reduce_sum(tf.square(y_true - y_pred)) / BATCH_SIZE  # EXPECT: BSG502


def ok_reshape(y_true, y_pred):
    y_pred = tf.reshape(y_pred, (-1, NUM_CLASSES))
    y_true = tf.reshape(y_true, (tf.shape(y_true)[0], NUM_CLASSES))
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


dataset = tf.data.Dataset.range(100).batch(BATCH_SIZE)
model = tf.keras.Sequential([tf.keras.layers.Dense(NUM_CLASSES)])
model.compile(optimizer="adam", loss=flat_mse)
model.fit(dataset, batch_size=BATCH_SIZE)
