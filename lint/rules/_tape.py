"""Losses handed to ``tape.gradient`` with the batch axis still in them (BSG501).

TensorFlow's ``GradientTape.gradient(target, sources)`` differentiates the *sum* of a non-scalar
target's entries. A loss that still holds one value per sample (the hinge of a triplet, a
``keras.losses.mse(y, p)``) becomes a sum over the batch there: its gradient grows with the batch
size. (Keras's compiled losses average such values; ``jax.grad`` and torch's ``backward()``
refuse a non-scalar outright, so only the tape sums silently.)

    >>> import libcst as cst
    >>> step = cst.parse_statement(
    ...     "def train_step(self, data):\\n"
    ...     "    with tf.GradientTape() as tape:\\n"
    ...     "        loss = self._compute_loss(data)\\n"
    ...     "    grads = tape.gradient(loss, self.trainable_weights)\\n")
    >>> from keras_bsguard.lint.tape_calls import differentiated_by_a_tape
    >>> differentiated_by_a_tape(step, "_compute_loss", method=True) is not None
    True
"""

from __future__ import annotations

import libcst as cst

from ..calls import resolve_call
from ..facts import KERAS_PER_SAMPLE_LOSSES
from ..tape_calls import tape_gradient_in
from ..tree import contains, own_nodes_in_order

# reductions that, without an axis (or over axis 0), leave one number for the batch
_REDUCTIONS = frozenset({"reduce_mean", "reduce_sum", "mean", "sum", "reduce_max", "reduce_min", "max", "min",
                         "amax", "amin", "prod", "reduce_prod", "reduce_logsumexp", "logsumexp", "norm"})
# elementwise ops: they keep whatever batch axis their operands have
_ELEMENTWISE = frozenset({"maximum", "minimum", "relu", "square", "abs", "exp", "log", "log1p", "sqrt", "softplus",
                          "sigmoid", "tanh", "clip_by_value", "clip", "add", "subtract", "multiply", "divide",
                          "pow", "negative", "where", "cast", "stop_gradient"})
# tf.nn's losses of one value per example (or per entry)
_PER_EXAMPLE_NN_LOSSES = frozenset({"softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
                                    "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
                                    "log_poisson_loss", "ctc_loss"})
_DEPTH = 8


def tape_gradient_of(ctx) -> cst.Call | None:
    """The ``tape.gradient(loss, ...)`` call (in a function of this file; for a method, one of its
    class) whose target is a name bound to a call of this loss, ``tape`` a ``GradientTape``."""
    info = ctx.loss.info
    if info is None or info.name.startswith("__"):
        return None
    return tape_gradient_in(ctx.index, info)


def keeps_batch_axis(node, ctx, depth: int = 0) -> bool | None:
    """Whether a value still has the batch axis (True), is one number (False), or is unknown (None):
    read through the loss's own assignments, reductions, Keras's per-sample loss functions and
    elementwise ops; a network's outputs have the batch axis."""
    if depth > _DEPTH:
        return None
    if isinstance(node, (cst.Integer, cst.Float)):
        return False
    if isinstance(node, cst.UnaryOperation):
        return keeps_batch_axis(node.expression, ctx, depth + 1)
    if isinstance(node, cst.BinaryOperation):
        return _either(keeps_batch_axis(node.left, ctx, depth + 1), keeps_batch_axis(node.right, ctx, depth + 1))
    if isinstance(node, cst.Name):
        facts = ctx.facts(node)
        if facts.network_output and not facts.no_batch_axis:
            return True  # ap_distance, an_distance = self.siamese_network(data) (not its reduce_mean)
        value = last_binding(node, ctx)
        if value is None and node.value in ctx.loss.param_taints:
            # the loss's own (y_true, y_pred): the batch's tensors, unless known to have no batch axis
            return True if ctx.loss.param_taints[node.value] and facts.is_tensor and not facts.no_batch_axis \
                and not facts.maybe_list else None
        return None if value is None else keeps_batch_axis(value, ctx, depth + 1)
    if not isinstance(node, cst.Call):
        return None
    op = ctx.op(node) or _kept_function_call(node, ctx)
    if op is None:
        return None
    if _per_example_op(op):
        return True  # tf.keras.losses.mse(y, p), tf.nn.sparse_softmax_cross_entropy_with_logits
    if op.name in _REDUCTIONS and op.args:
        if ctx.evaluator.reduces_batch(op):
            return False
        if not _literal_axes(op.arg(1, "axis", "dim", "axes", "reduction_indices")):
            return None  # axis=self.axis, axis=range(...): which axes is not written here
        if _per_example_loss(op.args[0], ctx):
            return None  # mean(mse(y, p), axis=-1): the per-example values may be all that is left
        return keeps_batch_axis(op.args[0], ctx, depth + 1)  # along a feature axis
    if op.name in _ELEMENTWISE:
        result = False
        for argument in op.args:
            result = _either(result, keeps_batch_axis(argument, ctx, depth + 1))
        return result
    return None


def _per_example_op(op) -> bool:
    """Keras's per-sample loss functions and tf.nn's per-example losses: one value per sample."""
    return (op.name in KERAS_PER_SAMPLE_LOSSES and ("losses" in op.namespace or op.namespace == "keras.backend"
                                                    or (op.namespace.endswith("metrics") and "keras" in op.namespace))) \
        or (op.name in _PER_EXAMPLE_NN_LOSSES and op.namespace.startswith("tensorflow"))


def per_example_nn_loss(node, ctx) -> bool:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits(...)`` and the other tf.nn per-example
    losses: one value per example, whatever the inputs' rank."""
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    return op is not None and op.name in _PER_EXAMPLE_NN_LOSSES and op.namespace.startswith("tensorflow")


def per_example_loss(node, ctx, depth: int = 0) -> bool:
    """A per-example loss's values (Keras's per-sample loss functions, tf.nn's per-example losses,
    CTC), directly, under the name they were bound to, or scaled and added to others
    (``784 * binary_crossentropy(x, y) + kl``)."""
    if _per_example_loss(node, ctx):
        return True
    if depth > 3:
        return False
    if isinstance(node, cst.Name):
        bound = last_binding(node, ctx)
        return bound is not None and per_example_loss(bound, ctx, depth + 1)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract, cst.Multiply)):
        return per_example_loss(node.left, ctx, depth + 1) or per_example_loss(node.right, ctx, depth + 1)
    if isinstance(node, cst.UnaryOperation):
        return per_example_loss(node.expression, ctx, depth + 1)
    return False


def _per_example_loss(node, ctx) -> bool:
    """A per-example loss's values, directly or under the name they were bound to."""
    if isinstance(node, cst.Name):
        node = last_binding(node, ctx)
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    if op is None and isinstance(node, cst.Call):
        op = _kept_function_call(node, ctx)
    return op is not None and _per_example_op(op)


def _kept_function_call(node: cst.Call, ctx):
    """``self.loss_fn(...)`` where ``__init__`` kept ``self.loss_fn = K.ctc_batch_cost``: that op."""
    func = node.func
    class_info = getattr(ctx.loss.info, "class_info", None)
    if class_info is None or not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                                  and func.value.value == "self"):
        return None
    kept = class_info.function_aliases().get(func.attr.value)
    return resolve_call(node.with_changes(func=kept), ctx.evaluator.imports) if kept is not None else None


def _literal_axes(axis) -> bool:
    """``axis=-1``, ``axis=[1, 2]``: axes written as numbers."""
    if isinstance(axis, (cst.List, cst.Tuple)):
        return bool(axis.elements) and all(_literal_axes(e.value) for e in axis.elements)
    if isinstance(axis, cst.UnaryOperation) and isinstance(axis.operator, cst.Minus):
        axis = axis.expression
    return isinstance(axis, cst.Integer)


def _either(left: bool | None, right: bool | None) -> bool | None:
    """A broadcast of two values keeps a batch axis either has."""
    if left or right:
        return True
    if left is False and right is False:
        return False
    return None


def last_binding(name: cst.Name, ctx):
    """The value bound to ``name`` where it is read: the loss's last plain assignment to it before
    that place (``loss = tf.maximum(loss + m, 0)`` reads the ``loss`` bound above it)."""
    order = ctx.__dict__.get("_tape_order")
    if order is None:
        order = ctx.__dict__["_tape_order"] = list(own_nodes_in_order(ctx.loss.node))
    value = None
    for node in order:
        if node is name:
            return value
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) \
                and node.targets[0].target.value == name.value and not contains(node, name):
            value = node.value
    return value

