"""BSG301 dead-zone, BSG302 zero-gradient, BSG303 kink-at-target."""

from __future__ import annotations


import libcst as cst

from ..facts import ABS_OPS, CLIP_OPS, MAXIMUM_OPS, MINIMUM_OPS, PRED, TRUE, WHERE_OPS, _text
from ..losses import compile_loss_arguments, named_like_a_loss
from ..names import called_name
from ..tree import all_nodes, own_nodes
from ..vocabulary import name_words
from ._util import assignments_to, code_of, loss_calls_any
from .base import Rule
from ..lazy_re import compile_lazily

_RELU_OPS = frozenset({"relu", "relu6", "leaky_relu_zero"})
_ZERO_MAKERS = frozenset({"zeros_like", "zeros"})
_NOMINAL_RANGES = frozenset({(-1, 1), (0, 1)})
# name tokens of such values: iou, cious, giou, cos, cosine, sim, corr, dice, prob, probs
_RANGED_TOKEN = compile_lazily(r"^([a-z]?ious?|cos|cosine|sims?|similarity|similarities|corr|correlation|dice|probs?|"
                               r"probability|probabilities)$")


class DeadZone(Rule):
    """An error term clamped against a threshold: the loss is flat, with zero gradient, on a region.

    ``maximum(|err| - c, 0)``, ``relu(|err| - c)``, ``maximum(|err|, c)``, ``clip(err, -c, c)`` or
    ``where(|err| < c, 0, ...)`` give every sample whose error lies in the flat region exactly zero
    gradient. Predictions that start there never move, and predictions that wander in stop
    improving long before they reach the target. (Margins such as Keras's ``hinge``,
    ``maximum(1 - y*p, 0)``, are deliberate and not reported, nor is Huber's
    ``minimum(|err|, delta)``.)

    **Instead** keep a gradient everywhere: Huber (``keras.losses.Huber``), log-cosh, or a
    smooth approximation such as ``softplus(|err| - c)``.

    Before::

        def eps_insensitive(y_true, y_pred):
            return tf.reduce_mean(tf.maximum(tf.abs(y_true - y_pred) - 0.1, 0.0), axis=-1)

    After::

        def smooth_eps_insensitive(y_true, y_pred):
            return tf.reduce_mean(tf.nn.softplus(tf.abs(y_true - y_pred) - 0.1), axis=-1)
    """

    code = "BSG301"
    name = "dead-zone"
    severity = "warning"
    summary = "maximum/relu/clip of an error term against a threshold: zero gradient on a region"
    node_types = (cst.Call, cst.BinaryOperation)

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.BinaryOperation):
            rectified = _hand_written_relu(node, ctx)
            if rectified is not None and ctx.facts(rectified).thresholded:
                ctx.report(self, node, f"`{code_of(node)}` is a relu written by hand: zero gradient wherever the "
                                       "error is below the threshold")
            return
        op = ctx.op(node)
        if op is None or not op.args:
            return
        first = ctx.facts(op.args[0])
        if (op.name in MAXIMUM_OPS or _torch_elementwise_max(op, ctx)) and len(op.args) >= 2:
            second = ctx.facts(op.args[1])
            for a, b, b_node in ((first, second, op.args[1]), (second, first, op.args[0])):
                if a.thresholded and (b.literal == 0 or _is_zero(b_node, ctx)):
                    ctx.report(self, node, f"`{code_of(node)}` is flat (zero gradient) wherever the error is "
                                           "below the threshold")
                    return
                if a.magnitude and not b.taint and not b.shape and b.literal != 0 and not _epsilon(b):
                    ctx.report(self, node, f"`{code_of(node)}` is constant while the error is below "
                                           f"`{code_of(op.args[1] if b is second else op.args[0])}`: zero gradient there")
                    return
        elif op.name in _RELU_OPS and first.thresholded:
            ctx.report(self, node, f"`{code_of(node)}` has zero gradient wherever the error is below the threshold")
        elif op.name in CLIP_OPS:
            self._clip(node, op, first, ctx)
        elif op.name in WHERE_OPS and len(op.args) >= 3:
            self._where(node, op, ctx)

    def _clip(self, node, op, first, ctx) -> None:
        lower = op.arg(1, "clip_value_min", "x_min", "min", "a_min", "min_value")
        upper = op.arg(2, "clip_value_max", "x_max", "max", "a_max", "max_value")
        lower_facts = ctx.facts(lower) if lower is not None else None
        if first.thresholded and lower_facts is not None and lower_facts.literal == 0:
            ctx.report(self, node, f"`{code_of(node)}` has zero gradient wherever the error is below the threshold")
        elif (first.error or first.magnitude) and lower is not None and upper is not None \
                and not lower_facts.taint and not ctx.facts(upper).taint \
                and not _range_guard(op.args[0], lower_facts, ctx.facts(upper)):
            ctx.report(self, node, f"`{code_of(node)}` clips the error: zero gradient once it passes the bounds")

    def _where(self, node, op, ctx) -> None:
        condition = op.args[0]
        if not _compares_magnitude_to_threshold(condition, ctx):
            return
        if any(_is_zero(branch, ctx) for branch in op.args[1:3]):
            ctx.report(self, node, f"`{code_of(node)}` sets the loss to a constant on one side of the threshold: "
                                   "zero gradient there")


def _range_guard(value, lower, upper) -> bool:
    """``cious.clamp(min=-1, max=1)``: a value named as an IoU, cosine, similarity, correlation,
    Dice score or probability, clipped to its nominal range ([-1, 1] or [0, 1]). The clip guards
    against rounding past the range; it does not flatten an error (``clip(y_true - y_pred, -1, 1)``
    does, and stays reported).

        >>> from keras_bsguard.lint.facts import literal_facts
        >>> _range_guard(cst.Name("cious"), literal_facts(-1.0), literal_facts(1.0))
        True
        >>> [_range_guard(cst.Name(n), literal_facts(-1.0), literal_facts(1.0)) for n in ("err", "cost", "previous")]
        [False, False, False]
    """
    if (lower.literal, upper.literal) not in _NOMINAL_RANGES:
        return False
    name = value.value if isinstance(value, cst.Name) else value.attr.value if isinstance(value, cst.Attribute) else ""
    return any(_RANGED_TOKEN.match(word) for word in name_words(name))


def _epsilon(facts) -> bool:
    """``1e-6`` or ``eps``: a floor that keeps a magnitude off 0 (for a log, sqrt or division
    after it); the flat region below it is too small to matter."""
    return (facts.literal is not None and 0 < facts.literal <= 1e-3) or (facts.guarded and facts.literal is None)


def _compares_magnitude_to_threshold(condition, ctx) -> bool:
    if isinstance(condition, cst.Comparison) and len(condition.comparisons) == 1:
        left, right = ctx.facts(condition.left), ctx.facts(condition.comparisons[0].comparator)
    elif isinstance(condition, cst.Call):
        op = ctx.op(condition)
        if op is None or len(op.args) < 2 or op.name not in ("less", "less_equal", "greater", "greater_equal", "lt", "le", "gt", "ge"):
            return False
        left, right = ctx.facts(op.args[0]), ctx.facts(op.args[1])
    else:
        return False
    return (left.magnitude and not right.taint and right.literal != 0) or \
        (right.magnitude and not left.taint and left.literal != 0)


def _torch_elementwise_max(op, ctx) -> bool:
    """``torch.max(err - eps, zeros)``, ``(err - eps).max(zeros)``: torch's ``max`` given a second
    tensor is the elementwise maximum (given an int, ``max(x, 1)``, it reduces along that dim)."""
    if op.name != "max" or len(op.args) < 2 or "dim" in op.kwargs \
            or not (op.is_method or op.namespace.startswith("torch")):
        return False
    other = op.args[1]
    if ctx.facts(other).is_tensor:
        return True
    if isinstance(other, cst.Name):  # zeros = torch.tensor(0.0), bound once (not dim = 0)
        bound = assignments_to(other.value, ctx)
        other = bound[0].value if len(bound) == 1 else other
    return isinstance(other, cst.Call) and _is_zero(other, ctx)  # torch.tensor(0.0), not the dim 0


def _is_zero(node, ctx, depth: int = 0) -> bool:
    """``0``, ``zeros_like(x)``, ``torch.zeros(n)``, and such a tensor moved or reshaped
    (``.to(device).view(-1, 1)``), or made from a list of zeros (``torch.tensor([0.0 for _ in
    range(n)])``, ``tf.constant([0.0] * n)``); a name bound once in the loss to one of these."""
    if ctx.facts(node).literal == 0:
        return True
    if isinstance(node, cst.Name) and depth < 3:
        bound = assignments_to(node.value, ctx)  # zeros = torch.zeros_like(y_pred), bound once
        return len(bound) == 1 and _is_zero(bound[0].value, ctx, depth + 1)
    if not isinstance(node, cst.Call):
        return False
    op = ctx.op(node)
    if op is None:
        return False
    if op.name in _ZERO_MAKERS:
        return True
    if op.is_method and op.name in _ZERO_KEEPING_METHODS and op.args:
        return _is_zero(op.args[0], ctx, depth)
    if op.name in ("tensor", "constant", "as_tensor", "convert_to_tensor", "array") and op.args:
        return ctx.facts(op.args[0]).literal == 0 or _zero_list(op.args[0], ctx)  # torch.tensor(0.0)
    return False


# methods that move, cast or reshape a tensor: zeros stay zeros
_ZERO_KEEPING_METHODS = frozenset({"to", "cuda", "cpu", "float", "double", "half", "type", "type_as", "view",
                                   "reshape", "unsqueeze", "expand", "expand_as", "contiguous", "clone"})


def _zero_list(node, ctx) -> bool:
    """``[0.0 for _ in range(n)]``, ``[0.0] * n``, ``[0, 0]``: a Python list of zeros."""
    if isinstance(node, cst.ListComp):
        return ctx.facts(node.elt).literal == 0
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return any(isinstance(side, cst.List) and _zero_list(side, ctx) for side in (node.left, node.right))
    if isinstance(node, cst.List):
        return bool(node.elements) and all(ctx.facts(e.value).literal == 0 for e in node.elements)
    return False


class ZeroGradient(Rule):
    """A step function of the prediction: ``round``, ``sign``, ``floor``, ``ceil``, or a
    comparison/``argmax`` cast to a float.

    **Why it hurts training.** These functions are piecewise constant: their gradient is zero
    almost everywhere (and undefined at the jumps). A loss built on them -- an accuracy used as a
    loss, a thresholded prediction -- gives the optimizer nothing to follow, so weights upstream of
    it never change. Reported only when *every* path from the prediction to the returned loss goes
    through such a step: a comparison used as a mask, an index or a selection
    (``where(y_pred > 0, a, b)``, ``cast(mask) * err``) leaves the gradient flowing through the
    selected values and is fine, and so is a step applied to the target alone (``argmax(y_true)``).
    Also reported: a loss returned as a new leaf made from a copy of its own values
    (``Variable(loss.data, requires_grad=True)``, ``torch.tensor(loss.item(), requires_grad=True)``,
    ``loss.detach().clone().requires_grad_(True)``), which asks for a gradient that reaches no weight.

    **Instead** use the soft version: the probability instead of the thresholded class,
    ``sigmoid(k * x)`` instead of ``x > 0``, a cross-entropy instead of an accuracy.

    Before::

        def accuracy_loss(y_true, y_pred):
            hit = tf.cast(tf.equal(tf.argmax(y_true, -1), tf.argmax(y_pred, -1)), tf.float32)
            return 1.0 - hit

    After::

        def soft_accuracy_loss(y_true, y_pred):
            return 1.0 - tf.reduce_sum(y_true * y_pred, axis=-1)
    """

    code = "BSG302"
    name = "zero-gradient"
    severity = "warning"
    summary = "every path from the prediction to the loss goes through a step function: zero gradient"
    checks_return = True

    def check_return(self, value, ctx) -> None:
        leaf = _new_leaf_of_the_prediction(value, ctx)
        if leaf is not None:
            ctx.report(self, leaf, f"`{code_of(leaf)}` makes a new leaf tensor from the loss's values: "
                                   "requires_grad=True on a copy cuts it from the network's graph, so backward() "
                                   "reaches no weight (zero gradient); return the loss itself")
            return
        facts = ctx.facts(value)
        if PRED not in facts.taint or not facts.nograd or facts.step_node is None:
            return
        if _measures_agreement(ctx):
            return
        step = facts.step_node
        ctx.report(self, step, f"`{code_of(step)}` is a step function of the prediction, and every path from the "
                               "prediction to the returned loss goes through it: the loss has zero gradient")


_COPY_METHODS = frozenset({"data", "detach", "item", "cpu", "numpy", "tolist", "clone"})
_DEVICE_METHODS = frozenset({"cuda", "to", "float", "double", "cpu", "requires_grad_"})


def _new_leaf_of_the_prediction(value, ctx):
    """``Variable(loss.data, requires_grad=True)``, ``torch.tensor(loss.item(), requires_grad=True)``
    (then ``.cuda()``): a returned leaf built from a copy of a value that carried the prediction's
    gradient; the call, or None.

        >>> from keras_bsguard.lint.api import lint_source
        >>> src = ("import torch\\n"
        ...        "def kd_loss(logits, target):\\n"
        ...        "    loss = torch.nn.functional.cross_entropy(logits, target)\\n"
        ...        "    return torch.autograd.Variable(loss.data, requires_grad=True)\\n")
        >>> [f.code for f in lint_source(src)]
        ['BSG302']
    """
    leaf = None
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _DEVICE_METHODS:
        if value.func.attr.value == "requires_grad_" and leaf is None:
            leaf = value  # loss.detach().clone().requires_grad_(True)
        value = value.func.value  # Variable(...).cuda()
    if leaf is not None and not (isinstance(value, cst.Call) and called_name(value) in ("Variable", "tensor")):
        copied = _copied_from(value)
        if copied is value or not any(isinstance(n, cst.Attribute) and n.attr.value in ("detach", "data")
                                      for n in all_nodes(value)):
            return None  # x.requires_grad_() of a value that was never cut from the graph
        return leaf if _carries_the_prediction(copied, ctx) else None
    if not (isinstance(value, cst.Call) and value.args and called_name(value) in ("Variable", "tensor", "as_tensor")
            and any(a.keyword is not None and a.keyword.value == "requires_grad" and _text(a.value) == "True"
                    for a in value.args)):
        return None
    copied = _copied_from(value.args[0].value)
    if copied is value.args[0].value:
        return None  # torch.tensor(0.0, requires_grad=True), Variable(x, requires_grad=True): no copy
    return value if _carries_the_prediction(copied, ctx) else None


def _copied_from(node):
    """What ``loss.data``, ``loss.detach().cpu()``, ``loss.item()`` copy (``loss``); ``node`` itself
    when it is no copy."""
    while isinstance(node, (cst.Call, cst.Attribute)):
        inner = node.func if isinstance(node, cst.Call) else node
        if not (isinstance(inner, cst.Attribute) and inner.attr.value in _COPY_METHODS):
            break
        node = inner.value
    return node


def _carries_the_prediction(node, ctx) -> bool:
    facts = ctx.facts(node)
    return PRED in facts.taint and facts.has_grad


def _measures_agreement(ctx) -> bool:
    """A module function found only by its ``(y_true, y_pred)`` parameters (not named as a loss,
    not used as one in the file: :func:`_used_as_a_loss`) that discretises the target as it does
    the prediction (``argmax`` of both, ``round`` of both): it counts how they agree, an evaluation
    metric.

        >>> from keras_bsguard.lint.api import lint_source
        >>> src = ("from keras import backend as K\\n"
        ...        "def sensitivity(y_true, y_pred):\\n"
        ...        "    t, p = K.round(y_true), K.round(y_pred)\\n"
        ...        "    return K.sum(t * p) / (K.sum(t) + 1.0)\\n")
        >>> [f.code for f in lint_source(src)]
        []
    """
    loss = ctx.loss
    info = loss.info
    if loss.kind != "signature" or info is None or info.class_info is not None or named_like_a_loss(info.name):
        return False
    if _used_as_a_loss(info.name, ctx.index):
        return False
    for node in own_nodes(loss.node):
        if isinstance(node, cst.Comparison):
            operand = node.left
        elif isinstance(node, cst.Call):
            op = ctx.op(node)
            if op is None or not op.args:
                continue
            operand = op.args[0]
        else:
            continue
        if ctx.evaluator.ends_gradient(node) != "step":
            continue
        taint = ctx.facts(operand).taint
        if TRUE in taint and PRED not in taint:
            return True
    return False


# calls that differentiate what a training loop computed
_DIFFERENTIATING = frozenset({"gradient", "backward", "grad", "value_and_grad", "minimize"})


def _used_as_a_loss(name: str, index) -> bool:
    """The file uses the function ``name`` as a loss: a training loop stores its result as one
    (``loss = name(...)``), ``compile(loss=...)`` is handed it or a name bound to it
    (``loss_fn = name``), or a scope that calls it also differentiates (``tape.gradient``,
    ``.backward()``, ``jax.grad``): ``loss = 1.0 - jaccard(y, model(x))`` in a training loop."""
    if name in index.loss_calls:
        return True
    module = index.module
    if module is None:
        return False
    aliases = {name}
    for node in all_nodes(module):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value == name:
            aliases.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
    for call in index.compile_calls:
        for argument in compile_loss_arguments(call):
            if any(isinstance(n, cst.Name) and n.value in aliases for n in all_nodes(argument)):
                return True
    for scope in (module, *(f.node for f in index.functions)):
        calls = [n for n in own_nodes(scope) if isinstance(n, cst.Call)]
        if any(isinstance(c.func, cst.Name) and c.func.value in aliases for c in calls) \
                and any(called_name(c) in _DIFFERENTIATING for c in calls):
            return True
    return False


class KinkAtTarget(Rule):
    """``abs(err)`` (MAE) whose kink sits exactly at zero error. Opt-in, informational.

    **Why it can hurt training.** The gradient of ``|err|`` is ``±1`` however close the
    prediction is to the target: it does not shrink near the optimum, so with a fixed learning
    rate the predictions keep oscillating around the target instead of settling.

    **Instead**, when that matters, use Huber (quadratic near zero) or log-cosh.

    Before::

        def mae(y_true, y_pred):
            return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)

    After::

        def huber(y_true, y_pred):
            return keras.losses.huber(y_true, y_pred, delta=1.0)
    """

    code = "BSG303"
    name = "kink-at-target"
    severity = "info"
    summary = "abs/maximum with its kink at zero error: the gradient does not shrink near the optimum"
    opt_in = True
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        op = ctx.op(node)
        if op is None or not op.args or op.name not in ABS_OPS:
            return
        if ctx.facts(op.args[0]).error and not _has_smooth_branch(ctx):
            ctx.report(self, node, f"`{code_of(node)}`: gradient magnitude stays 1 up to the target (MAE); "
                                   "consider Huber or log-cosh")


def _has_smooth_branch(ctx) -> bool:
    """Huber-style code (a where/minimum beside the abs) is smooth at the target."""
    return loss_calls_any(ctx, "smooth-branch", lambda op: op.name in WHERE_OPS or op.name in MINIMUM_OPS)


def _hand_written_relu(node: cst.BinaryOperation, ctx):
    """``0.5 * (x + abs(x))`` or ``(x + abs(x)) / 2``: relu(x), written by hand; returns ``x``."""
    if isinstance(node.operator, cst.Multiply):
        pairs = ((node.left, node.right), (node.right, node.left))
        halves = [inner for half, inner in pairs if ctx.facts(half).literal == 0.5]
    elif isinstance(node.operator, cst.Divide) and ctx.facts(node.right).literal == 2:
        halves = [node.left]
    else:
        return None
    for inner in halves:
        if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add):
            for plain, absolute in ((inner.left, inner.right), (inner.right, inner.left)):
                if isinstance(absolute, cst.Call):
                    op = ctx.op(absolute)
                    if op is not None and op.name in ABS_OPS and op.args and \
                            _text(op.args[0]) == _text(plain) != "":
                        return plain
    return None
