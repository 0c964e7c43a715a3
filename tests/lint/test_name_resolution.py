"""Rules match fully qualified names through imports and aliases."""

from __future__ import annotations

import textwrap

import pytest

from keras_bsguard.lint import lint_source

BODY = "def loss(y_true, y_pred):\n    return {call}\n"


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import tensorflow as tf", "tf.exp(10.0 * (y_true - y_pred))"),
        ("import tensorflow as tf", "tf.math.exp(10.0 * (y_true - y_pred))"),
        ("from tensorflow.math import exp as e", "e(10.0 * (y_true - y_pred))"),
        ("from tensorflow import exp", "exp(10.0 * (y_true - y_pred))"),
        ("from tensorflow import keras", "keras.ops.exp(10.0 * (y_true - y_pred))"),
        ("import keras.backend as K", "K.exp(10.0 * (y_true - y_pred))"),
        ("from tensorflow.keras import backend as K", "K.exp(10.0 * (y_true - y_pred))"),
        ("from keras import ops", "ops.exp(10.0 * (y_true - y_pred))"),
        ("import keras", "keras.ops.exp(10.0 * (y_true - y_pred))"),
        ("import jax.numpy as jnp", "jnp.exp(10.0 * (y_true - y_pred))"),
        ("import numpy as np", "np.exp(10.0 * (y_true - y_pred))"),
        ("import torch", "torch.exp(10.0 * (y_true - y_pred))"),
        ("import tensorflow.compat.v1 as tf1", "tf1.exp(10.0 * (y_true - y_pred))"),
    ],
)
def test_exp_is_recognised_through_every_spelling(imports, call):
    source = f"{imports}\n" + BODY.format(call=call)
    assert [f.code for f in lint_source(source)] == ["BSG401"]


def test_a_local_function_named_exp_is_not_a_tensor_op():
    source = textwrap.dedent(
        """
        def exp(x):
            return x
        def loss(y_true, y_pred):
            return exp(10.0 * (y_true - y_pred))
        """
    )
    assert lint_source(source) == []


def test_unimported_conventional_names_mean_their_library():
    # a snippet or a notebook cell whose imports live elsewhere: ``tf`` is TensorFlow by convention
    source = "def loss(y_true, y_pred):\n    return tf.exp(10.0 * (y_true - y_pred))\n"
    assert [f.code for f in lint_source(source)] == ["BSG401"]


def test_a_conventional_name_the_file_binds_is_not_guessed():
    source = textwrap.dedent(
        """
        from helpers import make_ops
        tf = make_ops()
        def loss(y_true, y_pred):
            return tf.exp(10.0 * (y_true - y_pred))
        def other(y_true, y_pred, K):
            return K.exp(10.0 * (y_true - y_pred))
        """
    )
    assert lint_source(source) == []
