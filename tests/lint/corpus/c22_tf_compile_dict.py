# Multi-output model compiled with a loss dict and a lambda.
import tensorflow as tf


def _masked_mean(values, mask):
    return tf.reduce_sum(values * mask, axis=-1) / tf.reduce_sum(mask, axis=-1)  # EXPECT: BSG402


def seg_loss(gt, pr):
    mask = tf.cast(gt >= 0, tf.float32)
    bce = tf.keras.backend.binary_crossentropy(tf.maximum(gt, 0.0), pr)
    return _masked_mean(bce, mask)


def box_loss(gt, pr):
    return tf.reduce_sum(tf.abs(gt - pr))  # EXPECT: BSG501


inp = tf.keras.Input((64,))
seg = tf.keras.layers.Dense(16, activation="sigmoid", name="seg")(inp)
box = tf.keras.layers.Dense(4, name="box")(inp)
cls = tf.keras.layers.Dense(3, name="cls")(inp)
model = tf.keras.Model(inp, [seg, box, cls])
model.compile(
    optimizer="adam",
    loss={
        "seg": seg_loss,
        "box": box_loss,
        "cls": lambda a, b: tf.reduce_sum(tf.square(a - b)),  # EXPECT: BSG501
    },
    loss_weights={"seg": 1.0, "box": 0.5, "cls": 1.0},
)
