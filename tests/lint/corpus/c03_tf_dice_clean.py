# Segmentation losses from a U-Net tutorial; clean but for the focal Tversky power below 1,
# whose gradient is infinite where the index reaches 1 (reported as NaN losses with gamma=0.75 in
# shruti-jadon/Semantic-Segmentation-Loss-Functions#2, and for gamma < 1 in kornia/kornia#918).
import tensorflow as tf
from tensorflow.keras import backend as K
from tensorflow.keras.losses import binary_crossentropy


def dice_coef(y_true, y_pred, smooth=1.0):
    intersection = K.sum(y_true * y_pred, axis=[1, 2, 3])
    union = K.sum(y_true, axis=[1, 2, 3]) + K.sum(y_pred, axis=[1, 2, 3])
    return (2.0 * intersection + smooth) / (union + smooth)


def dice_loss(y_true, y_pred):
    return 1.0 - dice_coef(y_true, y_pred)


def bce_dice_loss(y_true, y_pred):
    return binary_crossentropy(y_true, y_pred) + dice_loss(y_true, y_pred)


def tversky(y_true, y_pred, alpha=0.7, smooth=1e-6):
    y_true_pos = K.flatten(y_true)
    y_pred_pos = K.flatten(y_pred)
    true_pos = K.sum(y_true_pos * y_pred_pos)
    false_neg = K.sum(y_true_pos * (1 - y_pred_pos))
    false_pos = K.sum((1 - y_true_pos) * y_pred_pos)
    return (true_pos + smooth) / (true_pos + alpha * false_neg + (1 - alpha) * false_pos + smooth)


def focal_tversky_loss(y_true, y_pred, gamma=0.75):
    pt_1 = tversky(y_true, y_pred)
    return K.pow((1 - pt_1), gamma)  # EXPECT: BSG402


def load_mask(path):
    mask = tf.io.decode_png(tf.io.read_file(path), channels=1)
    return tf.cast(mask > 127, tf.float32)


inputs = tf.keras.Input((128, 128, 1))
outputs = tf.keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs)
unet = tf.keras.Model(inputs, outputs)
unet.compile(optimizer=tf.keras.optimizers.Adam(1e-4), loss=bce_dice_loss, metrics=[dice_coef])
