# NT-Xent (SimCLR) contrastive loss.
import tensorflow as tf

LARGE_NUM = 1e9


def nt_xent_loss(z_i, z_j, temperature=0.5):
    z_i = tf.math.l2_normalize(z_i, axis=1)
    z_j = tf.math.l2_normalize(z_j, axis=1)
    batch_size = tf.shape(z_i)[0]
    labels = tf.one_hot(tf.range(batch_size), batch_size * 2)
    masks = tf.one_hot(tf.range(batch_size), batch_size)
    logits_aa = tf.matmul(z_i, z_i, transpose_b=True) / temperature  # EXPECT: BSG601
    logits_aa = logits_aa - masks * LARGE_NUM
    logits_ab = tf.matmul(z_i, z_j, transpose_b=True) / temperature
    loss = tf.nn.softmax_cross_entropy_with_logits(labels, tf.concat([logits_ab, logits_aa], 1))
    return tf.reduce_mean(loss)


class SimCLR(tf.keras.Model):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def train_step(self, data):
        x1, x2 = data
        with tf.GradientTape() as tape:
            loss = nt_xent_loss(self.encoder(x1), self.encoder(x2))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}
