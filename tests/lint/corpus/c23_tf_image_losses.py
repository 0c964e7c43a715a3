# Image restoration losses: SSIM, gradient/edge, FFT and "perceptual" losses.
import tensorflow as tf

SOBEL_X = tf.constant([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], tf.float32)


def ssim_loss(y_true, y_pred):
    return 1.0 - tf.image.ssim(y_true, y_pred, max_val=1.0)  # EXPECT: BSG603


def image_gradient_loss(y_true, y_pred):
    dy_t, dx_t = tf.image.image_gradients(y_true)
    dy_p, dx_p = tf.image.image_gradients(y_pred)
    return tf.reduce_mean(tf.abs(dy_t - dy_p) + tf.abs(dx_t - dx_p), axis=[1, 2, 3])


def edge_loss(y_true, y_pred):
    kernel = tf.reshape(SOBEL_X, (3, 3, 1, 1))
    e_true = tf.nn.conv2d(y_true, kernel, strides=1, padding="SAME")  # EXPECT: BSG603
    e_pred = tf.nn.conv2d(y_pred, kernel, strides=1, padding="SAME")
    return tf.reduce_mean(tf.square(e_true - e_pred), axis=[1, 2, 3])


def fft_loss(y_true, y_pred):
    f_true = tf.signal.fft2d(tf.cast(y_true[..., 0], tf.complex64))  # EXPECT: BSG603
    f_pred = tf.signal.fft2d(tf.cast(y_pred[..., 0], tf.complex64))
    return tf.reduce_mean(tf.abs(f_true - f_pred), axis=[1, 2])


def perceptual_loss(y_true, y_pred):
    vgg = tf.keras.applications.VGG16(include_top=False, weights="imagenet")  # EXPECT: BSG702 BSG603
    vgg.trainable = False
    return tf.reduce_mean(tf.square(vgg(y_true) - vgg(y_pred)), axis=[1, 2, 3])


def total_loss(y_true, y_pred):
    return ssim_loss(y_true, y_pred) + 0.1 * image_gradient_loss(y_true, y_pred)


model = tf.keras.Sequential([tf.keras.layers.Conv2D(3, 3, padding="same")])
model.compile(optimizer="adam", loss=total_loss)
