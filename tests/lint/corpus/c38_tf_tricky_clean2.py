# CLEAN
# More correct code that a naive linter would flag.
import tensorflow as tf
from tensorflow.keras import backend as K

BATCH_SIZE_PER_REPLICA = 64


def straight_through_mse(y_true, y_pred):
    hard = y_pred + tf.stop_gradient(tf.round(y_pred) - y_pred)
    return tf.reduce_mean(tf.square(y_true - hard), axis=-1)


def triplet_semi(y_true, y_pred, margin=0.5):
    anchor, pos, neg = tf.split(y_pred, 3, axis=-1)
    d_pos = tf.reduce_sum(tf.square(anchor - pos), axis=-1)
    d_neg = tf.reduce_sum(tf.square(anchor - neg), axis=-1)
    return tf.nn.relu(d_pos - d_neg + margin)


def keras_mape(y_true, y_pred):
    diff = tf.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), None))
    return 100.0 * K.mean(diff, axis=-1)


def shape_aware(y_true, y_pred):
    print("tracing with shape", y_pred.shape)
    if y_pred.shape[-1] == 1:
        y_pred = tf.squeeze(y_pred, -1)
        y_true = tf.squeeze(y_true, -1)
    n_classes = int(y_pred.shape[-1])
    return tf.reduce_sum(tf.square(y_true - y_pred), axis=-1) / float(n_classes)


def per_class_loop(y_true, y_pred):
    total = 0.0
    for c in range(y_pred.shape[-1]):
        total += K.binary_crossentropy(y_true[..., c], y_pred[..., c])
    return total


def rmse_safe(y_true, y_pred):
    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred), axis=-1) + 1e-6)


def vae_kl(y_true, y_pred):
    z_mean, z_log_var = tf.split(y_pred, 2, axis=-1)
    return -0.5 * tf.reduce_sum(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)


def poisson_nll(y_true, log_rate):
    return tf.reduce_mean(tf.nn.log_poisson_loss(y_true, log_rate), axis=-1)


def compute_loss(labels, predictions):
    per_example_loss = tf.keras.losses.sparse_categorical_crossentropy(labels, predictions, from_logits=True)
    return tf.nn.compute_average_loss(per_example_loss)


model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
model.compile(optimizer="adam", loss=triplet_semi)
