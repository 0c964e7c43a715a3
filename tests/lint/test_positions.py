"""Positions computed per statement agree with libcst's whole-module positions."""

from __future__ import annotations

import textwrap

import libcst as cst
from libcst.metadata import PositionProvider

from keras_bsguard.lint.positions import positions_of

SOURCE = textwrap.dedent(
    '''\
    """A module docstring
    over two lines."""
    import tensorflow as tf; import numpy as np


    # a comment above a decorated function
    @tf.function
    @some.decorator(
        "with arguments on two lines",
    )
    def first(y_true, y_pred):
        return tf.exp(y_pred)


    class Holder:
        @staticmethod
        def second(y_true, y_pred):
            return tf.math.log(y_pred)

    loss = lambda y_true, y_pred: tf.exp(y_pred); other = 1
    if True:
        def third(y_true, y_pred):
            return np.sum(y_pred)
    '''
)


def _calls(node):
    stack, found = [node], []
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            found.append(current)
        stack.extend(current.children)
    return found


def test_per_statement_positions_match_the_whole_module():
    module = cst.parse_module(SOURCE)
    whole = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    first = module.body[2]
    holder_method = module.body[3].body.body[0]
    the_lambda = module.body[4].body[0].value
    third = module.body[5].body.body[0]
    placed = [(container, call) for container in (first, holder_method, the_lambda, third)
              for call in _calls(container)]
    assert len(placed) >= 5
    ours = positions_of(module, SOURCE.encode(), placed)
    for _container, call in placed:
        assert ours[call] == whole[call]
