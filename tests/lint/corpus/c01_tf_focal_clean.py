# CLEAN
# Binary focal loss (Lin et al.) as posted on many Kaggle kernels, numerically stable version.
import tensorflow as tf
from tensorflow.keras import backend as K

IMG_SIZE = 224
BATCH_SIZE = 32


def preprocess(image, label):
    image = tf.image.resize(image, (IMG_SIZE, IMG_SIZE))
    image = tf.image.random_flip_left_right(image)
    image = tf.cast(image, tf.float32) / 255.0
    return image, label


def binary_focal_loss(gamma=2.0, alpha=0.25):
    def binary_focal_loss_fixed(y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        epsilon = K.epsilon()
        y_pred = K.clip(y_pred, epsilon, 1.0 - epsilon)
        p_t = tf.where(K.equal(y_true, 1), y_pred, 1 - y_pred)
        alpha_factor = K.ones_like(y_true) * alpha
        alpha_t = tf.where(K.equal(y_true, 1), alpha_factor, 1 - alpha_factor)
        cross_entropy = -K.log(p_t)
        weight = alpha_t * K.pow((1 - p_t), gamma)
        loss = weight * cross_entropy
        return K.mean(K.sum(loss, axis=-1))
    return binary_focal_loss_fixed


def lr_schedule(epoch, lr):
    if epoch < 10:
        return lr
    return lr * tf.math.exp(-0.1)


def build_model():
    base = tf.keras.applications.EfficientNetB0(include_top=False, pooling="avg")
    out = tf.keras.layers.Dense(1, activation="sigmoid")(base.output)
    return tf.keras.Model(base.input, out)


if __name__ == "__main__":
    ds = tf.data.Dataset.from_tensor_slices((tf.zeros((100, 256, 256, 3)), tf.zeros((100, 1))))
    ds = ds.map(preprocess).batch(BATCH_SIZE)
    model = build_model()
    model.compile(optimizer="adam", loss=binary_focal_loss(gamma=2.0, alpha=0.25),
                  metrics=["accuracy", tf.keras.metrics.AUC()])
    model.fit(ds, epochs=20, callbacks=[tf.keras.callbacks.LearningRateScheduler(lr_schedule)])
