"""BSG401 exp-blowup, BSG402 unguarded-log."""

from __future__ import annotations

import re

import libcst as cst

from ..facts import (
    MAXIMUM_OPS,
    MINIMUM_OPS,
    ARRAY_MODULES,
    DISTANCE_OPS,
    EXP_OPS,
    LOG_OPS,
    MAX_REDUCE_OPS,
    MEAN_OPS,
    MIN_REDUCE_OPS,
    NONNEG_LOSS_FUNCTIONS,
    REGROUPING_OPS,
    NORM_OPS,
    PRED,
    SIZE_OPS,
    SQRT_OPS,
    SUM_OPS,
    TENSOR,
    TRUE,
    _nonnegative,
    _same_text,
    _text,
)
from ..names import called_name
from ..tree import children as _children
from ..tree import all_nodes, contains, own_nodes, own_nodes_in_order
from ..vocabulary import name_tokens
from ._util import assignments_to, code_of, torch_only, without_casts
from .base import Rule
from ..lazy_re import compile_lazily

_DIVIDE_OPS = frozenset({"divide", "true_divide", "truediv", "realdiv", "div"})
_NORM_OPS = frozenset({"norm", "euclidean_norm", "vector_norm", "reduce_euclidean_norm"})
# arccos/arcsin: derivative -/+1 / sqrt(1 - x^2), infinite at |x| = 1 (ArcFace's angle of a cosine)
_ARC_OPS = frozenset({"acos", "arccos", "asin", "arcsin"})
_POW_OPS = frozenset({"pow", "power", "float_power"})


class ExpBlowup(Rule):
    """``exp`` (or ``pow``, ``cosh``, ``sinh``) of an unbounded, scaled argument.

    **Why it hurts training.** ``exp`` overflows float32 once its argument passes about 88
    (float16: about 11). ``exp(10 * err)`` gets there as soon as one error reaches 8.8; the loss
    becomes ``inf``, its gradient ``nan``, and one bad batch poisons every weight. The same holds
    for a softmax or log-sum-exp written by hand (``exp(x) / sum(exp(x))``,
    ``log(sum(exp(x)))``), for ``log(1 + exp(x))`` and ``log(cosh(x))`` written by hand, and for a
    power with a tensor exponent.
    Arguments that are bounded (``tanh``, ``sigmoid``, a ``clip``, cosine similarities), never
    positive (``-square(d)``), or shifted by their maximum (``x - max(x)``) are not reported;
    nor is a plain ``exp`` of a derived quantity whose scale its author chose: a loss value
    (``exp(-ce)``), a log, a root, a norm or a distance (``exp(t * dist)``), what a helper named
    for a loss or a distance returns. The raw values a network emits (logits, log-variances, dot
    products of embeddings, a file's own ``similarity()``) and affine maps, products and powers of
    them are.

    **Instead** bound the argument (``clip``/``minimum``), or use the stable primitive:
    ``logsumexp``, ``softmax``/``log_softmax``, ``softplus``.

    Before::

        def exp_loss(y_true, y_pred):
            return tf.reduce_mean(tf.exp(10.0 * tf.abs(y_true - y_pred)), axis=-1)

    After::

        def exp_loss(y_true, y_pred):
            scaled = tf.minimum(10.0 * tf.abs(y_true - y_pred), 50.0)
            return tf.reduce_mean(tf.exp(scaled), axis=-1)
    """

    code = "BSG401"
    name = "exp-blowup"
    severity = "warning"
    summary = "exp/pow/cosh of an unbounded, scaled argument"
    node_types = (cst.Call, cst.BinaryOperation)

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Power):
                self._power(node, node.left, node.right, ctx)
            elif isinstance(node.operator, cst.Divide):
                self._softmax_by_hand(node, node.left, node.right, ctx)
            return
        op = ctx.op(node)
        if op is None or not op.args:
            return
        if op.name in EXP_OPS:
            if ctx.already_reported_within(self.code):
                return  # the enclosing log(1 + exp(...)) / log-sum-exp finding says it already
            argument = ctx.facts(op.args[0])
            if _power_by_log(op.args[0], ctx):
                return  # exp(alpha * log(x)) is x ** alpha: a host-number exponent does not grow
            if argument.has_grad and not argument.bounded and not argument.nonpos and not argument.capped \
                    and argument.scaled and not _derived_argument(op.args[0], ctx):
                ctx.report_once(self, node, key=f"{self.code}/exp/{_text_of(op.args[0])}", more="exps of it",
                                message=f"`{code_of(node)}` overflows once its scaled, unbounded argument passes ~88 "
                                        "(float32): clip the argument first")
        elif op.name in _POW_OPS and len(op.args) >= 2:
            self._power(node, op.args[0], op.args[1], ctx)
        elif op.name in LOG_OPS:
            self._log_of_exp(node, op.args[0], ctx)
        elif op.name == "log1p" and ctx.facts(op.args[0]).exp_node is not None:
            ctx.report(self, node, f"`{code_of(node)}` is softplus by hand: exp overflows for large inputs; "
                                   "use softplus")
        elif op.name in _DIVIDE_OPS and len(op.args) >= 2:
            self._softmax_by_hand(node, op.args[0], op.args[1], ctx)

    def _power(self, node, base, exponent, ctx) -> None:
        exponent_facts = ctx.facts(exponent)
        if PRED not in exponent_facts.taint or not exponent_facts.has_grad:
            return  # an exponent from the data or fixed weights (focal, MS-SSIM scales): it does not grow
        if exponent_facts.is_tensor and not exponent_facts.bounded and not exponent_facts.nonpos:
            base_facts = ctx.facts(base)
            if not base_facts.taint and base_facts.literal is not None and abs(base_facts.literal) <= 1:
                return
            ctx.report(self, node, f"`{code_of(node)}` raises to a tensor-valued, unbounded power: "
                                   "overflows like exp")

    def _log_of_exp(self, node, argument, ctx) -> None:
        facts = ctx.facts(argument)
        cosh = _unbounded_cosh(argument, ctx)
        if cosh is not None:
            stable = "x + softplus(-2 * x) - log(2)" + ("" if torch_only(ctx) else " (keras.losses.log_cosh)")
            ctx.report(self, node, f"`{code_of(node)}` is log-cosh by hand: cosh overflows once |x| passes ~89 "
                                   f"(float32); use {stable}", related=(cosh,))
            return
        if facts.exp_sum is not None:
            if ctx.reported_at(self.code, facts.exp_sum):
                return  # the exp it sums is reported already (its scaled argument): one cause, one finding
            ctx.report(self, node, f"`{code_of(node)}` is a log-sum-exp by hand: exp overflows for large inputs; "
                                   "use logsumexp", related=(facts.exp_sum,))
            return
        if isinstance(argument, cst.BinaryOperation) and isinstance(argument.operator, cst.Add):
            for side, other in ((argument.left, argument.right), (argument.right, argument.left)):
                if ctx.facts(side).exp_node is not None and ctx.facts(other).literal == 1:
                    ctx.report(self, node, f"`{code_of(node)}` overflows for large inputs: use softplus")
                    return

    def _softmax_by_hand(self, node, numerator, denominator, ctx) -> None:
        exp_node = ctx.facts(numerator).exp_node
        if exp_node is not None and ctx.facts(denominator).exp_sum:
            # one cause: the exps of the same argument (the denominator's) are its other places
            exp_op = ctx.op(exp_node) if isinstance(exp_node, cst.Call) else None
            key = f"{self.code}/exp/{_text_of(exp_op.args[0])}" if exp_op is not None and exp_op.args \
                else f"{self.code}/softmax/{id(exp_node)}"
            ctx.report_once(self, exp_node, key=key, more="exps of it",
                            message=f"`{code_of(exp_node)}` feeds a softmax written by hand "
                                    f"(`{code_of(node, 40)}`): exp overflows for large logits; "
                                    "use softmax (or subtract the max first)")


class UnguardedLog(Rule):
    """``log``, ``sqrt`` or a division of a value that can reach zero, with no clip or epsilon.

    **Why it hurts training.** ``log(0)`` is ``-inf``; ``sqrt`` has an infinite gradient at 0
    (so ``sqrt(sum(square(d)))`` gives ``nan`` gradients exactly when a distance is zero); a
    denominator that can be 0 in some batch (a sum of labels, a count of valid entries, a norm)
    gives ``inf``/``nan``. One such sample makes the whole batch's gradient ``nan``.
    ``log(softmax(x))`` and ``log(sigmoid(x))`` underflow to ``log(0)`` for confident logits.
    A power below 1 of an error (``pow(d, 0.5)``, ``pow(square(d), 0.625)``) is a square root in
    disguise. ``acos``/``asin`` have an infinite derivative at -1 and 1, where a cosine of aligned vectors
    lands (ArcFace's angle): clip it strictly inside (-1, 1) first.

    Values clipped earlier in the function (``y_pred = clip(y_pred, eps, 1 - eps)``, or in place:
    ``p.clamp_min_(eps)``, ``p[p == 0] = eps``),
    ``maximum(x, eps)``, ``x + eps``/``x + smooth``, ``exp(...)``, values tested nonzero by an
    enclosing ``if`` (``if w.sum() > 0:``) and shapes or counts taken from shapes are guarded and
    not reported; nor are divisions by values of the data that carry no gradient from the
    prediction (``mask.sum()``, the number of labelled tokens, a sum of sample weights, an image
    size), except the raw target itself (``(y_true - y_pred) / y_true``, MAPE's division by zero;
    ``probs * log(target)``, whose -inf at a zero target multiplies the prediction and so is its
    gradient) and counts of positive pairs, which a batch of all-different labels makes 0, or of the
    entries a condition selected (``float(events.nonzero().size(0))``, ``count_nonzero(mask)``: 0 in
    an all-censored batch), unless the loss tests that count. Nor is a division by the length of an
    embedding (``emb / norm(emb)``, the ``norm(a) * norm(b)`` of a cosine): the length of a value that
    is neither a difference nor computed with the target is 0 only for an all-zero vector. Values
    that reach neither the returned loss nor a gradient (a ratio kept for logging) are not reported,
    nor is a square root (or norm, or power below 1) of a non-negative value whose result reaches
    the loss only under ``.detach()`` / ``stop_gradient``: its slope at 0 is never differentiated.

    **Instead** clip or add an epsilon, or use the stable primitive: ``log_softmax``,
    ``log_sigmoid``, ``from_logits=True`` losses, ``divide_no_nan``.

    Before::

        def dice_loss(y_true, y_pred):
            inter = tf.reduce_sum(y_true * y_pred, axis=-1)
            return 1 - 2 * inter / (tf.reduce_sum(y_true, axis=-1) + tf.reduce_sum(y_pred, axis=-1))

    After::

        def dice_loss(y_true, y_pred, smooth=1.0):
            inter = tf.reduce_sum(y_true * y_pred, axis=-1)
            total = tf.reduce_sum(y_true, axis=-1) + tf.reduce_sum(y_pred, axis=-1)
            return 1 - (2 * inter + smooth) / (total + smooth)
    """

    code = "BSG402"
    name = "unguarded-log"
    severity = "warning"
    summary = "log/sqrt/division of a value that can reach 0 without clip or epsilon"
    node_types = (cst.Call, cst.BinaryOperation)

    def check_node(self, node, ctx) -> None:
        # (d / d.max()) < radius: a mask; inf or NaN there compares False, no gradient flows
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Divide) and not _only_compared(node, ctx):
                self._division(node, node.left, node.right, ctx)
            elif isinstance(node.operator, cst.Power) and not _only_compared(node, ctx):
                self._fractional_power(node, node.left, node.right, ctx)
            return
        op = ctx.op(node)
        if op is None or not op.args or op.namespace.split(".")[0] in ("math", "numpy") or _only_compared(node, ctx):
            return  # math.sqrt(t), np.log(p): host values, no gradient (a tensor read is BSG701's finding)
        if op.name in _POW_OPS and len(op.args) >= 2:
            self._fractional_power(node, op.args[0], op.args[1], ctx)
        elif op.name in LOG_OPS:
            facts = ctx.facts(op.args[0])
            if facts.is_tensor and not facts.has_grad and not facts.guarded and op.name in ("log", "log2", "log10") \
                    and _raw_target(op.args[0], ctx) and _multiplies_prediction(node, ctx):
                ctx.report(self, node, f"`{code_of(node)}` is -inf where the target is 0, and it multiplies the "
                                       "prediction: the loss and its gradient are infinite there; add an epsilon")
                return
            if not facts.is_tensor or not facts.has_grad or facts.guarded or facts.exp_sum \
                    or _is_one_plus_exp(op.args[0], ctx) or _a_reciprocal(op.args[0], ctx):
                return
            if ctx.undifferentiated() and _nan_reset_later(node, ctx):
                return  # s = log(g); s = nan_to_num(s); s.detach(): the -inf is reset, never differentiated
            if facts.probability:
                ctx.report(self, node, f"`{code_of(node)}` underflows to log(0) = -inf for confident predictions: "
                                       "use log_softmax / log_sigmoid or a from_logits loss")
            else:
                ctx.report(self, node, f"`{code_of(node)}` is -inf where its argument reaches 0: clip it or add an epsilon")
        elif op.name in ("sqrt", "rsqrt"):
            facts = ctx.facts(op.args[0])
            if facts.is_tensor and facts.has_grad and not facts.guarded and not facts.batch_energy \
                    and not (facts.nonneg and ctx.undifferentiated()):  # a detached sqrt of a negative is NaN still
                ctx.report(self, node, f"`{code_of(node)}` has an infinite gradient where its argument is 0 "
                                       "(NaN gradients): add an epsilon inside")
        elif op.name in _ARC_OPS:
            facts = ctx.facts(op.args[0])
            if facts.is_tensor and facts.has_grad and not facts.inside_unit and not _picked(op.args[0], ctx):
                ctx.report(self, node, f"`{code_of(node)}` has an infinite gradient at -1 and 1 (NaN gradients, and "
                                       "NaN values once rounding passes them): clip to [-1 + eps, 1 - eps] first")
        elif op.name in _NORM_OPS:
            facts = ctx.facts(op.args[0])
            difference = isinstance(op.args[0], cst.BinaryOperation) and isinstance(op.args[0].operator, cst.Subtract) \
                and ctx.facts(op.args[0].left).is_tensor and ctx.facts(op.args[0].right).is_tensor
            order = op.arg(1, "ord", "p")
            if order is not None and _text_of(order) in ("1", "1.0", "np.inf", "jnp.inf", "inf", "float('inf')",
                                                          'float("inf")', "math.inf", "torch.inf"):
                return  # an L1 / max norm is a sum or max of |d|: no square root, no NaN at 0
            if facts.is_tensor and facts.has_grad and (facts.error or difference) and not facts.guarded \
                    and not torch_only(ctx) and not ctx.undifferentiated():  # torch's norm backward at 0 is 0
                ctx.report(self, node, f"`{code_of(node)}` of a difference has a NaN gradient where the difference is 0 "
                                       "(identical vectors): use sqrt(sum(square(d)) + eps)")
            elif op.arg(2, "axis") is not None and _an_input_gradient(op.args[0], ctx) and not facts.guarded \
                    and not torch_only(ctx) and not op.is_method and not op.namespace.startswith("torch") \
                    and ctx.loss.kind != "train-step":
                # one norm per sample (an axis; a norm over the whole batch is 0 only where every
                # sample's gradient is); not torch's g.norm(), torch.norm: 0 at 0
                ctx.report(self, node, f"`{code_of(node)}` of a gradient has a NaN gradient where that gradient is 0 "
                                       "(a flat critic), and the penalty differentiates it again: use "
                                       "sqrt(sum(square(g)) + eps)")
        elif op.name == "reciprocal":
            self._division(node, None, op.args[0], ctx)
        elif op.name in _DIVIDE_OPS and len(op.args) >= 2:
            self._division(node, op.args[0], op.args[1], ctx)

    def _fractional_power(self, node, base, exponent, ctx) -> None:
        """``x ** 0.5``, ``pow(square(d), 0.625)``: a power below 1 has an infinite derivative at 0,
        like sqrt."""
        power = ctx.facts(exponent)
        passed = frozenset(k for k in (ctx.call_sites or {}).get(id(ctx.loss.node), {}) if isinstance(k, str))
        value = power.literal if power.literal is not None else _default_number(exponent, ctx.loss.info,
                                                                                 passed=passed)
        if not power.taint and value is not None and value < 0 and power.literal is not None:
            self._division(node, None, base, ctx)  # pow(1 - rho ** 2, -0.5), d ** -1: a division by the base
            return
        if power.taint or value is None or not 0 < value < 1:
            return
        facts = ctx.facts(base)
        # of an error or its magnitude (a difference that a good fit drives to 0), or a score's
        # complement (1 - dice, -log(p)); a norm of embeddings or an area of the data is 0 only by
        # accident
        if facts.vanishes_at_fit and not (facts.error or facts.magnitude) and _clips_below_one(ctx):
            return  # p clipped to [eps, 1 - eps] earlier: its complement stays away from 0
        if facts.is_tensor and facts.has_grad and PRED in facts.taint and not facts.guarded \
                and (facts.error or facts.magnitude or facts.vanishes_at_fit) \
                and not (facts.nonneg and ctx.undifferentiated()):
            ctx.report(self, node, f"`{code_of(node)}` (a power below 1) has an infinite gradient where its base is 0 "
                                   "(NaN gradients): add an epsilon to the base")

    def _division(self, node, numerator, denominator, ctx) -> None:
        facts = ctx.facts(denominator)
        events = _sums_events(denominator)
        if events is not None and _events_tested(events.value, ctx, before=denominator):
            return  # if not events.any(): return ...; then / events.sum(): guarded by the test
        count = _zero_count(denominator, ctx)
        if count is not None and ctx.facts(node).has_grad:
            ctx.report_once(self, node, key=f"{self.code}/{_text_of(denominator)}", more="divisions by it",
                            message=f"division by `{code_of(denominator, 40)}`, {count}")
            return
        if not facts.is_tensor or facts.guarded or facts.batch_dim or not ctx.facts(node).has_grad:
            return
        if facts.length:
            return  # emb / norm(emb): the length of an embedding is 0 only for an all-zero vector
        if _inside_arctan(ctx):
            return  # atan(w / h): w / 0 is inf, atan(inf) = pi / 2, and its gradient stays finite
        if "stride" in _text(denominator).lower():
            return  # pred_bboxes / stride_tensor: a feature map's strides (8, 16, 32), fixed and positive
        if _reduces_opaque(denominator, ctx):
            return  # sum(mask) of what a function we cannot see returned: a count, a weight, a mask
        if numerator is not None and _is_self_normalisation(numerator, denominator, ctx):
            return
        selection = _counts_target_selections(denominator, ctx)
        if selection:
            ctx.report_once(self, node, key=f"{self.code}/{_text_of(denominator)}", more="divisions by it",
                            message=f"division by `{code_of(denominator, 40)}`, the number of entries a condition "
                                    "selected (positives, objects, valid pixels), which is 0 in a batch where none "
                                    "qualify (inf/NaN): divide by max(count, 1)")
            return
        if selection is False:
            return  # the count is tested before the division (if not positive.any(): return ...)
        if (PRED not in facts.taint or facts.nograd) and not _raw_target(denominator, ctx) \
                and "positive" not in _text(denominator).lower():
            return  # a size, count or weight of the data: no gradient through it, positive in practice
        if isinstance(denominator, cst.Name) and _names_a_length(denominator.value):
            return  # grid / ilen: a sequence's own length, data and at least 1
        if _counts_valid_positions(denominator, facts, ctx.loss.param_taints):
            return  # loss.sum() / mask.sum(): padding masks and lengths count at least one step per sample
        if _geometric_denominator(denominator, ctx):
            return  # a union, a width, a gap: positive by the geometry the code builds, not by a guard
        if _setting_lookup(denominator):
            return  # params["domain"]["range"][1]: an entry of a settings mapping, not a value of the batch
        if _unguarded_root(denominator, ctx):
            return  # x / sqrt(v): the sqrt's own finding names the cause (v reaching 0), once
        if facts.batch_energy:
            return  # x / (norm(y_pred) * norm(y_true)) over the whole batch: 0 only if every entry is
        if ctx.undifferentiated() and _nan_reset_later(node, ctx):
            return  # w = g / g.max(); w[isnan(w)] = 0; w.detach(): the NaN is reset, no gradient runs through
        ctx.report_once(self, node, key=f"{self.code}/{_text_of(denominator)}", more="divisions by it",
                        message=f"division by `{code_of(denominator, 40)}`, which can be 0 in some batch "
                                "(inf/NaN): add an epsilon or use divide_no_nan")


_RESETS_INF = frozenset({"isfinite", "is_finite", "nan_to_num"})  # replace inf as well as NaN
_RESETS_NAN = frozenset({"isnan", "is_nan"})


def _nan_reset_later(node, ctx) -> bool:
    """``w = g / g.max()`` followed, on every path and before any read of ``w``, by a reset of
    ``w``'s non-finite values (``w[isnan(w)] = 0``, ``w = nan_to_num(w)``, ``w = where(isfinite(w),
    w, 0)``), in the same block or after the ``if``/``else`` it sits in: the value's 0 / 0 never
    reaches the loss. A log's -inf, or a division's x / 0, needs a reset of infinities too
    (``isfinite``, ``nan_to_num``, ``isnan(w) | isinf(w)``); ``isnan`` alone covers only the 0 / 0
    of a value divided by its own maximum or sum.

        >>> import libcst as cst
        >>> from types import SimpleNamespace
        >>> f = cst.parse_statement("def f(a):\\n    w = a / a.max()\\n    w[isnan(w)] = 0\\n    return w\\n")
        >>> division = f.body.body[0].body[0].value
        >>> _nan_reset_later(division, SimpleNamespace(loss=SimpleNamespace(node=f)))
        True
    """
    parents = {}
    for current in all_nodes(ctx.loss.node):
        for child in _children(current):
            parents[id(child)] = current
    line = node
    while line is not None and not isinstance(line, cst.SimpleStatementLine):
        line = parents.get(id(line))
    assign = line.body[0] if line is not None and len(line.body) == 1 else None
    if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name) and contains(assign.value, node)):
        return False
    name = assign.targets[0].target.value
    own_zero_only = isinstance(node, cst.BinaryOperation) and _text(node.left) in _text(node.right)
    statement = line
    while statement is not None and statement is not ctx.loss.node:
        block = parents.get(id(statement))
        if isinstance(block, cst.IndentedBlock):
            position = next(i for i, s in enumerate(block.body) if s is statement)
            for later in block.body[position + 1:]:
                small = later.body[0] if isinstance(later, cst.SimpleStatementLine) and len(later.body) == 1 else None
                tests = _non_finite_tests(small, name) if small is not None else None
                if tests is not None:
                    both = bool(tests & _RESETS_NAN) and bool(tests & {"isinf", "is_inf"})  # isnan(w) | isinf(w)
                    return bool(tests & _RESETS_INF) or both or (own_zero_only and bool(tests & _RESETS_NAN))
                if any(isinstance(n, cst.Name) and n.value == name for n in all_nodes(later)):
                    return False  # read (or rebound) before any reset
                if isinstance(later, cst.SimpleStatementLine) and isinstance(later.body[-1], (cst.Return, cst.Raise)):
                    return False
        statement = block if not isinstance(block, cst.IndentedBlock) else parents.get(id(block))
        # out of the block: on to the statement that holds it (an ``if``, ``else``, loop), then its block
        while statement is not None and statement is not ctx.loss.node \
                and not isinstance(parents.get(id(statement)), cst.IndentedBlock):
            statement = parents.get(id(statement))
    return False


def _non_finite_tests(statement, name: str) -> frozenset | None:
    """The tests of non-finite values with which the statement resets ``name`` (a write of ``name``
    or into it), or None when it is no such reset."""
    if isinstance(statement, cst.Assign):
        stores = any(_text(t.target) == name or (isinstance(t.target, cst.Subscript) and _text(t.target.value) == name)
                     for t in statement.targets)
    elif isinstance(statement, cst.Expr):
        call = statement.value
        stores = isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
            and _text(call.func.value) == name and call.func.attr.value.endswith("_")  # w.nan_to_num_()
        if stores and call.func.attr.value == "nan_to_num_":
            return frozenset({"nan_to_num"})
    else:
        return None
    if not stores:
        return None
    tests = frozenset(called_name(current) for current in all_nodes(statement)
                      if isinstance(current, cst.Call) and called_name(current) in _RESETS_INF | _RESETS_NAN
                      | {"isinf", "is_inf"} and any(_text(a.value) == name for a in current.args))
    return tests or None


def _zero_count(denominator, ctx) -> str | None:
    """What a count the loss divides by is, when a batch can make it 0; else None."""
    if _counts_selected_entries(denominator, ctx):
        return ("the number of entries a condition selected, which is 0 in a batch where none qualify "
                "(inf/NaN): divide by max(count, 1)")
    if _counts_events(denominator, ctx):
        return ("the number of events in the batch, which is 0 in a batch without any (every sample censored): "
                "NaN; divide by max(count, 1) or return early for such a batch")
    return None


_SELECTING_OPS = frozenset({"nonzero", "argwhere", "masked_select", "boolean_mask"})
_CAST_OPS = frozenset({"float", "int", "double"})


def _counts_selected_entries(denominator, ctx) -> bool:
    """``float(censors.nonzero().size(0))``, ``len(torch.nonzero(mask))``, ``count_nonzero(events)``:
    how many entries a condition selected in this batch, a number of the data that is 0 when none
    qualify (an all-censored batch, no positives). Not wrapped in ``max(..., 1)`` or a clamp."""
    node = denominator
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _CAST_OPS \
            and len(node.args) == 1:
        node = node.args[0].value
    counted = None
    if isinstance(node, cst.Call):
        op = ctx.op(node)
        if op is not None and op.name == "count_nonzero" and op.args:
            return not _tested_in_loss(node, ctx)
        if isinstance(node.func, cst.Name) and node.func.value == "len" and len(node.args) == 1:
            counted = node.args[0].value
        elif op is not None and op.name in SIZE_OPS and op.args:
            counted = op.args[0]
    elif isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) and node.value.attr.value == "shape":
        counted = node.value.value
    if not isinstance(counted, cst.Call):
        return False
    op = ctx.op(counted)
    name = op.name if op is not None else called_name(counted)  # x.nonzero(): a method of a tensor
    as_tuple = next((arg.value for arg in counted.args if arg.keyword is not None and arg.keyword.value == "as_tuple"),
                    None)
    if name not in _SELECTING_OPS or (as_tuple is not None and _text_of(as_tuple) != "False"):
        return False  # nonzero(as_tuple=True) is a tuple of index tensors: its len is the rank
    return not _tested_in_loss(counted, ctx)


# names of a survival loss's event indicator (1 where the event was observed, 0 where censored)
_EVENT_WORDS = frozenset({"event", "events", "dead", "death", "deaths", "uncensored", "died"})
# words that make such a name a mask of entries or steps (``event_mask``, ``observed_mask``)
_NOT_INDICATOR_WORDS = frozenset({"mask", "masks", "idx", "index", "ids", "type", "types", "len", "length", "lengths"})
_INDICATOR_KEEPING = frozenset({"float", "double", "view", "reshape", "flatten", "squeeze", "type", "to"})


def _counts_events(denominator, ctx) -> bool:
    """``torch.sum(is_dead)``, ``events.sum()``, ``tf.reduce_sum(event)``: the whole-batch sum of a
    survival loss's event indicator (a Cox partial likelihood averaged over the events), 0 in a
    batch where every sample is censored. (A test of the events before it is read by the caller.)"""
    op = ctx.op(denominator) if isinstance(denominator, cst.Call) else None
    if op is None or op.name not in SUM_OPS or not op.args or op.arg(1, "axis", "dim") is not None:
        return False
    counted = _sums_events(denominator)
    if counted is None:
        return False
    # a parameter so named is the batch's indicator even where its role is not known
    return (ctx.facts(counted).is_tensor or counted.value in ctx.loss.param_taints) \
        and not _tested_in_loss(denominator, ctx)


def _sums_events(denominator) -> cst.Name | None:
    """``events`` of ``events.sum()``, ``torch.sum(events.float())``, ``tf.reduce_sum(event)``, when
    its name says an event indicator (see ``_counts_events``), else None."""
    if not isinstance(denominator, cst.Call) or called_name(denominator) not in ("sum", "reduce_sum", "nansum"):
        return None
    counted = denominator.func.value if isinstance(denominator.func, cst.Attribute) and not denominator.args \
        else denominator.args[0].value if denominator.args else None
    while isinstance(counted, cst.Call) and isinstance(counted.func, cst.Attribute) \
            and counted.func.attr.value in _INDICATOR_KEEPING:
        counted = counted.func.value  # events.float().view(-1)
    if not isinstance(counted, cst.Name):
        return None
    words = name_tokens(counted.value)
    if not (words & _EVENT_WORDS or counted.value in ("observed", "is_observed")) or words & _NOT_INDICATOR_WORDS:
        return None
    return counted


def _events_tested(name: str, ctx, before=None) -> bool:
    """``if not events.any(): return ...``, ``n = torch.sum(events); if n == 0: return``: before the
    division (``before``), the loss tests whether the batch has events: a test holds the events'
    ``any``, whole ``sum`` or ``count_nonzero``, or a name bound to one (not ``.all()``, not a sum of
    something else that holds them)."""
    counts = set()
    for node in own_nodes_in_order(ctx.loss.node):  # up to the division
        if node is before:
            return False
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) \
                and _reduces_indicator(node.value, name):
            counts.add(node.targets[0].target.value)  # num_events = events.sum()
        if isinstance(node, (cst.If, cst.Assert, cst.IfExp, cst.While)) and any(
                _reduces_indicator(part, name) or (isinstance(part, cst.Name) and part.value in counts)
                for part in own_nodes_in_order(node.test)):
            return True
    return False


def _reduces_indicator(node, name: str) -> bool:
    """``events.any()``, ``torch.sum(events)``, ``events.float().sum().item()``, ``count_nonzero(events)``:
    a whole-batch reduction that is 0 (or False) exactly when no sample has an event."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in ("item", "float", "int", "long"):
        node = node.func.value
    if not isinstance(node, cst.Call) or called_name(node) not in (
            "any", "sum", "count_nonzero", "reduce_sum", "reduce_any", "nonzero"):
        return False
    positional = [arg.value for arg in node.args if arg.keyword is None]
    is_method = isinstance(node.func, cst.Attribute) and not (
        isinstance(node.func.value, cst.Name) and node.func.value.value in ARRAY_MODULES)
    counted = node.func.value if is_method else (positional[0] if positional else None)
    if (is_method and positional) or (not is_method and len(positional) > 1) or any(
            arg.keyword is not None and arg.keyword.value in ("dim", "axis") for arg in node.args):
        return False  # events.sum(1): per row
    while isinstance(counted, cst.Call) and isinstance(counted.func, cst.Attribute) \
            and counted.func.attr.value in _INDICATOR_KEEPING:
        counted = counted.func.value
    return isinstance(counted, cst.Name) and counted.value == name


def _tested_in_loss(count, ctx) -> bool:
    """``if len(events.nonzero()) == 0: return ...``, ``if count_nonzero(e) > 0:``: the loss tests
    that count (or what it counts) somewhere, the way it guards the division."""
    selected = _text_of(count)
    return any(isinstance(n, (cst.If, cst.Assert, cst.IfExp, cst.While)) and selected in _text_of(n.test)
               for n in own_nodes(ctx.loss.node))


def _unguarded_root(denominator, ctx) -> bool:
    """``sqrt(v)`` written in the denominator, ``v`` a tensor of the prediction with no guard: the
    sqrt is reported for it (an infinite gradient at 0), and the division by it has the same cause."""
    if not isinstance(denominator, cst.Call):
        return False
    op = ctx.op(denominator)
    if op is None or op.name not in SQRT_OPS or not op.args:
        return False
    inner = ctx.facts(op.args[0])
    return inner.is_tensor and inner.has_grad and not inner.guarded


def _setting_lookup(node) -> bool:
    """``all_params["domain"]["range"]["t"][1]``, ``self.cfg["scale"]``: a string-keyed entry of a
    mapping named for settings or parameters (a batch dict, ``batch["x"]``, is not one); also its
    power or a product of such entries (``cfg["dx"] ** 2``)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Power, cst.Multiply)):
        right = node.right
        return _setting_lookup(node.left) and (isinstance(right, (cst.Integer, cst.Float)) or _setting_lookup(right))
    keyed = False
    while isinstance(node, cst.Subscript):
        keyed = keyed or any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.SimpleString)
                             for e in node.slice)
        node = node.value
    if not keyed:
        return False
    root = node.attr.value if isinstance(node, cst.Attribute) else node.value if isinstance(node, cst.Name) else ""
    return bool(_SETTINGS_NAME.search(root.lower()))


_SETTINGS_NAME = compile_lazily(r"param|config|cfg|conf$|hparam|hyper|setting|option|opts|args|const")


def _unbounded_cosh(argument, ctx):
    """The ``cosh(x)`` call of ``log(cosh(x))`` (an epsilon added inside or outside changes nothing)
    when ``x`` carries gradient and is unbounded, else None."""
    if isinstance(argument, cst.BinaryOperation) and isinstance(argument.operator, cst.Add):
        if not ctx.facts(argument.right).taint:
            argument = argument.left
        elif not ctx.facts(argument.left).taint:
            argument = argument.right
    if not isinstance(argument, cst.Call):
        return None
    op = ctx.op(argument)
    if op is None or op.name != "cosh" or not op.args:
        return None
    inner = ctx.facts(op.args[0])
    return argument if inner.has_grad and not inner.bounded else None


# calls that keep a tensor's values, only reshaped (``tf.reshape(g, [n, -1])``, ``g.flatten(1)``)
_RESHAPING = frozenset({"reshape", "flatten", "view", "squeeze", "batch_flatten", "Flatten"})
# calls that return gradients of outputs with respect to inputs
_GRADIENT_CALLS = frozenset({"gradient", "gradients", "grad"})


def _an_input_gradient(argument, ctx) -> bool:
    """``tf.norm(tf.reshape(grads, ...))`` where the loss bound ``grads`` from ``tape.gradient``,
    ``tf.gradients(...)[0]`` or ``jax.grad(f)(x)``: the gradient of a network with respect to its
    input, which a gradient penalty differentiates again.

        >>> from keras_bsguard.lint.api import lint_source
        >>> src = ("import tensorflow as tf\\n"
        ...        "def gradient_penalty(x_hat, critic):\\n"
        ...        "    grads = tf.gradients(critic(x_hat), x_hat)[0]\\n"
        ...        "    return tf.reduce_mean((tf.norm(grads, axis=1) - 1.0) ** 2)\\n")
        >>> sorted({f.code for f in lint_source(src)})
        ['BSG402', 'BSG603']
    """
    node = _reshaped_from(argument, ctx)
    if not isinstance(node, cst.Name):
        return False
    before: list = []  # the name's bindings above the norm, in source order
    for statement in own_nodes_in_order(ctx.loss.node):
        if statement is argument:
            break
        if isinstance(statement, cst.Assign) and not contains(statement, argument) and any(
                isinstance(t.target, cst.Name) and t.target.value == node.value for t in statement.targets):
            before.append(statement)  # (not ``grad = tf.norm(grad)``, which binds the norm itself)
    for assignment in reversed(before):
        # the binding the norm reads, through reshapes of the name itself (``grads =
        # tf.reshape(grads, [n, -1])``): a gradient call (not ``grad = tf.stop_gradient(grad)``)
        value = _reshaped_from(assignment.value, ctx)
        if isinstance(value, cst.Name) and value.value == node.value:
            continue
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Call):
            value = value.func  # jax.grad(critic)(x)
            if called_name(value) in ("vmap", "pmap", "jit") and value.args:
                value = value.args[0].value  # jax.vmap(jax.grad(critic))(x)
        return isinstance(value, cst.Call) and called_name(value) in _GRADIENT_CALLS
    return False


def _reshaped_from(node, ctx):
    """What ``node`` holds the values of, reshaped: ``tf.reshape(g, [n, -1])``, ``g.flatten(1)``,
    ``tf.layers.flatten(g)``, ``g[0]``: ``g``; ``node`` itself for anything else."""
    while True:
        if isinstance(node, cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Call) and called_name(node) in _RESHAPING:
            func = node.func
            root = func.value if isinstance(func, cst.Attribute) else None
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(root, cst.Name) and root.value in ctx.index.imports.aliases:
                if not node.args:
                    return node
                node = node.args[0].value  # tf.reshape(g, [n, -1]), tf.layers.flatten(g)
            elif isinstance(func, cst.Attribute):
                node = func.value  # g.flatten(1), g.view(n, -1)
            else:
                return node
        else:
            return node


def _picked(argument, ctx) -> bool:
    """A name assigned from ``where``/``minimum`` (SIoU's ``sin_alpha = where(sin_x > t, sin_y,
    sin_x)``): a value picked by a condition, bounded by it in ways the facts do not model."""
    if not isinstance(argument, cst.Name):
        return False
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and any(
                isinstance(t.target, cst.Name) and t.target.value == argument.value for t in node.targets):
            op = ctx.op(node.value)
            if op is not None and op.name in ("where", "minimum"):
                return True
    return False


# the words of a name for a 0/1 channel of the target that marks what a batch may lack: objects,
# centres, positives, foreground (``center = y_true[..., 2]`` of a CenterNet target)
_INDICATOR_CHANNEL_WORDS = frozenset({"pos", "positive", "positives", "obj", "object", "objects",
                                      "objectness", "fg", "foreground", "center", "centers", "centre", "conf"})
# (not "mask": a channel packed into y_true as ``mask`` is as often a padding or per-step weight mask)
_SELECTING_COMPARISONS = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual, cst.Equal)
_COMPARING_OPS = frozenset({"greater", "greater_equal", "less", "less_equal", "equal", "gt", "ge", "lt", "le",
                            "eq", "logical_and"})
# ``x.float()``, ``tf.cast(x, tf.float32)``, ``K.cast(x, 'float32')``, ``x.type(dtype)``: still x's 0/1 entries
_SELECTION_CASTS = frozenset({"cast", "float", "double", "half", "type", "to", "type_as", "astype"})


def _counts_target_selections(denominator, ctx) -> bool | None:
    """``mask = depth_gt > 0; ... / mask.sum()``, ``N = K.sum(y_true[..., 2])`` of a centre mask,
    ``num_pos = tf.reduce_sum(cast(labels == 1, float))``: the whole batch's count of the target
    entries a condition selected (valid pixels, positives, objects), which is 0 in a batch where
    none qualify, and nothing floors it, clamps it or tests it first. Counts per row, a padding
    mask (``!= pad``: every sequence has a step) and weights are left out."""
    summed, counts = _whole_batch_sum_of(denominator, ctx, depth=0)
    if summed is None:
        return None
    indicator, names = _target_indicator(summed, ctx, depth=0)
    if indicator is None or _counts_valid_positions(denominator, ctx.facts(denominator), ctx.loss.param_taints) \
            or any(word in _text(indicator).lower() for word in (*_LENGTH_WORDS, "arange", "range(")) \
            or _compares_unequal(indicator, ctx):
        return None  # arange(T) < lengths, greater(tokens != pad, 0): a padding mask, a step per sequence
    return _untested_count(denominator, counts, names, ctx)


_REDUCING_TEST = r"(?:\s*\.\s*(?:any|sum|all|numel|nonzero|count_nonzero|float\(\)\.sum|int\(\)\.sum)\s*\()"


def _untested_count(denominator, counts, selections, ctx) -> bool:
    """True when no ``if``/``assert``/conditional expression, ``cond`` or ``switch_case`` of the
    loss tests the count: its text, a name bound to it (``if num_pos > 0``), or a reduction of a
    selection it counts (``if not positive.any()``, ``if valid.sum() == 0``, ``any(valid)``); a
    test that only names the selection (``assert valid.shape == x.shape``) is not one, nor is a
    ``where``: both of its branches run, and 0 times the division's infinite slope is NaN."""
    patterns = [rf"(?<![\w.]){re.escape(text)}(?!\w)" for text in {_text(denominator), *counts} - {""}]
    for name in selections:
        patterns.append(rf"(?<![\w.]){re.escape(name)}{_REDUCING_TEST}")
        patterns.append(rf"(?:any|sum|count_nonzero|reduce_any|reduce_sum|numel)\(\s*{re.escape(name)}(?!\w)")
    tests = [n.test for n in own_nodes(ctx.loss.node) if isinstance(n, (cst.If, cst.Assert, cst.IfExp, cst.While))]
    tests += [n.args[0].value for n in own_nodes(ctx.loss.node)  # tf.cond(num_pos > 0, ...)
              if isinstance(n, cst.Call) and n.args and called_name(n) in ("cond", "switch_case")]
    return not any(_tests_the_count(test, patterns, ctx) for test in tests)


def _tests_the_count(test, patterns: list, ctx) -> bool:
    """Whether ``test`` reads the count (one of ``patterns``) as a guard would: not when it only
    orders it against another count the loss bound once to a whole sum (``if negatives < 3 *
    positives:``, hard-negative mining), which says nothing about either being 0."""
    def reads(node) -> bool:
        return any(re.search(pattern, _text(node)) for pattern in patterns)

    if not reads(test):
        return False
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, (cst.LessThan, cst.LessThanEqual, cst.GreaterThan,
                                                          cst.GreaterThanEqual)):
        left, right = test.left, test.comparisons[0].comparator
        for side, other in ((left, right), (right, left)):
            if reads(side) and not reads(other) and any(
                    isinstance(name, cst.Name) and _a_whole_sum(_single_binding(name.value, ctx), ctx)
                    for name in all_nodes(other)):
                return False  # (another count, bound once in the loss to a sum)
    return True


def _a_whole_sum(value, ctx) -> bool:
    """``torch.sum(negative)``, ``negative.sum()``, ``K.sum(x)``: a reduction of a tensor with no axis."""
    return _summed_whole(value, ctx) is not None


def _summed_whole(value, ctx):
    """What ``value`` sums when it is a sum with no axis or keyword (``mask.sum()``, ``K.sum(x)``);
    else None: a sum along an axis counts per row, and keepdims and the like are not the plain count."""
    if not isinstance(value, cst.Call):
        return None
    op = ctx.op(value)
    return op.args[0] if op is not None and op.name in SUM_OPS and len(op.args) == 1 and not op.kwargs else None


def _compares_unequal(node, ctx, depth: int = 0) -> bool:
    """``tokens != pad``, ``not_equal(y, ignore)`` in the selection or in a name it reads (bound once
    in the loss: ``valid = y != pad; rows = valid.sum(-1) > 0``): a padding or ignore mask."""
    for inner in all_nodes(node):
        if isinstance(inner, cst.NotEqual) or (isinstance(inner, cst.Call) and called_name(inner) in ("not_equal", "ne")):
            return True
        if depth < 2 and isinstance(inner, cst.Name) and inner is not node:
            bound = _single_binding(inner.value, ctx)
            if bound is not None and _compares_unequal(bound, ctx, depth + 1):
                return True
    return False


def _whole_batch_sum_of(node, ctx, depth: int) -> tuple:
    """(what ``node`` sums over the whole batch, the names the sum came through) for
    ``mask.sum()``, ``K.sum(mask)``, a name bound once to one, ``sum / batch_size``; else (None, ())."""
    if depth > 3:
        return None, ()
    node = without_casts(node, ctx, _SELECTION_CASTS)
    if isinstance(node, cst.Name):
        bound = _single_binding(node.value, ctx)
        if bound is None:
            return None, ()
        summed, names = _whole_batch_sum_of(bound, ctx, depth + 1)
        return summed, (node.value, *names)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Divide, cst.Multiply)) \
            and not ctx.facts(node.right).is_tensor:
        return _whole_batch_sum_of(node.left, ctx, depth + 1)  # tf.reduce_sum(conf) / batch_size
    return _summed_whole(node, ctx), ()


def _target_indicator(node, ctx, depth: int, bounded: bool = False):
    """(the 0/1 selection ``node`` is, the names it came through) when it selects entries of the
    target by a condition (``depth_gt > 0``, ``(d >= lo).float() * (d <= hi).float()``,
    ``labels == 1``), or is a target channel named as an indicator (``centers = y_true[..., 2]``);
    else (None, ())."""
    if depth > 4:
        return None, ()
    node = without_casts(node, ctx, _SELECTION_CASTS)
    if isinstance(node, cst.Name):
        bound = _single_binding(node.value, ctx)
        if bound is None:
            return None, ()
        bound = without_casts(bound, ctx, _SELECTION_CASTS)
        if isinstance(bound, cst.Subscript) and isinstance(bound.value, cst.Name) \
                and name_tokens(node.value) & _INDICATOR_CHANNEL_WORDS and _target_only(bound.value, ctx):
            return bound, (node.value,)
        found, names = _target_indicator(bound, ctx, depth + 1)
        return (found, (node.value, *names)) if found is not None else (None, ())
    if isinstance(node, cst.Comparison):
        if len(node.comparisons) != 1 or not isinstance(node.comparisons[0].operator, _SELECTING_COMPARISONS):
            return None, ()  # != pad, is None: a padding mask or a Python test
        operator, right = node.comparisons[0].operator, node.comparisons[0].comparator
        if isinstance(operator, cst.GreaterThanEqual) and _number_at_most(right, 0) \
                or isinstance(operator, cst.GreaterThan) and _number_at_most(right, -1):
            return None, ()  # labels >= 0: every labelled entry, not a selection of some
        if isinstance(operator, (cst.LessThan, cst.LessThanEqual)) and not bounded:
            return None, ()  # target < 255 alone: everything but an ignore label
        compared = node.left if _target_only(node.left, ctx) else right if _target_only(right, ctx) else None
        return (node, ()) if compared is not None and not _classified(compared, ctx) else (None, ())
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Multiply, cst.BitAnd)):
        left, _ = _target_indicator(node.left, ctx, depth + 1, bounded=True)
        right, _ = _target_indicator(node.right, ctx, depth + 1, bounded=True)
        return (node, ()) if left is not None and right is not None else (None, ())
    if isinstance(node, cst.Call):
        op = ctx.op(node)
        if op is not None and op.name in _COMPARING_OPS and len(op.args) == 2 and op.name != "logical_and":
            if op.name in ("greater_equal", "ge") and _number_at_most(op.args[1], 0):
                return None, ()
            if op.name in ("less", "less_equal", "lt", "le") and not bounded:
                return None, ()
            return (node, ()) if _target_only(op.args[0], ctx) and not _classified(op.args[0], ctx) else (None, ())
        if op is not None and op.name == "logical_and" and len(op.args) == 2:
            return (node, ()) if all(_target_indicator(a, ctx, depth + 1, bounded=True)[0] is not None
                                     for a in op.args) else (None, ())
    return None, ()


# ops whose labels are class or token ids: a selection ``ids > 0`` of them is a padding mask (pad id 0)
_CLASSIFYING_OPS = frozenset({"sparse_categorical_crossentropy", "cross_entropy", "nll_loss", "one_hot",
                              "sparse_softmax_cross_entropy_with_logits", "ctc_loss", "ctc_batch_cost",
                              "categorical_crossentropy", "softmax_cross_entropy_with_logits", "embedding"})


def _classified(compared, ctx) -> bool:
    """The compared target is also the labels of a classification in the loss
    (``sparse_categorical_crossentropy(y_true, ...)``, ``cross_entropy(logits, target.view(-1))``):
    class or token ids, where ``y_true > 0`` marks the tokens that are not padding."""
    text = _text(compared)
    if not text:
        return False
    pattern = rf"(?<![\w.]){re.escape(text)}(?!\w)"
    return any(isinstance(n, cst.Call) and called_name(n) in _CLASSIFYING_OPS
               and any(re.search(pattern, _text(arg.value)) for arg in n.args)
               for n in own_nodes(ctx.loss.node))


def _single_binding(name: str, ctx):
    """The value of the loss's one ``name = value`` statement, or None (a parameter, or rebound)."""
    statements = assignments_to(name, ctx)
    if len(statements) != 1 or len(statements[0].targets) != 1 \
            or any(isinstance(n, (cst.AugAssign, cst.AnnAssign)) and _text(n.target) == name
                   for n in own_nodes(ctx.loss.node)):
        return None
    return statements[0].value


def _target_only(node, ctx) -> bool:
    """The value carries the target and not the prediction (``depth_gt``, ``y_true[..., 4]``)."""
    taint = ctx.facts(node).taint
    return TRUE in taint and PRED not in taint


def _number_at_most(node, bound: float) -> bool:
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, (cst.Integer, cst.Float)):
        return -float(node.expression.evaluated_value) <= bound
    return isinstance(node, (cst.Integer, cst.Float)) and float(node.evaluated_value) <= bound


def _reduces_opaque(denominator, ctx) -> bool:
    """``reduce_sum(mask)`` where ``mask`` came out of a function we cannot see into: whether it
    carries gradient or can be 0 is unknown, and such denominators were counts or weights of the
    data on the real code we judged."""
    if not isinstance(denominator, cst.Call):
        return False
    op = ctx.op(denominator)
    return op is not None and op.name in SUM_OPS and bool(op.args) and ctx.facts(op.args[0]).opaque


def _clips_below_one(ctx) -> bool:
    """The loss clips a value strictly below 1 (``clamp(p, eps, 1 - eps)``, ``clip(p, 1e-7, 0.9999)``),
    read from the code alone (no facts computed out of order)."""
    for node in own_nodes(ctx.loss.node):
        op = ctx.op(node) if isinstance(node, cst.Call) else None
        if op is None or op.name not in ("clip", "clamp", "clip_by_value", "clamp_max"):
            continue
        upper = op.arg(1, "max", "clip_value_max", "a_max", "x_max") if op.name == "clamp_max" \
            else op.arg(2, "max", "clip_value_max", "a_max", "x_max")
        if upper is None:
            continue
        if isinstance(upper, (cst.Float, cst.Integer)) and float(upper.evaluated_value) < 1:
            return True
        if isinstance(upper, cst.BinaryOperation) and isinstance(upper.operator, cst.Subtract) \
                and isinstance(upper.left, (cst.Float, cst.Integer)) and float(upper.left.evaluated_value) == 1:
            return True
    return False


def _default_number(node, info, depth: int = 0, passed: frozenset = frozenset()) -> float | None:
    """The number ``node`` is by default: a literal, a parameter of the loss or of a function
    around it (a factory's ``gamma=0.75``) that its body does not reassign, ``self.<name>`` that
    ``__init__`` sets from such a parameter, or ``+ - * /`` of these. None when unknown, and for
    a parameter of the innermost function that a call in the file gives (``passed``).

        >>> import libcst as cst
        >>> from keras_bsguard.lint.module_index import ModuleIndex
        >>> index = ModuleIndex.build(cst.parse_module("def tv(y_true, y_pred, p=1.25):\\n    return p\\n"))
        >>> _default_number(cst.parse_expression("p / 2"), index.functions_named("tv")[0])
        0.625
    """
    if depth > 8:
        return None
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _default_number(node.expression, info, depth + 1, passed)
        return -inner if inner is not None else None
    if isinstance(node, cst.BinaryOperation):
        left = _default_number(node.left, info, depth + 1, passed)
        right = _default_number(node.right, info, depth + 1, passed)
        if left is None or right is None:
            return None
        operator = type(node.operator)
        if operator is cst.Add:
            return left + right
        if operator is cst.Subtract:
            return left - right
        if operator is cst.Multiply:
            return left * right
        if operator is cst.Divide and right != 0:
            return left / right
        return None
    if isinstance(node, cst.Name):
        if node.value in passed:
            return None  # the file's calls give it: its default is not what runs
        while info is not None:
            if node.value in _assigned_names(info.node):
                return None
            found, default = _parameter_default(info.node, node.value)
            if found:  # a parameter shadows the functions around it, with or without a default
                return _default_number(default, info.parent, depth + 1) if default is not None else None
            info = info.parent
        return None
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self" \
            and info is not None and info.class_info is not None:
        init = info.class_info.methods.get("__init__")
        if init is None:
            return None
        attr = node.attr.value
        if any(_writes_attribute(method.node, attr) for name, method in info.class_info.methods.items()
               if name != "__init__"):
            return None  # set again elsewhere (a schedule, a setter): not a constant
        values = [value for small in own_nodes(init.node) if isinstance(small, cst.Assign)
                  for target, value in _assigned_pairs(small) if _is_self_attribute(target, attr)]
        rewritten = any(isinstance(small, (cst.AugAssign, cst.AnnAssign)) and _is_self_attribute(small.target, attr)
                        for small in own_nodes(init.node))
        if len(values) == 1 and values[0] is not None and not rewritten:
            return _default_number(values[0], init, depth + 1)
    return None


def _is_self_attribute(target, attr: str) -> bool:
    return isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
        and target.value.value == "self" and target.attr.value == attr


def _writes_attribute(function, attr: str) -> bool:
    """Whether ``function`` assigns ``self.<attr>`` (plainly, by unpacking or augmented)."""
    for small in own_nodes(function):
        if isinstance(small, cst.Assign) and any(_is_self_attribute(t, attr) for t, _ in _assigned_pairs(small)):
            return True
        if isinstance(small, (cst.AugAssign, cst.AnnAssign)) and _is_self_attribute(small.target, attr):
            return True
    return False


def _assigned_pairs(assign: cst.Assign) -> list:
    """``(target, value)`` of each name an assignment binds; ``a, b = x, y`` pairs them up, and a
    target whose value cannot be told apart gets None."""
    pairs = []
    for target in assign.targets:
        inner = target.target
        if isinstance(inner, (cst.Tuple, cst.List)):
            values = assign.value.elements if isinstance(assign.value, (cst.Tuple, cst.List)) else None
            same = values is not None and len(values) == len(inner.elements)
            pairs += [(element.value, values[i].value if same else None) for i, element in enumerate(inner.elements)]
        else:
            pairs.append((inner, assign.value))
    return pairs


def _assigned_names(function) -> set[str]:
    """Names the function binds in its own body: assignments, loop and comprehension targets,
    ``with ... as`` names."""
    names = set()
    for small in own_nodes(function):
        if isinstance(small, cst.Assign):
            names |= {target.value for target, _value in _assigned_pairs(small) if isinstance(target, cst.Name)}
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)) and isinstance(small.target, cst.Name):
            names.add(small.target.value)
        elif isinstance(small, (cst.For, cst.CompFor)):
            names |= {n.value for n in own_nodes(small.target) if isinstance(n, cst.Name)} \
                | ({small.target.value} if isinstance(small.target, cst.Name) else set())
        elif isinstance(small, cst.AsName) and isinstance(small.name, cst.Name):
            names.add(small.name.value)
    return names


def _parameter_default(function, name: str):
    """``(True, default expression or None)`` when ``function`` has a parameter ``name``, else
    ``(False, None)``."""
    params = function.params
    for param in (*params.params, *params.kwonly_params, *getattr(params, "posonly_params", ())):
        if param.name.value == name:
            return True, param.default
    return False, None


# Ops whose result is a derived quantity with a scale of its own (a log, a root, a distance, a
# norm): an exp of it is not an exp of a raw network value (not exp, logsumexp or softplus: they
# keep an unbounded argument's range)
_DERIVING_OPS = LOG_OPS | NORM_OPS | DISTANCE_OPS | SQRT_OPS | frozenset({"log1p", "cosine_similarity", "entropy"})
# a value named a cosine (``cos_theta``, ``cosine_similarity``; not ``cosh``) is one, in [-1, 1]
_COSINE_TOKENS = frozenset({"cos", "cosine", "cosines"})
# helpers named for a loss or a distance (not a similarity: a file's similarity() is often a raw dot product)
_DERIVED_NAME_TOKENS = frozenset({"loss", "losses", "dist", "distance", "distances", "surrogate", "entropy",
                                  "divergence", "kl"})


def _derived_argument(argument, ctx, depth: int = 0) -> bool:
    """Whether every part of an exp's argument that carries the prediction unbounded passes
    through a derived quantity: a log, a root, a distance, a norm, a loss or a distance helper
    (``exp(-ce_loss)``, ``exp(surrogate_loss(...) / lam)``, ``exp(T * dist)``). Such values have a
    scale their author chose (a loss is >= 0, a distance of normalised embeddings <= 2); on the
    real code we judged, their exps were bounded far more often than not. The raw values a network
    emits (logits, log-variances, dot products of embeddings), affine maps, products, powers and
    reductions of them keep their unbounded range: ``exp(cov / t)``, ``exp(2 * logvar)``."""
    if depth > 12:
        return False
    if isinstance(argument, (cst.List, cst.Tuple)):  # cat([a, b]): its elements carry the values
        carrying = [e.value for e in argument.elements if ctx.facts(e.value).taint - {TRUE}]
        return all(_derived_argument(e, ctx, depth + 1) for e in carrying)
    facts = ctx.facts(argument)
    if not (facts.taint - {TRUE}) or not facts.has_grad or facts.bounded or facts.nonpos:
        return True  # contributes nothing unbounded of the network's outputs
    if isinstance(argument, cst.Name):
        if name_tokens(argument.value) & _COSINE_TOKENS and not _inner_products_in(_only_assignment(argument.value, ctx),
                                                                                     ctx):
            # cosine_similarity = y_pred; exp(alpha * (cos + margin)): named a cosine, in [-1, 1] (not
            # ``cos = emb @ emb.T`` of raw embeddings, whose bounds the facts would have found)
            return True
        if argument.value in ctx.loss.param_taints:
            # a hyperparameter with a number by default is not data (log_var=None is an optional output)
            return ctx.loss.info is not None and _default_number(argument, ctx.loss.info) is not None
        value = _only_assignment(argument.value, ctx)
        return value is not None and _derived_argument(value, ctx, depth + 1)
    if isinstance(argument, cst.Call):
        op = ctx.op(argument)
        if op is not None and op.name in _DERIVING_OPS:
            return True
        name = called_name(argument)
        if name is not None and name_tokens(name) & _DERIVED_NAME_TOKENS:
            return True  # self.surrogate_loss(...), self.distance(emb)
        if op is None:
            return False  # model(x), self.head(h): what a network emits is raw
        # a transparent op (a matmul, a sum, a reshape, x.div_(t)): derived if what it carries is
        carrying = [p for p in (*op.args, *op.kwargs.values()) if ctx.facts(p).taint - {TRUE}]
        return bool(carrying) and all(_derived_argument(p, ctx, depth + 1) for p in carrying)
    if isinstance(argument, cst.BinaryOperation):
        return _derived_argument(argument.left, ctx, depth + 1) and _derived_argument(argument.right, ctx, depth + 1)
    if isinstance(argument, cst.UnaryOperation):
        return _derived_argument(argument.expression, ctx, depth + 1)
    if isinstance(argument, cst.Subscript):
        return _derived_argument(argument.value, ctx, depth + 1)
    return False


_INNER_PRODUCT_OPS = frozenset({"matmul", "mm", "bmm", "einsum", "dot", "tensordot", "inner", "batch_dot", "sum",
                                "reduce_sum", "linear"})


def _inner_products_in(value, ctx) -> bool:
    """``value`` (a binding) computes an inner product itself: ``a @ b.T``, ``(a * b).sum(-1)``,
    ``matmul``/``einsum``/``linear`` of raw values (those of normalised ones are bounded by the facts
    already, so a name is not needed to bound them)."""
    if value is None:
        return False
    for node in all_nodes(value):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
            return True
        if isinstance(node, cst.Call):
            op = ctx.op(node)
            if op is not None and op.name in _INNER_PRODUCT_OPS:
                return True
    return False


def _only_assignment(name: str, ctx):
    """The value of ``name = value`` when that is the one write of ``name`` in the loss (no
    augmented assignment, loop or ``with`` target, or unpacking writes it too), or None."""
    for node in own_nodes(ctx.loss.node):
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value == name:
            return None
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else \
            [node.target] if isinstance(node, (cst.For, cst.CompFor)) else \
            [item.asname.name for item in node.items if item.asname is not None] if isinstance(node, cst.With) else []
        for target in targets:
            if isinstance(target, (cst.Tuple, cst.List)) and any(
                    isinstance(n, cst.Name) and n.value == name for n in own_nodes(target)):
                return None
            if not isinstance(node, cst.Assign) and isinstance(target, cst.Name) and target.value == name:
                return None
    return _assigned_once(name, ctx)


def _power_by_log(argument, ctx) -> bool:
    """``alpha * log(x)`` (either order, or ``log(x) * alpha``): the exponent of ``x ** alpha``
    written through exp, with ``alpha`` a host number."""
    if not isinstance(argument, cst.BinaryOperation) or not isinstance(argument.operator, cst.Multiply):
        return False
    for scale, other in ((argument.left, argument.right), (argument.right, argument.left)):
        if ctx.facts(scale).taint or not isinstance(other, cst.Call):
            continue
        op = ctx.op(other)
        if op is not None and op.name in LOG_OPS:
            return True
    return False


def _geometric_denominator(denominator, ctx) -> bool:
    """``area_a + area_b - inter``, ``x2 - x1``, ``matmul(K, v)``: a difference of two tensors or a
    matrix product. On the real code we judged, every such denominator was positive by its
    construction (a union contains each box, an enclosing box its parts, a kernel matrix is
    positive); ``1 - p`` (a literal minus a probability) is not one of them."""
    return _geometric(denominator, ctx, depth=0)


_MIN_REDUCE = MIN_REDUCE_OPS | {"nanmin"}  # as MAX_REDUCE_OPS has nanmax


def _reduced_by(node, names, ctx) -> bool:
    """``K.max(x)``, ``x.amax(dim=1)``: a reduction of one of ``names`` (not the elementwise
    ``torch.max(x2, y2)`` of an enclosing box's corner)."""
    op = ctx.op(node) if isinstance(node, cst.Call) else None
    return op is not None and op.name in names and op.args and (
        len(op.args) == 1 or ctx.facts(op.args[1]).literal is not None)


def _geometric(node, ctx, depth: int, products: bool = True) -> bool:
    """See ``_geometric_denominator``; also through a name assigned once in the loss (``union =
    area1 + area2 - inter``), a clamp of such a value, and a product of two of them or of their
    columns (``area = wh[..., 0] * wh[..., 1]`` with ``wh = (rb - lt).clamp(min=0)``)."""
    if depth > 6:
        return False
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
        if _reduced_by(node.left, MAX_REDUCE_OPS, ctx) and _reduced_by(node.right, _MIN_REDUCE, ctx):
            return False  # max(x) - min(x): the range of x, 0 for a constant x (min-max scaling)
        return _tensor_like(ctx.facts(node.left)) and _tensor_like(ctx.facts(node.right))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
        return products
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        # union + smooth: a smoothing constant (0 included) or a hyperparameter added to such a value
        return any(_nonnegative_constant(ctx.facts(other)) and _geometric(inner, ctx, depth + 1, products)
                   for inner, other in ((node.left, node.right), (node.right, node.left)))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return _geometric(node.left, ctx, depth + 1, products) and _geometric(node.right, ctx, depth + 1, products)
    if isinstance(node, cst.Subscript):
        return _geometric(node.value, ctx, depth + 1, products)  # a column of widths and heights
    if isinstance(node, cst.Name):
        value = _assigned_once(node.value, ctx)
        return value is not None and _geometric(value, ctx, depth + 1, products)
    if isinstance(node, cst.Call):
        op = ctx.op(node)
        if op is not None and op.name in ("matmul", "mm", "bmm") and len(op.args) >= 2:
            return True
        if op is not None and op.name in SUM_OPS and op.args and _power_of_extent(op.args[0], ctx, depth + 1):
            # the squared diagonal of an enclosing box: a sum of squared extents clamped at 0
            return True
        return op is not None and op.name in ("clamp", "clip", "clamp_min") and bool(op.args) \
            and _geometric(op.args[0], ctx, depth + 1, products)
    return False


def _power_of_extent(node, ctx, depth: int) -> bool:
    """``pow((rb - lt).clamp(min=0), 2)``, ``square(wh)`` with ``wh`` such a clamp: a positive power
    of a clamped extent (not of a plain difference, which a good fit drives to 0)."""
    if depth > 6 or not isinstance(node, cst.Call):
        return False
    op = ctx.op(node)
    if op is None or not op.args:
        return False
    if op.name == "square" or (op.name in _POW_OPS and len(op.args) >= 2 and (ctx.facts(op.args[1]).literal or 0) > 0):
        base = op.args[0]
        if isinstance(base, cst.Name):
            base = _assigned_once(base.value, ctx)
        inner = ctx.op(base) if isinstance(base, cst.Call) else None
        return inner is not None and inner.name in ("clamp", "clip", "clamp_min") and bool(inner.args) \
            and _max_minus_min(inner.args[0], ctx)
    return False


def _max_minus_min(node, ctx) -> bool:
    """``rb - lt`` with ``rb = max(a, b)`` and ``lt = min(a, b)`` (elementwise): the extent of a box
    that encloses two others, at least either one's."""
    if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract)):
        return False

    def made_by(side, names):
        if isinstance(side, cst.Name):
            side = _assigned_once(side.value, ctx)
        op = ctx.op(side) if isinstance(side, cst.Call) else None
        return op is not None and op.name in names and len(op.args) >= 2

    return made_by(node.left, ("max", "maximum")) and made_by(node.right, ("min", "minimum"))


def _nonnegative_constant(facts) -> bool:
    """A number that is not negative: a literal >= 0, or a hyperparameter (positive by intent)."""
    return not facts.taint and not facts.shape and (facts.literal is None or facts.literal >= 0)


def _tensor_like(facts) -> bool:
    """A tensor, or what a helper we cannot see returned from tensors (``box_area(boxes)``)."""
    return bool(facts.taint) and not facts.shape and not facts.python_list


def _assigned_once(name: str, ctx):
    """The value of the one assignment ``name = value`` in the loss, or None."""
    values = [node.value for node in own_nodes(ctx.loss.node)
              if isinstance(node, cst.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0].target, cst.Name) and node.targets[0].target.value == name]
    return values[0] if len(values) == 1 else None


_LENGTH_TOKENS = frozenset({"len", "lens", "length", "lengths", "ilen", "olen", "ilens", "olens"})
_PREDICTED_TOKENS = frozenset({"pred", "preds", "predicted", "dur", "durs", "duration", "durations"})


def _names_a_length(name: str) -> bool:
    """``ilen``, ``olen``, ``text_lengths``, ``seq_len`` (not ``pred_lens``, a predicted duration).

        >>> _names_a_length("ilen"), _names_a_length("x_lengths"), _names_a_length("pred_lens")
        (True, True, False)
    """
    tokens = name_tokens(name)
    return bool(tokens & _LENGTH_TOKENS) and not tokens & _PREDICTED_TOKENS


_LENGTH_WORDS = ("length", "lens", "n_frames", "num_frames", "seq_len")


def _counts_valid_positions(denominator, facts, params=()) -> bool:
    """A count of valid positions from a padding mask or sequence lengths (no prediction in it):
    the lengths themselves, or a mask in a loss that takes the lengths (``mask = lengths_to_mask(
    lengths)``), which holds at least one step per sample."""
    if facts.taint - {TRUE, TENSOR}:
        return False
    text = _text(denominator).lower()
    if any(word in text for word in _LENGTH_WORDS):
        return True
    return "mask" in text and any(word in name.lower() for name in params for word in _LENGTH_WORDS)


def _raw_target(denominator, ctx) -> bool:
    """The target's own values, not a reduction of them (``(y_true - y_pred) / y_true``, MAPE):
    regression targets are 0 often enough that this is the classic division by zero."""
    targets = {name for name, taint in ctx.loss.param_taints.items() if taint == frozenset({TRUE})}
    stack, named = [denominator], False
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value in targets:
            named = True
        elif isinstance(node, cst.Call):
            op = ctx.op(node)
            if op is not None and (op.name in SUM_OPS or op.name in MEAN_OPS or op.name in SIZE_OPS
                                   or op.name in _NORM_OPS or op.name == "count_nonzero"
                                   or (op.name in NONNEG_LOSS_FUNCTIONS and not op.is_method
                                       and not _unreduced(op))):
                # a sum or count of the target: a data count; mean_absolute_error(y, zeros_like(y)),
                # the target's own scale (Theil's U), a mean over its entries
                return False
        stack.extend(_children(node))
    return named


_PRODUCT_OPS = frozenset({"multiply", "mul", "einsum", "matmul", "dot", "tensordot", "mm", "bmm", "inner"})


def _unreduced(op) -> bool:
    """A loss function called with ``reduction="none"``: elementwise, not a mean over entries."""
    reduction = op.kwargs.get("reduction")
    return reduction is not None and _text(reduction).strip("'\"") == "none"


def _multiplies_prediction(node, ctx) -> bool:
    """``node`` (through sums, differences and negations) is a factor of a product whose other
    factor carries the prediction's gradient: ``probs * log(target)``,
    ``einsum("bc,bc->b", probs, log(target))``, ``p * (log(p) - log(target))``."""
    inner = node
    for ancestor in reversed(ctx.ancestors):
        if ancestor is node:
            continue
        if isinstance(ancestor, (cst.UnaryOperation, cst.Subscript)) or (
                isinstance(ancestor, cst.BinaryOperation) and isinstance(ancestor.operator, (cst.Add, cst.Subtract))):
            inner = ancestor
            continue
        if isinstance(ancestor, cst.BinaryOperation) \
                and isinstance(ancestor.operator, (cst.Multiply, cst.MatrixMultiply)):
            other = ancestor.right if ancestor.left is inner else ancestor.left
            return _carries_prediction(ctx.facts(other))
        if isinstance(ancestor, cst.Call):
            op = ctx.op(ancestor)
            if op is None or op.name not in _PRODUCT_OPS:
                return False
            return any(_carries_prediction(ctx.facts(a)) for a in op.args if a is not inner)
        if not isinstance(ancestor, cst.Arg):
            return False
    return False


_ORDERING_OPS = _COMPARING_OPS - {"equal", "eq", "logical_and"}  # greater, less_equal, gt, le...


def _only_compared(node, ctx) -> bool:
    """``node`` (through arithmetic and elementwise maxima) is a side of a comparison,
    ``(d / d.max()) < radius``, ``torch.lt(d / m, r)``, ``(d / m).lt(r)``, ``torch.max(gt / pred,
    pred / gt) < 1.25``: the result is a boolean mask, which carries no gradient, and an inf or NaN
    there only compares False, so neither reaches the loss."""
    inner = node
    for ancestor in reversed(ctx.ancestors):
        if ancestor is node:
            continue
        if isinstance(ancestor, cst.Comparison):
            return all(isinstance(c.operator, _ORDERING) for c in ancestor.comparisons)
        if isinstance(ancestor, (cst.UnaryOperation, cst.ComparisonTarget, cst.Arg)) or (
                isinstance(ancestor, cst.BinaryOperation)
                and isinstance(ancestor.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide))):
            inner = ancestor
            continue
        if isinstance(ancestor, cst.Attribute) and ancestor.value is inner:
            inner = ancestor  # (d / m).lt(r): the method's receiver
            continue
        if isinstance(ancestor, cst.Call):
            op = ctx.op(ancestor)
            if op is None:
                return False
            if op.name in _ELEMENTWISE_EXTREMES and isinstance(inner, cst.Arg) \
                    and sum(a.keyword is None for a in ancestor.args) >= 2:
                inner = ancestor  # torch.max(gt / pred, pred / gt) < 1.25: still a value compared
                continue
            return op.name in _ORDERING_OPS and (isinstance(inner, cst.Arg) or ancestor.func is inner)
        return False
    return False


_ORDERING = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)
_ELEMENTWISE_EXTREMES = MAXIMUM_OPS | MINIMUM_OPS | {"max", "min"}


def _carries_prediction(facts) -> bool:
    return PRED in facts.taint and facts.has_grad


def _inside_arctan(ctx) -> bool:
    """The division is the argument of an arctangent (CIoU's aspect-ratio term)."""
    for ancestor in reversed(ctx.ancestors[-3:]):
        if isinstance(ancestor, cst.Call):
            op = ctx.op(ancestor)
            return op is not None and op.name in ("atan", "arctan")
    return False


def _text_of(node) -> str:
    return _text(node).replace(" ", "")


def _a_reciprocal(argument, ctx) -> bool:
    """``1 / mse``, ``255.0 ** 2 / mse``, ``self.max_val ** 2 / mse``: a positive constant over a
    value that is not negative is never 0 (it is inf where the value is 0, the division's own
    finding), so its log is not -inf. (Over a value that can be negative, ``1 / (p - t)``, the log
    is NaN there: still reported.)

        >>> import libcst as cst
        >>> from types import SimpleNamespace
        >>> from keras_bsguard.lint.facts import Facts, literal_facts
        >>> facts = {"mse": Facts(taint=frozenset({"pred"}), nonneg=True), "d": Facts(taint=frozenset({"pred"}))}
        >>> ctx = SimpleNamespace(facts=lambda n: facts.get(getattr(n, "value", None)) or literal_facts(float(n.value)))
        >>> [_a_reciprocal(cst.parse_expression(t), ctx) for t in ("1 / mse", "mse / 2", "1 / d")]
        [True, False, False]
    """
    if not (isinstance(argument, cst.BinaryOperation) and isinstance(argument.operator, cst.Divide)):
        return False
    if not _nonnegative(ctx.facts(argument.right)):
        return False
    numerator = argument.left
    if isinstance(numerator, (cst.Integer, cst.Float)):
        return float(numerator.evaluated_value) > 0
    if isinstance(numerator, cst.BinaryOperation) and isinstance(numerator.operator, cst.Power) \
            and isinstance(numerator.right, cst.Integer) and int(numerator.right.value) % 2 == 0 \
            and isinstance(numerator.left, (cst.Integer, cst.Float, cst.Name, cst.Attribute)):
        base = ctx.facts(numerator.left)  # MAX_I ** 2, self.max_val ** 2: the square of a setting
        return not base.taint and (base.literal is None or base.literal != 0)
    return False


def _is_one_plus_exp(argument, ctx) -> bool:
    if isinstance(argument, cst.BinaryOperation) and isinstance(argument.operator, cst.Add):
        return any(ctx.facts(side).exp_node is not None for side in (argument.left, argument.right))
    return False


def _is_self_normalisation(numerator, denominator, ctx) -> bool:
    """``p / sum(p, axis, keepdims=True)`` of predictions (probabilities renormalised), also with the
    sum reshaped back to a column (``p / reshape(reduce_sum(p, -1), (-1, 1))``)."""
    if not isinstance(denominator, cst.Call):
        return False
    op = ctx.op(denominator)
    while op is not None and op.name in REGROUPING_OPS and op.args and isinstance(op.args[0], cst.Call):
        denominator = op.args[0]  # reshape(sum(p), (-1, 1)): the same values, as a column
        op = ctx.op(denominator)
    if op is None or not op.args or (op.name not in SUM_OPS and op.name not in MAX_REDUCE_OPS):
        return False
    inner, outer = op.args[0], numerator
    return _same_text(inner, outer) and PRED in ctx.facts(outer).taint and TRUE not in ctx.facts(outer).taint



