# CLEAN
# A full training script: most of it is not a loss and must not be reported.
import numpy as np
import tensorflow as tf
from tensorflow.keras import backend as K

BATCH_SIZE = 64
EPOCHS = 30


def augment(image, label):
    image = tf.image.random_brightness(image, 0.2)
    noise = tf.random.normal(tf.shape(image), stddev=0.05)
    image = tf.clip_by_value(image + noise, 0.0, 1.0)
    return image, label


def iou_metric(y_true, y_pred):
    y_pred = K.cast(K.greater(y_pred, 0.5), "float32")
    inter = K.sum(y_true * y_pred)
    union = K.sum(y_true) + K.sum(y_pred) - inter
    return inter / union


def precision_at_half(y_true, y_pred):
    y_hat = tf.round(y_pred)
    tp = tf.reduce_sum(y_true * y_hat)
    return tp / tf.reduce_sum(y_hat)


def cosine_decay(epoch):
    return 1e-3 * 0.5 * (1 + np.cos(np.pi * epoch / EPOCHS))


def weighted_mse(y_true, y_pred):
    w = tf.constant([1.0, 2.0, 4.0])
    return tf.reduce_mean(w * tf.square(y_true - y_pred), axis=-1)


x = np.random.rand(1000, 3).astype("float32")
y = np.random.rand(1000, 3).astype("float32")
for i in range(x.shape[0]):
    x[i] = x[i] / np.linalg.norm(x[i])
ds = tf.data.Dataset.from_tensor_slices((x, y)).map(augment).batch(BATCH_SIZE)
model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
model.compile(optimizer="adam", loss=weighted_mse, metrics=[iou_metric, precision_at_half])
model.fit(ds, epochs=EPOCHS, callbacks=[tf.keras.callbacks.LearningRateScheduler(cosine_decay)])
preds = model.predict(x, batch_size=BATCH_SIZE)
print(float(tf.reduce_mean(preds)))
