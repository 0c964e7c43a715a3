# CLEAN
# JAX / Flax style losses.
import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits, labels):
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(labels * log_probs, axis=-1)


def l2_normalize(x, eps=1e-8):
    return x / jnp.sqrt(jnp.sum(x ** 2, axis=-1, keepdims=True) + eps)


def cosine_loss(y_true, y_pred):
    return 1.0 - jnp.sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    abs_err = jnp.abs(y_true - y_pred)
    quad = jnp.minimum(abs_err, delta)
    return jnp.mean(0.5 * quad ** 2 + delta * (abs_err - quad), axis=-1)


def bce(y_true, y_pred):
    y_pred = jnp.clip(y_pred, 1e-7, 1 - 1e-7)
    return -jnp.mean(y_true * jnp.log(y_pred) + (1 - y_true) * jnp.log1p(-y_pred), axis=-1)


def stable_logsumexp_loss(y_true, logits):
    return jax.scipy.special.logsumexp(logits, axis=-1) - jnp.sum(y_true * logits, axis=-1)


@jax.jit
def train_step(params, x, y):
    def loss_fn(p):
        logits = x @ p["w"]
        return optax.softmax_cross_entropy(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    return loss, grads


key = jax.random.PRNGKey(0)
w = jax.random.normal(key, (10, 3))
