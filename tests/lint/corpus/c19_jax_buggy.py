# JAX losses with numerical traps.
import jax
import jax.numpy as jnp


def nll(y_true, y_pred):
    return -jnp.mean(y_true * jnp.log(y_pred), axis=-1)  # EXPECT: BSG402


def euclidean_loss(y_true, y_pred):
    return jnp.sqrt(jnp.sum(jnp.square(y_true - y_pred), axis=-1))  # EXPECT: BSG402


def exp_scale_loss(y_true, y_pred):
    return jnp.mean(2 ** y_pred * jnp.abs(y_true - y_pred), axis=-1)  # EXPECT: BSG401


def smooth_max_loss(y_true, y_pred):
    err = jnp.abs(y_true - y_pred)
    return jnp.log(jnp.sum(jnp.exp(err), axis=-1))  # EXPECT: BSG401


grad_fn = jax.grad(lambda p, x, y: nll(y, x * p).mean())
