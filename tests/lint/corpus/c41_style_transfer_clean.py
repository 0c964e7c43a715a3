# CLEAN
# Style/perceptual losses: Gram matrices are channels x channels, not batch x batch.
import tensorflow as tf
from tensorflow.keras import backend as K


def gram_matrix(x):
    # x: (H, W, C) feature map of one image, as in the Keras neural style transfer example
    x = tf.transpose(x, (2, 0, 1))
    features = tf.reshape(x, (tf.shape(x)[0], -1))
    return tf.matmul(features, tf.transpose(features))


def batched_gram(x):
    # x: (B, H, W, C) -> (B, C, C)
    b, h, w, c = tf.unstack(tf.shape(x))
    f = tf.reshape(x, (b, h * w, c))
    return tf.matmul(f, f, transpose_a=True) / tf.cast(h * w, tf.float32)


def style_loss(y_true, y_pred):
    return tf.reduce_mean(tf.square(batched_gram(y_true) - batched_gram(y_pred)), axis=[1, 2])


def single_image_style(y_true, y_pred):
    return tf.reduce_mean(tf.square(gram_matrix(y_true[0]) - gram_matrix(y_pred[0])))


def total_variation_loss(y_true, y_pred):
    a = tf.square(y_pred[:, :-1, :-1, :] - y_pred[:, 1:, :-1, :])
    b = tf.square(y_pred[:, :-1, :-1, :] - y_pred[:, :-1, 1:, :])
    return tf.reduce_sum(tf.pow(a + b, 1.25), axis=[1, 2, 3])


def multi_scale_loss(y_true, y_pred):
    # deep supervision: y_pred is a list of side outputs, the loop is over scales
    total = 0.0
    for scale_pred in y_pred:
        resized = tf.image.resize(y_true, tf.shape(scale_pred)[1:3])
        total += tf.reduce_mean(K.binary_crossentropy(resized, scale_pred), axis=[1, 2, 3])
    return total


def yolo_like_loss(y_true, y_pred):
    S, B, C = 7, 2, 20
    y_pred = tf.reshape(y_pred, (-1, S, S, B * 5 + C))
    y_true = tf.reshape(y_true, (-1, S, S, B * 5 + C))
    obj = y_true[..., 4:5]
    coord = tf.reduce_sum(obj * tf.square(y_true[..., :4] - y_pred[..., :4]), axis=[1, 2, 3])
    conf = tf.reduce_sum(tf.square(y_true[..., 4] - y_pred[..., 4]), axis=[1, 2])
    return 5.0 * coord + conf


model = tf.keras.Sequential([tf.keras.layers.Dense(7 * 7 * 30)])
model.compile(optimizer="adam", loss=yolo_like_loss)
