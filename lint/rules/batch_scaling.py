"""BSG501 batch-sum, BSG502 fixed-batch."""

from __future__ import annotations

import re

import libcst as cst

from ..losses import LOSS_CLASS_METHODS, named_like_a_loss
from ..names import calls_named, dotted_parts
from ..tree import own_nodes
from ._tape import keeps_batch_axis, last_binding, per_example_loss, per_example_nn_loss, tape_gradient_of
from ..train_steps import takes_input_gradients, tape_target
from ._util import assignments_to, code_of, literal_int, without_casts
from .base import Rule
from ..lazy_re import compile_lazily

_RESHAPE_OPS = frozenset({"reshape", "view"})
_SHAPED_MAKERS = frozenset({"zeros", "ones", "full", "fill", "empty", "normal", "uniform",
                            "random_normal", "random_uniform", "rand", "randn"})
_DIVIDE_OPS = frozenset({"divide", "true_divide", "truediv", "realdiv", "div"})
# one row per index: ``range(batch_size)``, ``eye(batch_size)``
_COUNTED_MAKERS = frozenset({"range", "arange", "eye"})
# ``tf.cast(batch_size, tf.float32)``: still the batch size
_BATCH_SIZE_CASTS = frozenset({"cast", "float", "to", "astype"})


class BatchSum(Rule):
    """The loss returns a sum over the batch axis, so it grows with the batch size.

    **Why it hurts training.** Keras expects a loss function to return one value per sample and
    averages them (``sum_over_batch_size``). A ``reduce_sum`` without an axis (or over axis 0)
    returns one number for the whole batch: the loss, and the gradient, scale with the batch
    size. Doubling the batch doubles the effective learning rate; the last, smaller batch of an
    epoch gets a smaller step; a batch-size search changes training dynamics. Sums over the last
    axes (``axis=-1``) are per-sample and fine, and a sum divided by the batch size or by a count
    is a mean. A ``keras.losses.Loss`` subclass that makes ``reduction="sum"`` its own default
    has Keras do the same sum over the batch, however per-sample its ``call`` is. A function that
    calls ``backward()`` on the value it returns (a gradient penalty stepping itself) is judged
    on that value the same way. A loss whose caller hands its value to TensorFlow's
    ``tape.gradient`` while it still holds one value per sample is summed there: the tape
    differentiates the sum of a non-scalar target.

    **Instead** reduce over the non-batch axes and let Keras average over the batch.

    Before::

        def sse(y_true, y_pred):
            return tf.reduce_sum(tf.square(y_true - y_pred))

    After::

        def sse(y_true, y_pred):
            return tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    """

    code = "BSG501"
    name = "batch-sum"
    severity = "warning"
    summary = "a sum over the batch axis returned as the loss: loss and gradient scale with batch size"
    checks_return = True
    node_types = (cst.Call,)

    def check_node(self, node, ctx) -> None:
        """``penalty.backward()`` in the loss: what it backpropagates itself is its objective."""
        if self._added_per_sample(node, ctx):
            return
        target = _backpropagated(node)
        train_step = ctx.loss.kind == "train-step" and not takes_input_gradients(ctx.loss.node)
        if target is None and train_step and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value == "gradient":
            target = tape_target(node)  # tape.gradient(loss, weights) in a train step
        if target is None or not (_returned_name(target, ctx) or train_step):
            return  # scores.sum().backward() for an input gradient (saliency, FGSM): not the objective
        made = last_binding(target, ctx) if isinstance(target, cst.Name) else None
        if train_step and node.func.attr.value == "gradient" and per_example_nn_loss(made or target, ctx):
            # tape.gradient(per_example_loss, weights) in a train step: the tape differentiates their sum
            # (tf.nn's per-example losses only: a Keras per-sample loss of 1-D values is one number)
            self._report_per_sample(made or target, node, "BSG501/tape", ctx, "still holds",
                                    "which differentiates their sum: the gradient grows with the batch size; "
                                    "take its mean (reduce_mean)")
            return
        batch_sum = ctx.facts(target).batch_sum
        # under ``if backward:`` too: a sum assigned under an option branch has no batch_sum, and
        # one made in this very call (``if reduction == "sum": x.sum().backward()``) is the option
        if batch_sum is None or (ctx.in_config_branch and any(n is batch_sum for n in own_nodes(target))):
            return
        ctx.report_once(self, batch_sum, key="BSG501/returned", more="batch sums returned",
                        message=f"`{code_of(batch_sum)}` {_what_it_does(batch_sum, ctx)} and is backpropagated as the "
                                "loss: it and its gradient grow with the batch size; take the mean")

    def check_return(self, value, ctx) -> None:
        summing = _summing_default(ctx)
        if summing is not None and not ctx.facts(value).no_batch_axis:  # summing one scalar changes nothing
            node, text = summing
            ctx.report_once(self, node, key="BSG501/reduction", more="",
                            message=f"`{text}` makes this Loss class sum its per-sample values over "
                                    "the batch by default: the loss grows with the batch size; keep Keras's "
                                    "default reduction (\"sum_over_batch_size\")")
        if ctx.in_config_branch or ctx.index.optimises_one_image() or ctx.per_example:
            # ``if reduction == "sum": return x.sum()``: the user's explicit option; a style
            # transfer's losses of the one image it optimises, a loss mapped over the examples
            # (``vmap(grad(loss_of_one))``): no batch
            return
        if isinstance(value, cst.Tuple) and len(value.elements) >= 2 and not ctx.loss.keras_signature:
            ctx.__dict__["_returned_first"] = code_of(value.elements[0].value, 1000)
            first = value.elements[0].value
            # the total's own name returned again (``return loss, loss``) is not one of its terms
            terms = _names_feeding(first, ctx) - ({first.value} if isinstance(first, cst.Name) else set())
            beside = [e.value for e in value.elements[1:] if _another_summed_loss(e.value, ctx)]
            if any(_could_normalise(e.value, ctx) for e in value.elements[1:]
                   if not (isinstance(e.value, cst.Name) and e.value.value in terms)
                   and not _a_score_beside_the_loss(e.value, ctx) and not any(e.value is b for b in beside)):
                # return loss, num_pos, weight_sum: which element is the loss is the caller's business;
                # return recon + kld, recon, kld: the extra elements are the total's own terms
                return
            value = value.elements[0].value  # return loss, centers_update_op: nothing to divide the loss by
        else:
            beside = []
        batch_sum = ctx.facts(value).batch_sum
        if batch_sum is None:
            self._summed_by_the_tape(value, ctx)
            return
        if _every_caller_normalises(ctx):
            return
        message = (f"`{code_of(batch_sum)}` {_what_it_does(batch_sum, ctx)} and is returned as the loss: "
                   f"it grows with the batch size; {_instead(batch_sum, ctx)}")
        ctx.report_once(self, batch_sum, key="BSG501/returned", more="batch sums returned", message=message)
        others = [o for term in (value, *beside) for o in _terms_batch_sums(term, ctx)]
        others += [ctx.facts(term).batch_sum for term in beside]  # return loss_a, loss_b: each a place
        for other in others:  # mae + distort: each term's sum is a place of the cause
            if other is not batch_sum:
                ctx.report_once(self, other, key="BSG501/returned", more="batch sums returned", message=message)
        if code_of(batch_sum, 400) not in code_of(value, 400):
            ctx.relate("BSG501/returned", value)  # the return that makes a sum computed above the loss
        construction = _criterion_construction(batch_sum, ctx)
        if construction is not None:
            ctx.relate("BSG501/returned", construction)  # where reduction="sum" was chosen

    def _report_per_sample(self, place, summing: cst.Call, key: str, ctx, holds: str, consequence: str) -> None:
        """One finding at ``place``, a value with one entry per sample that ``summing`` (a
        ``tape.gradient``, an ``add_loss``) sums: what it does to it, and what to do instead."""
        ctx.report_once(self, place, key=key, more="",
                        message=f"`{code_of(place)}` {holds} one value per sample and goes to "
                                f"`{code_of(summing.func)}`, {consequence}")

    def _added_per_sample(self, node, ctx) -> bool:
        """``self.add_loss(ctc_batch_cost(...))``: Keras sums what ``add_loss`` is given (Keras 3's
        ``_aggregate_additional_loss`` is ``ops.sum``; tf.keras adds it to the total and the tape
        differentiates the sum), so one value per sample makes the loss grow with the batch."""
        if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "add_loss" and node.args
                and node.args[0].keyword is None):
            return False
        added = node.args[0].value
        if ctx.in_config_branch or not per_example_loss(added, ctx) or not keeps_batch_axis(added, ctx):
            return True
        made = last_binding(added, ctx) if isinstance(added, cst.Name) else None
        self._report_per_sample(made or added, node, "BSG501/added", ctx, "holds",
                                "which sums it: the loss and its gradient grow with the batch size; "
                                "add its mean (reduce_mean)")
        if made is not None:
            ctx.relate("BSG501/added", node)
        return True

    def _summed_by_the_tape(self, value, ctx) -> None:
        """``return tf.maximum(ap - an + margin, 0.0)`` fed to ``tape.gradient`` by its caller: the
        tape differentiates the sum of the per-sample values."""
        if ctx.loss.keras_signature and ctx.loss.kind in ("compile", "factory"):
            return  # compiled: Keras averages what it returns
        gradient = tape_gradient_of(ctx)
        if gradient is None or not keeps_batch_axis(value, ctx):
            return
        made = last_binding(value, ctx) if isinstance(value, cst.Name) else None
        self._report_per_sample(made or value, gradient, "BSG501/tape", ctx, "still holds",
                                "which differentiates their sum: the gradient grows with the batch size; "
                                "return its mean (reduce_mean)")
        if made is not None:
            ctx.relate("BSG501/tape", value)  # return loss: the place it leaves the loss
        ctx.relate("BSG501/tape", gradient)


# ops that update a variable in place (TF 1 style): what they return is the update, not a number
_STATE_UPDATES = frozenset({"assign", "assign_add", "assign_sub", "scatter_sub", "scatter_add", "scatter_update",
                            "scatter_nd_update", "scatter_nd_add", "scatter_nd_sub"})


# a variable the loss keeps (``centers = tf.get_variable(...)``): a table returned for inspection,
# not a count to divide the loss by
_VARIABLE_MAKERS = frozenset({"get_variable", "Variable"})


def _could_normalise(node, ctx, seen: frozenset = frozenset()) -> bool:
    """Whether a value returned beside the loss could be what the caller divides it by (a count, a
    weight sum, an unknown value, a dict carrying a tensor) -- not a dict of the loss alone, a
    string, None or a variable's update op. A name counts by the bindings that can reach the
    return: the last one at the top level of the function and any made after it in a branch."""
    if isinstance(node, cst.Name) and node.value != "None":
        if node.value in seen:
            return True  # avg_factor = avg_factor: nothing new, assume the caller may use it
        values = _reaching_bindings(node.value, ctx)
        return not values or any(_could_normalise(v, ctx, seen | {node.value}) for v in values)
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) \
            or (isinstance(node, cst.Name) and node.value == "None"):
        return False
    if isinstance(node, cst.Dict):  # {"num_pos": num_pos} may be divided by; {"l2": loss} is the loss again
        returned = ctx.__dict__.get("_returned_first")
        return any(isinstance(e, cst.DictElement) and ctx.facts(e.value).is_tensor
                   and code_of(e.value, 1000) != returned for e in node.elements)
    if isinstance(node, cst.DictComp):
        return False
    if ctx.facts(node).network_output:
        return False  # return loss, model(x): the prediction handed back for metrics, not a count
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    return op is None or (op.name not in _STATE_UPDATES and op.name not in _VARIABLE_MAKERS)


def _a_score_beside_the_loss(node, ctx) -> bool:
    """``return loss.sum(), dice.sum()`` from a function named as a loss, which a caller in the
    file takes as ``loss, _ = dice_loss(...)``: the second value, which carries the prediction's
    gradient, is a score reported beside the loss, not a count to divide it by (those are data,
    without gradient), and the caller says the first element is the loss on its own. (Sums a
    caller keeps together, ``TP, FP, TN, FN = ...``, are parts of one ratio: not reported.)"""
    info = ctx.loss.info
    return info is not None and named_like_a_loss(info.name) and ctx.facts(node).has_grad \
        and ctx.facts(node).batch_sum is not None and _first_element_kept_alone(info.name, ctx)


def _another_summed_loss(node, ctx) -> bool:
    """``return loss_dark, loss_bright, loss_sum``: a value named as a loss that carries the
    prediction's gradient and sums the batch itself is one more loss returned beside the first (a
    term, or their total), not a count the caller divides by."""
    facts = ctx.facts(node)
    return isinstance(node, cst.Name) and named_like_a_loss(node.value) and facts.has_grad \
        and facts.batch_sum is not None


def _first_element_kept_alone(name: str, ctx) -> bool:
    """Some function of the file unpacks a call of ``name`` keeping only its first element
    (``dlv, _ = dice_loss(p, t)``)."""
    for caller in ctx.index.functions:
        for node in own_nodes(caller.node):
            if not (isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and len(node.targets) == 1):
                continue
            target, func = node.targets[0].target, node.value.func
            called = func.value if isinstance(func, cst.Name) else func.attr.value \
                if isinstance(func, cst.Attribute) else None
            if called == name and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) >= 2 \
                    and isinstance(target.elements[0].value, cst.Name) \
                    and all(isinstance(e.value, cst.Name) and e.value.value == "_" for e in target.elements[1:]) \
                    and not _divisors(caller.node, target.elements[0].value.value):
                return True  # (a caller that divides what it keeps normalises it)
    return False


def _what_it_does(batch_sum, ctx) -> str:
    """"sums over the batch axis", or for ``norm(x)`` with no axis what that is."""
    if isinstance(batch_sum, (cst.AugAssign, cst.Assign)):
        return "adds one term per sample in a loop over the batch"
    return "is a norm over the whole batch" if _a_norm(batch_sum, ctx) else "sums over the batch axis"


def _instead(batch_sum, ctx) -> str:
    """What to do instead: a per-sample norm, or a reduction over the sample's own axes."""
    if isinstance(batch_sum, (cst.AugAssign, cst.Assign)):
        return "divide the total by the batch size after the loop (or average the terms)"
    if _a_norm(batch_sum, ctx):
        return "take each sample's norm (axis=-1) and average over the batch"
    return "reduce over axis=-1 (or take the mean)"


def _a_norm(node, ctx) -> bool:
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    return op is not None and op.name in ("norm", "vector_norm")


def _names_feeding(node, ctx) -> set[str]:
    """The names whose values are added (or scaled) into an expression, followed through the
    function's assignments to them: ``loss`` after ``loss = recon + beta * kld`` -> ``{loss, recon,
    beta, kld}``, also through a reduction of the total (``loss = (recon + kld).sum()``); not the
    arguments of another call (``self.criterion(student, teacher)``)."""
    names: set[str] = set()
    pending = [node]
    while pending:
        node = pending.pop()
        op = ctx.op(node) if isinstance(node, cst.Call) else None
        if op is not None and op.name in ("sum", "mean", "reduce_sum", "reduce_mean") and op.args:
            pending.append(op.args[0])  # (w * mse + kld).sum(): the total of its terms
        elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract, cst.Multiply)):
            pending.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            pending.append(node.expression)
        elif isinstance(node, cst.Name) and node.value not in names:
            names.add(node.value)
            pending.extend(_reaching_bindings(node.value, ctx))
    return names


def _reaching_bindings(name: str, ctx) -> list:
    """The values bound to ``name`` that can reach the end of the function: the last binding made
    by a top-level statement, and every binding after it (in branches)."""
    top_level = {id(s.body[0]) for s in ctx.loss.node.body.body
                 if isinstance(s, cst.SimpleStatementLine) and s.body and isinstance(s.body[0], cst.Assign)}
    bindings = [(n.value, id(n) in top_level) for n in assignments_to(name, ctx)]
    last_top = max((i for i, (_, top) in enumerate(bindings) if top), default=0)
    return [value for value, _ in bindings[last_top:]]


def _criterion_construction(batch_sum, ctx):
    """``(__init__, call)`` of ``self.kl = nn.KLDivLoss(reduction="sum")`` when the batch sum is a
    call of that criterion (``self.kl(p, q)``); None otherwise."""
    info = ctx.loss.info
    if info is None or info.class_info is None or not isinstance(batch_sum, cst.Call) \
            or not isinstance(batch_sum.func, cst.Attribute) or not isinstance(batch_sum.func.value, cst.Name) \
            or batch_sum.func.value.value != "self":
        return None
    init = info.class_info.methods.get("__init__")
    if init is None:
        return None
    for attr, _name, call in info.class_info._init_constructions():
        if attr == batch_sum.func.attr.value:
            return (init.node, call)
    return None


class FixedBatch(Rule):
    """A literal batch size -- or one fixed by configuration (``self.batch_size`` from the
    constructor, a ``batch_size=128`` argument) -- baked into a reshape, a slice, a freshly built
    tensor, ``range``/``eye`` or a division.

    **Why it hurts training.** The loss only works at that one batch size: the last partial
    batch of an epoch, ``predict`` with another batch size, a distributed split or a batch-size
    guard that shrinks the batch all fail with a shape error -- or, for a division, silently
    scale the loss wrongly.

    **Instead** take the batch size from the tensor (``keras.ops.shape(y_pred)[0]``), use ``-1``
    in reshapes, and average with ``mean``.

    Before::

        BATCH_SIZE = 32

        def loss(y_true, y_pred):
            flat = tf.reshape(y_pred, (BATCH_SIZE, -1))
            return tf.reduce_sum(tf.square(flat)) / BATCH_SIZE

    After::

        def loss(y_true, y_pred):
            flat = tf.reshape(y_pred, (-1, tf.shape(y_pred)[-1]))
            return tf.reduce_mean(tf.square(flat), axis=-1)
    """

    code = "BSG502"
    name = "fixed-batch"
    severity = "warning"
    summary = "a literal or configured batch size baked into reshape/slicing/range/division"
    node_types = (cst.Call, cst.Subscript, cst.BinaryOperation)

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Divide):
                self._division(node, node.left, node.right, ctx)
            return
        if isinstance(node, cst.Subscript):
            self._slice(node, ctx)
            return
        op = ctx.op(node)
        if op is None or not (op.args or op.kwargs):
            return
        if op.name in _RESHAPE_OPS and op.args:
            first_dim = _first_dimension(op, ctx, method_varargs=op.is_method)
            if first_dim is not None and ctx.facts(op.args[0]).is_tensor:
                value = literal_int(ctx, first_dim)
                facts = ctx.facts(first_dim)
                reshapes_input = isinstance(op.args[0], cst.Name) and op.args[0].value in ctx.loss.param_taints
                if _is_known_batch(first_dim, ctx) or (reshapes_input and value is not None and value >= 2
                                                       and not facts.shape):
                    ctx.report(self, node, f"`{code_of(node)}` fixes the batch size to {value}: "
                                           "use -1 or the tensor's own shape")
                elif configured := _configured_batch(first_dim, ctx):
                    _report_configured(self, node, configured, ctx, f"`{code_of(node)}` fixes the batch size to the configured "
                                       f"`{configured}`: a last partial batch breaks it; use -1 or the tensor's own shape")
        elif op.name in _SHAPED_MAKERS and not op.is_method:
            first_dim = _first_dimension(op, ctx, method_varargs=False, position=0)
            if first_dim is not None and _is_known_batch(first_dim, ctx):
                ctx.report(self, node, f"`{code_of(node)}` builds a tensor with a fixed batch size: "
                                       "take the batch size from the inputs")
            elif first_dim is not None and (configured := _configured_batch(first_dim, ctx)):
                _report_configured(self, node, configured, ctx, f"`{code_of(node)}` builds a tensor sized by the "
                                   f"configured `{configured}`: a last partial batch breaks it; take the batch size from the inputs")
        elif op.name in _COUNTED_MAKERS and not op.is_method and op.args \
                and (configured := _configured_batch(op.args[0], ctx)):
            _report_configured(self, node, configured, ctx, f"`{code_of(node)}` counts the configured `{configured}` "
                               "rows, not the batch that came: a last partial batch breaks it; take the size from the inputs")
        elif op.name in _DIVIDE_OPS and len(op.args) >= 2:
            self._division(node, op.args[0], op.args[1], ctx)

    def _division(self, node, numerator, denominator, ctx) -> None:
        if not ctx.facts(numerator).is_tensor:
            return
        if _mentions_known_batch(denominator, ctx):
            ctx.report(self, node, f"`{code_of(node)}` divides by a fixed batch size: "
                                   "wrong for every other batch size (use mean)")
        elif (configured := _configured_batch(without_casts(denominator, ctx, _BATCH_SIZE_CASTS), ctx)) \
                and not _required_parameter(configured, ctx):
            # (a required ``batch_size`` argument may well be the batch the caller measured)
            _report_configured(self, node, configured, ctx, f"`{code_of(node)}` divides by the configured "
                               f"`{configured}`: wrong for a last partial batch (use mean, or the tensor's own shape)")

    def _slice(self, node, ctx) -> None:
        if not ctx.facts(node.value).is_tensor or not node.slice:
            return
        first = node.slice[0].slice
        if isinstance(first, cst.Slice):
            for bound in (first.lower, first.upper):
                if bound is not None and _is_known_batch(bound, ctx):
                    ctx.report(self, node, f"`{code_of(node)}` slices the batch axis at a fixed batch size")
                    return


def _every_caller_normalises(ctx) -> bool:
    """A private loss or helper whose every call in the file divides what it returns
    (``cls_sum = self._focal_loss(p, t)`` then ``cls_sum / num_pos``), or hands it back beside
    other values (``return cls_sum, num_pos``, for the caller to divide): the sum is the numerator
    of a normalised loss, not a loss that grows with the batch. A function is judged by the file's
    calls of it (with none, it is reported); a method by its class's calls of it.

        >>> import libcst as cst
        >>> caller = cst.parse_statement("def f(p, t):\\n    s = self._focal(p, t)\\n    return s / t.sum()\\n")
        >>> _normalised_calls(caller, "_focal", method=True)
        (1, True)
    """
    info = ctx.loss.info
    if info is not None and ctx.loss.kind == "autograd" and info.class_info is not None:
        # an autograd Function's forward runs as ``HuberSum.apply(p, t)``: judged by those calls
        calls, all_normalised = 0, True
        for caller in ctx.index.functions:
            if caller.class_info is not info.class_info:
                count, normalised = _normalised_calls(caller.node, info.class_info.name, "apply")
                calls += count
                all_normalised = all_normalised and normalised
        return calls > 0 and all_normalised
    # a method of a class is called through its object: the class's own methods are its callers
    # (not forward/call/__call__: calling the object runs them, from anywhere)
    # a module-level function, public or not: judged by the file's own calls of it (a function no
    # call in the file normalises, or that nothing in the file calls, is still reported)
    inner_method = info is not None and info.class_info is not None and info.name not in LOSS_CLASS_METHODS
    if info is None or not (ctx.loss.kind == "helper" or info.name.startswith("_") or inner_method
                            or info.class_info is None):
        return False
    calls, all_normalised = 0, True
    method = info.class_info is not None
    for caller in ctx.index.functions:
        if caller.node is ctx.loss.node or (method and caller.class_info is not info.class_info):
            continue  # self._focal_loss(...) of another class is another function
        count, normalised = _normalised_calls(caller.node, info.name, method)
        calls += count
        all_normalised = all_normalised and normalised
    if info.class_info is None and not info.name.startswith("_") and ctx.loss.kind != "helper" \
            and ctx.index.references(info.name) != calls + 1:
        return False  # a public loss also passed as a value (``compile(loss=sse)``): used as it is
    return calls > 0 and all_normalised


def _accumulators(function, names: set[str]) -> set[str]:
    """Names that add up ``names`` (``total = cls + total``, ``total += cls``): they carry the sum on."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in own_nodes(function):
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                target, value = node.targets[0].target.value, node.value
            elif isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign) \
                    and isinstance(node.target, cst.Name):
                target, value = node.target.value, node.value
            else:
                continue
            if target not in names | found and _added_terms(value) & (names | found):
                found.add(target)
                changed = True
    return found


def _added_terms(node) -> set[str]:
    """The names added up in ``a + b + c`` (or the one name ``a``)."""
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _added_terms(node.left) | _added_terms(node.right)
    return set()


def _normalised_calls(function, name: str, method: bool) -> tuple[int, bool]:
    """How many calls of ``name`` ``function`` makes, and whether each one's result is divided by
    something other than a number (``call / n``, or through the one name it is assigned or added
    to, or a running total of it: ``s / n``, ``s /= n``), or returned beside a normaliser
    (``return s, num_pos``, ``return s, weight_sum``: the caller divides)."""
    calls, results = 0, []
    for node in own_nodes(function):
        if calls_named(node, name, method):
            calls += 1
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                and calls_named(node.left, name, method):
            results.append(None if _is_number(node.right) else "")
        elif isinstance(node, cst.Assign) and calls_named(node.value, name, method) and len(node.targets) == 1 \
                and isinstance(node.targets[0].target, cst.Name):
            results.append(node.targets[0].target.value)
        elif isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign) \
                and isinstance(node.target, cst.Name) and calls_named(node.value, name, method):
            # total += self._chunk_sum(...): a running total of it, divided by a count of tokens
            # (not by len(self.scales): a mean over levels still sums each level's batch)
            results.append(node.target.value if _divided_by_a_count(function, node.target.value) else None)
    if calls == 0:
        return 0, True
    if len(results) != calls or None in results:
        return calls, False  # a call whose result is used otherwise, or divided by a number
    return calls, all(stored == "" or _normalised_name(function, stored) for stored in results)


def _divisors(function, name: str) -> list:
    """What ``function`` divides ``name`` by (``name / n``, ``name /= n``)."""
    return [node.right for node in own_nodes(function) if isinstance(node, cst.BinaryOperation)
            and isinstance(node.operator, cst.Divide) and isinstance(node.left, cst.Name) and node.left.value == name] \
        + [node.value for node in own_nodes(function) if isinstance(node, cst.AugAssign)
           and isinstance(node.operator, cst.DivideAssign) and isinstance(node.target, cst.Name)
           and node.target.value == name]


def _divided_by_a_count(function, name: str) -> bool:
    """Every division of ``name`` in ``function`` is by something other than ``len(...)``."""
    divisors = _divisors(function, name)
    return all(not any(isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value == "len"
                       for n in own_nodes(d)) for d in divisors)


def _normalised_name(function, stored: str) -> bool:
    names = {stored} | _accumulators(function, {stored})
    for node in own_nodes(function):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                and isinstance(node.left, cst.Name) and node.left.value in names and not _is_number(node.right):
            return True
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.DivideAssign) \
                and isinstance(node.target, cst.Name) and node.target.value in names and not _is_number(node.value):
            return True
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Tuple) and len(node.value.elements) >= 2:
            elements = [e.value for e in node.value.elements]
            if any(isinstance(e, cst.Name) and e.value in names for e in elements) and any(
                    isinstance(e, cst.Name) and e.value not in names and _NORMALISER_NAME.search(e.value)
                    for e in elements):
                return True
    return False


# what a loss hands back beside its sum for the caller to divide by
_NORMALISER_NAME = compile_lazily(r"(^|_)(num|n|count|counts|norm|normali[sz]er|sum|size|total|weight|weights|"
                                  r"denominator|den|avg_factor)(_|$)", re.IGNORECASE)


def _is_number(node) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def _first_dimension(op, ctx, method_varargs: bool, position: int = 1):
    shape = op.arg(position, "shape", "newshape", "size")
    if shape is None:
        return None
    while isinstance(shape, cst.BinaryOperation) and isinstance(shape.operator, cst.Add) \
            and isinstance(shape.left, (cst.Tuple, cst.List, cst.BinaryOperation)):
        shape = shape.left  # [self.batch_size] + self.leading_shapes + [n]: the first list leads
    if isinstance(shape, (cst.Tuple, cst.List)):
        return shape.elements[0].value if shape.elements else None
    if method_varargs and len(op.args) > 2:
        return op.args[1]
    return None


def _required_parameter(name: str, ctx) -> bool:
    """A parameter of the loss without a default value."""
    node = ctx.loss.node
    params = getattr(node, "params", None)
    if params is None:
        return False
    return any(p.name.value == name and p.default is None
               for p in (*params.posonly_params, *params.params, *params.kwonly_params))


def _report_configured(rule, node, configured: str, ctx, message: str) -> None:
    """One finding per configured batch size in a loss; its other uses are named with it."""
    ctx.report_once(rule, node, key=f"BSG502:{configured}", more=f"uses of `{configured}`", message=message)
    fixed = [statement for statement in assignments_to(configured, ctx) if _is_number(statement.value)]
    if fixed:  # batch_size = 32 in the loss: where it is fixed
        ctx.relate(f"BSG502:{configured}", fixed[0])


def _configured_batch(node, ctx) -> str | None:
    """The text of a configured batch size (a ``batch_size`` parameter, ``self.batch_size``, a
    global) that ``node`` is or is computed from; None when it is read from a tensor."""
    for term in _arithmetic_terms(node):
        if isinstance(term, (cst.Name, cst.Attribute)) and ctx.facts(term).configured_batch:
            return code_of(term)
    return None


def _arithmetic_terms(node):
    """``node`` and, through ``+ - * / **`` and unary signs, every operand it is computed from."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (cst.BinaryOperation, cst.UnaryOperation)):
            stack.extend(n for n in (getattr(current, "left", None), getattr(current, "right", None),
                                     getattr(current, "expression", None)) if n is not None)


def _is_known_batch(node, ctx) -> bool:
    facts = ctx.facts(node)
    if facts.batch_constant:
        return True
    value = literal_int(ctx, node)
    return value is not None and value >= 2 and value in ctx.evaluator.batch_literals and not facts.taint


def _mentions_known_batch(node, ctx) -> bool:
    """The value is, or is computed from, a fixed batch size (``BATCH``, ``(batchsize - 1) ** 2``)."""
    if _is_known_batch(node, ctx):
        return True
    return any(isinstance(term, cst.Name) and ctx.facts(term).batch_constant for term in _arithmetic_terms(node))


def _is_sum_reduction(value) -> bool:
    """``"sum"`` or ``Reduction.SUM`` (not ``"sum_over_batch_size"``)."""
    if isinstance(value, cst.SimpleString):
        return value.evaluated_value == "sum"
    return isinstance(value, cst.Attribute) and value.attr.value == "SUM"


def _summing_default(ctx):
    """Where a Keras ``Loss`` subclass makes ``reduction="sum"`` its own default, in its
    ``__init__``: ``super().__init__(reduction="sum")``, ``kwargs["reduction"] = "sum"``, or a
    ``reduction="sum"`` parameter default passed on to the base class. The per-sample values
    ``call`` returns are then summed over the batch by Keras itself. Returns ``(node, text)``."""
    info = ctx.loss.info
    if info is None or info.class_info is None or info.name != "call":
        return None
    if not any((dotted_parts(base) or ("",))[-1].endswith("Loss") for base in info.class_info.bases):
        return None
    init = info.class_info.methods.get("__init__")
    if init is None:
        return None
    base_inits = [node for node in own_nodes(init.node) if isinstance(node, cst.Call)
                  and isinstance(node.func, cst.Attribute) and node.func.attr.value == "__init__"]
    passed = {arg.value.value for call in base_inits for arg in call.args
              if isinstance(arg.value, cst.Name) and (arg.keyword is None or arg.keyword.value == "reduction")}
    for param in (*init.node.params.params, *init.node.params.kwonly_params):
        if param.name.value == "reduction" and param.default is not None and _is_sum_reduction(param.default) \
                and "reduction" in passed:
            return param, f"reduction={code_of(param.default)}"
    for call in base_inits:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "reduction" and _is_sum_reduction(arg.value):
                return arg, f"reduction={code_of(arg.value)}"
    for node in own_nodes(init.node):
        if isinstance(node, cst.Assign) and _is_sum_reduction(node.value) and any(
                isinstance(t.target, cst.Subscript) and "reduction" in code_of(t.target) for t in node.targets):
            return node, code_of(node)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "setdefault" \
                and len(node.args) == 2 and "reduction" in code_of(node.args[0].value) \
                and _is_sum_reduction(node.args[1].value):
            return node, code_of(node)
    return None


def _terms_batch_sums(value, ctx) -> list:
    """The batch sums carried by the terms of a returned sum or product (``a.sum() + w * b.sum()``),
    also through names assigned once in the loss and ``add``/``subtract``/``maximum`` calls
    (``loss = maximum(add(subtract(pos_dist, neg_dist), a), 0)``)."""
    found, stack, seen = [], [value], set()
    single = _single_assignments(ctx.loss.node)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract, cst.Multiply)):
            stack.extend((node.right, node.left))
            continue
        if isinstance(node, cst.Name) and node.value in single:
            stack.append(single[node.value])
            continue
        if isinstance(node, cst.Call):
            op = ctx.op(node)
            if op is not None and op.name in _TERM_OPS and (
                    op.name not in _REDUCE_TERM_OPS or (op.args and ctx.facts(op.args[0]).batch_sum is not None)):
                stack.extend(reversed(op.args))
                continue
        batch_sum = ctx.facts(node).batch_sum
        if batch_sum is not None and all(batch_sum is not seen for seen in found):
            found.append(batch_sum)
    return found


# calls whose result carries each argument's batch sum as a term (a sum or mean of a batch-summed
# scalar is that sum again)
_TERM_OPS = frozenset({"add", "subtract", "sub", "multiply", "mul", "maximum", "minimum", "add_n",
                       "sum", "reduce_sum", "mean", "reduce_mean"})
_REDUCE_TERM_OPS = frozenset({"sum", "reduce_sum", "mean", "reduce_mean"})


def _single_assignments(function) -> dict:
    """``name -> value`` for the names the function assigns exactly once, to one target."""
    values, counts = {}, {}
    for node in own_nodes(function):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    name = target.target.value
                    counts[name] = counts.get(name, 0) + 1
                    values[name] = node.value if len(node.targets) == 1 else None
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name):
            counts[node.target.value] = counts.get(node.target.value, 0) + 2
    return {name: value for name, value in values.items() if counts[name] == 1 and value is not None}


def _backpropagated(node: cst.Call):
    """What ``x.backward(...)`` or ``torch.autograd.backward(x)`` backpropagates, else None."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "backward"):
        return None
    if isinstance(func.value, cst.Attribute) and func.value.attr.value == "autograd":
        return node.args[0].value if node.args else None
    value = func.value
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "scale" \
            and len(value.args) == 1:
        return value.args[0].value  # scaler.scale(loss).backward(): AMP backpropagates the loss, scaled
    return value


def _returned_name(target, ctx) -> bool:
    """``target`` is a name the loss also returns (``return penalty.item()``): the value it
    backpropagates is the one it reports as its loss."""
    if not isinstance(target, cst.Name):
        return False
    return any(isinstance(node, cst.Name) and node.value == target.value
               for ret in own_nodes(ctx.loss.node) if isinstance(ret, cst.Return) and ret.value is not None
               for node in own_nodes(ret.value))
