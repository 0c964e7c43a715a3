# Losses that keep state (curriculum / annealing hacks).
import tensorflow as tf

global_step = tf.Variable(0, trainable=False, dtype=tf.int64)
call_count = 0
history = []


def annealed_mse(y_true, y_pred):
    global_step.assign_add(1)  # EXPECT: BSG702
    w = tf.minimum(tf.cast(global_step, tf.float32) / 1000.0, 1.0)
    return w * tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def counting_loss(y_true, y_pred):
    global call_count
    call_count += 1  # EXPECT: BSG702
    loss = tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)
    history.append(loss)  # EXPECT: BSG702
    return loss


def on_epoch_end(epoch, logs):
    global call_count
    call_count = 0
    history.clear()


model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=annealed_mse)
cb = tf.keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)
