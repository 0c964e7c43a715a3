# Categorical focal loss as often copy-pasted from StackOverflow (no clipping).
import tensorflow as tf
from tensorflow.keras import backend as K


def categorical_focal_loss(gamma=2.0, alpha=0.25):
    def focal_loss_fixed(y_true, y_pred):
        y_pred /= K.sum(y_pred, axis=-1, keepdims=True)
        cross_entropy = -y_true * K.log(y_pred)  # EXPECT: BSG402
        loss = alpha * K.pow(1 - y_pred, gamma) * cross_entropy
        return K.sum(loss, axis=-1)
    return focal_loss_fixed


def f1_metric(y_true, y_pred):
    # metric, not a loss: rounding is fine here
    y_pred = K.round(y_pred)
    tp = K.sum(K.cast(y_true * y_pred, "float"), axis=0)
    fp = K.sum(K.cast((1 - y_true) * y_pred, "float"), axis=0)
    fn = K.sum(K.cast(y_true * (1 - y_pred), "float"), axis=0)
    p = tp / (tp + fp + K.epsilon())
    r = tp / (tp + fn + K.epsilon())
    return K.mean(2 * p * r / (p + r + K.epsilon()))


model = tf.keras.Sequential([tf.keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss=[categorical_focal_loss(alpha=0.25, gamma=2)],
              metrics=[f1_metric])
