"""BSG101 batch-loop."""

from __future__ import annotations

import re

import libcst as cst

from ..facts import PRED, TRUE, _OUTPUT_WORDS, _text
from ..losses import prepares_targets
from ..names import terminal_name
from ..module_index import local_bindings
from ..tree import children as tree_children
from ..tree import all_nodes, own_nodes
from ._tape import last_binding
from ._util import code_of
from .base import Rule
from ..lazy_re import compile_lazily

_UNSTACK_OPS = frozenset({"unstack", "unbind"})
_ROW_ITERATORS = frozenset({"zip", "enumerate", "reversed", "list", "tuple", "map", "sorted"})
# words of an attribute of the loss object named for the batch's samples (``self.sample_weights``,
# ``self.image_sizes``): one entry per row, not per level (not ``self.downsample_weights``)
_PER_SAMPLE_WORDS = frozenset({"batch", "sample", "samples", "example", "examples", "image", "images", "img",
                               "imgs", "length", "lengths", "lens", "size", "sizes", "seq", "seqs", "instance",
                               "instances", "item", "items", "row", "rows"})


class BatchLoop(Rule):
    """A Python ``for``/``while`` loop or comprehension whose trip count is the batch size, or a
    graph ``tf.while_loop`` whose counter runs to it (``lambda b, *args: b < batch_size``) or a
    ``jax.lax.fori_loop(0, batch_size, body, init)``.

    **Why it hurts training.** The loop is unrolled when the step is traced: the graph (and on
    JAX the compile time) grows with the batch size, every sample becomes its own small kernel
    launch, and a new batch size (the last partial batch) retraces the whole step.

    A ``tf.while_loop`` or ``fori_loop`` is not unrolled, but its body still runs once per sample, one sample
    after another: the step's time grows with the batch and nothing runs in parallel.

    **Instead** write the per-sample computation on the whole batch at once (broadcasting,
    ``axis=-1`` reductions), or use ``keras.ops.vectorized_map`` / ``tf.map_fn``.

    Before::

        def loss(y_true, y_pred):
            losses = []
            for i in range(y_true.shape[0]):
                losses.append(tf.reduce_mean(tf.square(y_true[i] - y_pred[i])))
            return tf.stack(losses)

    After::

        def loss(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    """

    code = "BSG101"
    name = "batch-loop"
    severity = "warning"
    summary = "Python loop over the batch dimension"
    node_types = (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp, cst.Call)
    statement_types = (cst.For, cst.While)

    def check_statement(self, statement, ctx) -> None:
        if isinstance(statement, cst.For):
            reason = for_loop_over_the_batch(statement, ctx)
            if reason:
                ctx.report(self, statement.iter, f"`for` loop {reason}: unrolled per sample when the step is traced")
                return
            host = _host_rows_per_sample_call(statement.iter, statement.target, statement.body, ctx)
            if host:
                ctx.report(self, statement.iter, f"`for` loop {host}")
        elif _mentions_batch_size(statement.test, ctx):
            ctx.report(self, statement.test, "`while` loop bounded by the batch size: runs once per sample")

    def check_node(self, node, ctx) -> None:
        if isinstance(node, cst.Call):
            if _graph_loop_over_the_batch(node, ctx):
                ctx.report(self, node, f"`{terminal_name(node.func)}` whose counter runs to the batch size: its body "
                                       "runs once per sample, one sample after another, in every step")
            return
        if not isinstance(node, cst.DictComp) and _checks_types_only(node.elt):
            return  # all([isinstance(f, Tensor) for f in fmap]): validates a structure, computes nothing
        if not isinstance(node, cst.DictComp) and _a_constant(node, ctx):
            return  # [SOS_token for _ in range(batch_size)]: B copies of one Python value, no work per sample
        comp_for = node.for_in
        while comp_for is not None:
            if _used_as_a_record(comp_for.target, node) or _indexes_a_later_axis(comp_for.target, node) \
                    or _keys_a_mapping(comp_for.target, node, ctx) \
                    or indexes_a_fixed_list(comp_for.iter, comp_for.target, node, ctx):
                return
            reason = batch_iteration(comp_for.iter, ctx, comp_for.target)
            if reason:
                if _feeds_target_assignment_only(node, ctx):
                    return  # [scores[i] for i in range(n)] passed to self.get_targets(...): the matcher's split
                ctx.report(self, comp_for.iter, f"comprehension {reason}: unrolled per sample when the step is traced")
                return
            host = _host_rows_per_sample_call(comp_for.iter, comp_for.target, node, ctx)
            if host:
                ctx.report(self, comp_for.iter, f"comprehension {host}")
                return
            comp_for = comp_for.inner_for_in


def for_loop_over_the_batch(statement: cst.For, ctx) -> str | None:
    """Why the ``for`` loop runs once per sample of the batch, or None (a loop over records,
    columns, the keys of a mapping, a list with ``None`` entries or a literal list's positions)."""
    if _used_as_a_record(statement.target, statement.body):
        return None  # for t in targets: t["labels"] -- a list of per-image dicts, not tensor rows
    if _indexes_a_later_axis(statement.target, statement.body):
        return None  # for i, out in enumerate(outputs): ... y_true[:, i] -- one task per column
    if _keys_its_own_container(statement.iter, statement.target, statement.body):
        return None  # for name in outputs: outputs[name] -- the keys of a mapping
    if _keys_a_mapping(statement.target, statement.body, ctx):
        return None  # for act in actions: self.action_map[act] -- names looked up, not tensor rows
    if _entries_may_be_none(statement.body):
        return None  # for i in range(len(t)): if t[i] is not None -- a list, tensor rows are never None
    if indexes_a_fixed_list(statement.iter, statement.target, statement.body, ctx):
        return None  # for i, out in enumerate(outputs): weights[i] * ... -- one weight per pyramid level
    reason = batch_iteration(statement.iter, ctx, statement.target) \
        or _range_over_indexed_rows(statement.iter, statement.target, statement.body, ctx) \
        or _index_picks_tensor_rows(statement.iter, statement.target, statement.body, ctx)
    if reason and _host_work_only(statement, ctx):
        return None  # for i in range(B): rows[i, :n] = np.array(reply[i]): host values only, no tensor op
    return reason


_HOST_NAMESPACES = frozenset({"numpy", "builtins"})


def _bound_names(target) -> set[str]:
    """The names an assignment binds: ``a``, ``a, (b, c)``; not ``a[i]`` or ``a.x``, which write into ``a``."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return set().union(*(_bound_names(e.value) for e in target.elements))
    return set()


def _host_work_only(loop: cst.For, ctx) -> bool:
    """Whether the loop's body runs only numpy and Python builtins on values that are not device
    tensors (a server's reply parsed into host arrays, one row each): no tensor op per sample.

        >>> import libcst as cst
        >>> loop = cst.parse_statement("for i in range(n):\\n    rows[i] = np.array(reply[i])\\n")
        >>> class Ctx:
        ...     evaluator = type("Evaluator", (), {"env": {}})
        ...     def op(self, call):
        ...         return None
        >>> _host_work_only(loop, Ctx())  # a call it cannot resolve: not known to be host work
        False
    """
    local = set()
    for node in own_nodes(loop):
        if isinstance(node, (cst.AssignTarget, cst.For)):
            local |= _bound_names(node.target)
    # the environment as the loop starts, read without evaluating the body's nodes (their facts
    # are computed, and kept, only when the walk reaches them, after the writes before them)
    env = ctx.evaluator.env
    ranged = isinstance(loop.iter, cst.Call) and isinstance(loop.iter.func, cst.Name) and loop.iter.func.value == "range"
    if not ranged and any(isinstance(n, cst.Name) and n.value in env and env[n.value].is_tensor
                          and not env[n.value].on_host for n in own_nodes(loop.iter)):
        return False  # for i, row in enumerate(y_pred): each row is a device tensor
    for node in own_nodes(loop.body):
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
            return False  # self.prototypes[label]: a module's buffer may live on the device
        if isinstance(node, (cst.AssignTarget, cst.AugAssign)) and isinstance(node.target, (cst.Subscript, cst.Attribute)):
            base = node.target.value
            if not (isinstance(base, cst.Name) and base.value in env and _numpy_array(base, env, ctx)):
                return False  # soft[i, label] = p: a write into a tensor (or an object) per sample
        if isinstance(node, cst.Call):
            op = ctx.op(node)
            if op is None or op.is_method or op.namespace.split(".")[0] not in _HOST_NAMESPACES:
                return False
        elif isinstance(node, cst.Name) and node.value not in local and node.value in env:
            facts = env[node.value]
            if facts.is_tensor and not facts.on_host:
                return False
    return True


def _numpy_array(name: cst.Name, env, ctx) -> bool:
    """A host array numpy made (``np.full(...)``), not a host torch tensor (written in place, each
    write is still a tensor op)."""
    binding = last_binding(name, ctx)
    op = ctx.op(binding) if isinstance(binding, cst.Call) else None
    return env[name.value].on_host and op is not None and op.namespace.split(".")[0] == "numpy"


def _a_constant(comprehension, ctx) -> bool:
    """The comprehension's element is a literal, or a name holding a Python value that none of
    its loops binds (``[SOS_token for _ in range(B)]``)."""
    element = comprehension.elt
    if isinstance(element, (cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if not isinstance(element, cst.Name):
        return False
    bound, comp_for = set(), comprehension.for_in
    while comp_for is not None:
        bound |= {n.value for n in _names_in(comp_for.target)}
        comp_for = comp_for.inner_for_in
    return element.value not in bound and not ctx.facts(element).taint


_TYPE_CHECKS = frozenset({"isinstance", "type", "hasattr", "callable", "issubclass"})


def _checks_types_only(element) -> bool:
    """``isinstance(f, torch.Tensor)``, ``x is None``, ``type(x)``: a test of what an entry is,
    which runs on the host, not work on the entry's values."""
    if isinstance(element, cst.Comparison):
        return all(isinstance(c.operator, (cst.Is, cst.IsNot)) for c in element.comparisons)
    if isinstance(element, cst.UnaryOperation) and isinstance(element.operator, cst.Not):
        return _checks_types_only(element.expression)
    return isinstance(element, cst.Call) and isinstance(element.func, cst.Name) and element.func.value in _TYPE_CHECKS


_NOT_A_ROW = _OUTPUT_WORDS  # for scale_pred in y_pred: the outputs of a deep-supervised model


# a list named for the levels of a multi-scale output: ``pyramid_flows``, ``multiscale_preds``
_LEVELS_NAME = compile_lazily(r"(^|_)(pyramids?|multi_?scales?|levels|scales|stages)(_|$)", re.IGNORECASE)


def batch_iteration(iterable, ctx, target=None) -> str | None:
    """Why iterating ``iterable`` walks the batch, or None.

    A loop variable named for an output (``for scale_pred in y_pred``) walks a list of outputs
    (deep supervision), not the rows of one tensor."""
    if isinstance(target, cst.Name) and any(word in target.value.lower() for word in _NOT_A_ROW) \
            and isinstance(iterable, cst.Name):
        return None
    iterated = iterable.args[0].value if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) \
        and iterable.func.value == "enumerate" and iterable.args else iterable
    if _a_literal_prefix(iterated) or (isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name)
                                       and iterable.func.value == "zip"
                                       and any(_a_literal_prefix(a.value) for a in iterable.args)):
        return None  # for p, t in zip(pred[:3], target[:3]): three rows at most, whatever the batch size
    if isinstance(iterated, (cst.Name, cst.Attribute)) and _LEVELS_NAME.search(terminal_name(iterated) or "") \
            and (ctx.facts(iterated).maybe_list or ctx.facts(iterated).python_list):
        return None  # for i, flow in enumerate(pyramid_flows): the levels of a multi-scale output
    if isinstance(iterable, cst.Call):
        op = ctx.op(iterable)
        if op is not None:
            if op.name in ("range", "arange"):
                step = op.arg(2, "step")
                if step is not None and _chunk_step(step, ctx):
                    return None  # range(0, B, chunk_size): a loop over memory chunks, not over samples
                for arg in op.args:
                    facts = ctx.facts(arg)
                    if (facts.batch_dim or facts.batch_constant) and not _counts_levels(arg):
                        return f"over `{code_of(iterable)}` (the batch size)"
                return None
            if op.namespace == "builtins" and op.name in _ROW_ITERATORS:
                zipped = op.name == "zip" and len(op.args) >= 2
                if zipped and any(_a_fixed_sequence(arg, ctx) for arg in op.args):
                    return None  # zip stops at its shortest: a list of losses, heads or weights
                for arg in op.args:
                    facts = ctx.facts(arg)
                    # a singular tensor name (``target``) is a tensor, in zip and enumerate alike
                    rows = facts.is_tensor and not facts.no_batch_axis and not facts.on_host \
                        and not facts.network_output and not _batch_moved_off_rows(facts) and (
                        not facts.maybe_list or ((zipped or op.name == "enumerate") and facts.named_tensor))
                    if (rows or facts.batch_rows) and not isinstance(arg, (cst.Lambda,)):
                        return f"over the rows of `{code_of(arg)}`"
                return None
            if op.name in _UNSTACK_OPS:
                axis = op.arg(1, "axis", "dim")
                if axis is None or ctx.facts(axis).literal == 0:
                    return f"over `{code_of(iterable)}` (one tensor per sample)"
                return None
    facts = ctx.facts(iterable)
    if facts.batch_range:
        return f"over `{code_of(iterable)}` (a range over the batch size)"
    if facts.batch_rows:
        return f"over `{code_of(iterable)}` (one tensor per sample)"
    if facts.is_tensor and not facts.maybe_list and not facts.no_batch_axis and not facts.network_output \
            and not facts.on_host and not _batch_moved_off_rows(facts) \
            and not isinstance(iterable, (cst.List, cst.Tuple, cst.Set, cst.Dict)):
        return f"over the rows of `{code_of(iterable)}`"
    return None


def _a_literal_prefix(node) -> bool:
    """``x[:3]``, ``x[0:4]``: at most a literal number of rows (not ``x[1:]`` or ``x[:-1]``).

        >>> import libcst as cst
        >>> _a_literal_prefix(cst.parse_expression("x[:3]")), _a_literal_prefix(cst.parse_expression("x[1:]"))
        (True, False)
    """
    if not isinstance(node, cst.Subscript) or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
        return False
    bounds = node.slice[0].slice
    return isinstance(bounds.upper, cst.Integer) and (bounds.lower is None or isinstance(bounds.lower, cst.Integer)) \
        and bounds.step is None


def _batch_moved_off_rows(facts) -> bool:
    """The tensor's batch axis is known to sit after axis 0 (``stack(per_sample, dim=1)``, a
    time-major ``(T, B)``): its rows are not samples."""
    axis = facts.batch_axis
    return axis is not None and isinstance(axis[0], int) and axis[0] >= 1


# a count named for what it counts: pyramid scales, levels, stages, views (``num_scales``, ``n_levels``)
_LEVEL_COUNT = compile_lazily(r"^(num|n|nb|number_of|len)_?(scales?|levels?|stages?|layers?|heads?|views?|crops?|"
                              r"pyramids?|outputs?|iters?|iterations?)$", re.IGNORECASE)


def _counts_levels(arg) -> bool:
    """``range(num_scales)``: the trip count is named for pyramid levels or stages, not samples."""
    return isinstance(arg, (cst.Name, cst.Attribute)) and bool(_LEVEL_COUNT.match(terminal_name(arg)))


def _feeds_target_assignment_only(node, ctx) -> bool:
    """The comprehension is assigned to a name that is read only as an argument of target
    assignment (``get_targets``, ``assign``, ``match``: per-image matching against ragged ground
    truth, which needs the per-image views; the loss itself is then computed on whole tensors)."""
    name = None
    for statement in own_nodes(ctx.loss.node):
        if isinstance(statement, cst.Assign) and statement.value is node and len(statement.targets) == 1 \
                and isinstance(statement.targets[0].target, cst.Name):
            name = statement.targets[0].target.value
            break
    if name is None:
        return False
    uses = [n for n in own_nodes(ctx.loss.node) if isinstance(n, cst.Name) and n.value == name]
    consumers = []
    for candidate in own_nodes(ctx.loss.node):
        if isinstance(candidate, cst.Call) and any(arg.value is use for arg in candidate.args for use in uses):
            consumers.append(candidate)
    used_as_arguments = sum(1 for call in consumers for arg in call.args
                            if isinstance(arg.value, cst.Name) and arg.value.value == name)
    if not consumers or used_as_arguments != len(uses) - 1:  # (minus the assignment's own target)
        return False
    return all(prepares_targets(callee_name(call)) for call in consumers)


def callee_name(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else ""


def _graph_loop_over_the_batch(call: cst.Call, ctx) -> bool:
    """``tf.while_loop(lambda b, *args: b < m, body, [0, acc])`` with ``m`` the batch size (or a
    ``cond`` function of the loss returning ``i < batch_size``), or ``jax.lax.fori_loop(0, m, body,
    init)``: a graph loop, one trip per sample.

        >>> import libcst as cst
        >>> test = _cond_test(cst.parse_expression("tf.while_loop(lambda b, *a: b < m, body, [0, t])"), None)
        >>> test.comparisons[0].comparator.value
        'm'
    """
    if terminal_name(call.func) == "fori_loop":
        # jax.lax.fori_loop(0, B, body, init): the upper bound is the trip count
        upper = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "upper"), None)
        if upper is None and len(call.args) > 1 and call.args[1].keyword is None:
            upper = call.args[1].value
        return upper is not None and ctx is not None and ctx.facts(upper).batch_dim
    if terminal_name(call.func) != "while_loop":
        return False
    test = _cond_test(call, ctx)
    return test is not None and _mentions_batch_size(test, ctx)


def _cond_test(call: cst.Call, ctx):
    """The expression the ``cond`` of a ``while_loop`` call returns, or None."""
    cond = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "cond"), None)
    if cond is None and call.args and call.args[0].keyword is None:
        cond = call.args[0].value
    if isinstance(cond, cst.Lambda):
        return cond.body
    if isinstance(cond, cst.Name) and ctx is not None:
        for node in all_nodes(ctx.loss.node):
            if isinstance(node, cst.FunctionDef) and node is not ctx.loss.node and node.name.value == cond.value:
                body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
                last = body[-1] if body else None
                if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return):
                    return last.body[0].value
    return None


_LESS_THAN_OPS = frozenset({"less", "less_equal", "greater", "greater_equal", "not_equal"})


def _mentions_batch_size(test, ctx) -> bool:
    if isinstance(test, cst.Call) and terminal_name(test.func) in _LESS_THAN_OPS and len(test.args) == 2:
        return any(ctx.facts(a.value).batch_dim for a in test.args)  # tf.less(i, batch_size)
    if isinstance(test, cst.Comparison):
        parts = [test.left, *(c.comparator for c in test.comparisons)]
        return any(ctx.facts(p).batch_dim for p in parts)
    if isinstance(test, cst.BooleanOperation):
        return _mentions_batch_size(test.left, ctx) or _mentions_batch_size(test.right, ctx)
    return False


def _chunk_step(step, ctx) -> bool:
    """The step of a loop over chunks of the batch: a literal of more than a few samples, or a
    name that says chunk or size (``range(0, B, chunk_size)``); ``range(0, n, B)`` with ``B``
    boxes per cell, or a step of 2 (pairs), still walks the samples."""
    literal = ctx.facts(step).literal
    if literal is not None:
        return abs(literal) > _SAMPLE_STEP
    name = code_of(step).split(".")[-1].lower()
    return bool(_CHUNK_NAME.search(name))


_SAMPLE_STEP = 4
_CHUNK_NAME = compile_lazily(r"chunk|batch|block|micro|split|size|window|bucket")


def _range_over_indexed_rows(iterable, target, body, ctx) -> str | None:
    """``for i in range(len(x)): ... x[i, :, :]``: indexed by a tuple, ``x`` is a tensor (a Python
    list of them would not take one), and the loop walks its first axis, the batch."""
    if not (isinstance(iterable, cst.Call) and isinstance(target, cst.Name)):
        return None
    op = ctx.op(iterable)
    if op is None or op.name != "range" or len(op.args) != 1 or not isinstance(op.args[0], cst.Call):
        return None
    inner = ctx.op(op.args[0])
    if inner is None or inner.name != "len" or not inner.args or not isinstance(inner.args[0], cst.Name):
        return None
    name = inner.args[0].value
    facts = ctx.facts(inner.args[0])
    if not facts.is_tensor or facts.no_batch_axis:
        return None
    for node in _subscripts(body):
        if isinstance(node.value, cst.Name) and node.value.value == name \
                and len(node.slice) >= 2 and isinstance(node.slice[0].slice, cst.Index) \
                and isinstance(node.slice[0].slice.value, cst.Name) and node.slice[0].slice.value.value == target.value:
            return f"over `{code_of(iterable)}` (the rows of a tensor indexed as `{name}[{target.value}, ...]`)"
    return None


def _index_picks_tensor_rows(iterable, target, body, ctx) -> str | None:
    """``for i, t in enumerate(kinds): ... s_pos[i]``: the loop's index picks rows of a tensor
    that has the batch axis, so the loop runs once per sample, whatever list it walks."""
    if not isinstance(iterable, cst.Call):
        return None
    op = ctx.op(iterable)
    if op is None or op.namespace != "builtins" or op.name != "enumerate" or len(op.args) != 1:
        return None
    if _a_fixed_sequence(op.args[0], ctx) or not isinstance(target, (cst.Tuple, cst.List)) or not target.elements:
        return None
    index = target.elements[0].value
    if not isinstance(index, cst.Name):
        return None
    for node in _subscripts(body):
        if node.slice and isinstance(node.slice[0].slice, cst.Index) \
                and isinstance(node.slice[0].slice.value, cst.Name) and node.slice[0].slice.value.value == index.value:
            facts = ctx.facts(node.value)
            if facts.is_tensor and not facts.maybe_list and not facts.no_batch_axis and not facts.python_list:
                return f"over `{code_of(op.args[0])}`, whose index picks the rows of `{code_of(node.value)}`"
    return None


def _a_fixed_sequence(arg, ctx) -> bool:
    """A sequence whose length is fixed by the code, not the batch: an attribute of the loss
    object (``self.loss_fns``) or a literal list. (Lists of per-image tensors passed in are the
    batch, one image at a time.)"""
    if isinstance(arg, (cst.List, cst.Tuple)):
        return True
    if isinstance(arg, cst.Name) and arg.value not in ctx.loss.param_taints:
        facts = ctx.facts(arg)
        if facts.python_list and not facts.taint and not facts.shape:
            return True  # an element of self.loss_fns (itself a list of losses): host values only
    return isinstance(arg, cst.Attribute) and isinstance(arg.value, cst.Name) and arg.value.value in ("self", "cls") \
        and not ctx.facts(arg).is_tensor


def _indexes_a_later_axis(target, scope) -> bool:
    """The loop variable indexes a tensor after a full slice (``y_true[:, i]``): the loop walks
    the columns (tasks, classes, channels), whose count is fixed by the model, not the batch."""
    names = {n.value for n in _names_in(target)}
    return bool(names) and any(
        len(node.slice) >= 2 and isinstance(node.slice[0].slice, cst.Slice)
        and node.slice[0].slice.lower is None and node.slice[0].slice.upper is None
        and any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name)
                and e.slice.value.value in names for e in node.slice[1:])
        for node in _subscripts(scope))


def indexes_a_fixed_list(iterable, target, scope, ctx) -> bool:
    """The loop's counter indexes a sequence whose length the code fixes (``for i, out in
    enumerate(outputs)``, ``weights = [0.32, 0.16, 0.08]``, ``weights[i]``): a list of numbers written
    in the loss or at module level (not one a parameter or local of the loss shadows), or a host
    attribute of the loss object (``self.level_weights[i]``, ``self.anchors[i]``). The loop runs at
    most as many times as that sequence is long, a count of pyramid levels, heads or
    deep-supervision outputs, not the batch size. Only for ``enumerate(x)`` and ``range(len(x))``:
    ``range(x.shape[0])`` names the batch axis whatever it indexes. An element of the loop (a
    label: ``class_weights[t]``) proves nothing."""
    callee = callee_name(iterable) if isinstance(iterable, cst.Call) else ""
    if callee == "enumerate" and isinstance(target, (cst.Tuple, cst.List)) and target.elements:
        names = {n.value for n in _names_in(target.elements[0].value)}
    elif callee == "range" and isinstance(target, cst.Name) and len(iterable.args) == 1 \
            and isinstance(iterable.args[0].value, cst.Call) and callee_name(iterable.args[0].value) == "len":
        names = {target.value}  # range(len(outputs)), not range(x.shape[0]): that one is the batch axis
    else:
        return False
    if not names:
        return False
    bound = set(local_bindings(ctx.loss.node)) if isinstance(ctx.loss.node, cst.FunctionDef) else set()
    module_lists = _literal_number_lists(statement for line in getattr(ctx.index.module, "body", ())
                                         if isinstance(line, cst.SimpleStatementLine) for statement in line.body)
    literal_lists = _literal_number_lists(own_nodes(ctx.loss.node)) | (module_lists - bound - set(ctx.loss.param_taints))
    return any(
        _a_fixed_host_sequence(node.value, literal_lists, ctx)
        and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
        and isinstance(node.slice[0].slice.value, cst.Name) and node.slice[0].slice.value.value in names
        for node in _subscripts(scope))


def _literal_number_lists(nodes) -> set[str]:
    """The names that ``nodes`` bind to a literal list or tuple of numbers (``weights = [1, .5]``)."""
    return {t.target.value for node in nodes if isinstance(node, cst.Assign)
            and isinstance(node.value, (cst.List, cst.Tuple)) and node.value.elements
            and all(isinstance(e.value, (cst.Integer, cst.Float)) for e in node.value.elements)
            for t in node.targets if isinstance(t.target, cst.Name)}


def _a_fixed_host_sequence(node, literal_lists, ctx) -> bool:
    """A literal list, a name bound to a list of numbers, or an attribute of the loss object that
    holds no tensor of the batch (``self.level_weights``: set in ``__init__``), is not named for the
    samples (``self.image_sizes``), is not bound by the loss itself and is filled by no setter of
    the class from its parameters (``def set_lengths(self, lengths)``)."""
    if isinstance(node, (cst.List, cst.Tuple)):
        return True
    if isinstance(node, cst.Name):
        return node.value in literal_lists
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value in ("self", "cls"):
        facts = ctx.facts(node)
        attribute = node.attr.value
        if facts.taint or facts.is_tensor or _PER_SAMPLE_WORDS & set(attribute.lower().split("_")) \
                or _assigned_in(attribute, ctx.loss.node):
            return False
        owner = ctx.loss.info.class_info if ctx.loss.info is not None else None
        return owner is None or not any(_assigned_in(attribute, method.node, from_parameters=True)
                                        for name, method in owner.methods.items() if name != "__init__")
    return False


def _assigned_in(attribute: str, function, from_parameters: bool = False) -> bool:
    """The function binds ``self.<attribute>`` itself (``self.distances = [[0] * len(target) ...]``:
    a list it sizes from the batch, not one fixed when the object was built); with
    ``from_parameters``, only from a value that reads one of its parameters (a setter another
    method has, ``def set_lengths(self, lengths): self.lengths = lengths.tolist()``: data handed in
    with each batch)."""
    params = {p.name.value for p in (*function.params.params, *function.params.kwonly_params)} - {"self", "cls"} \
        if from_parameters and isinstance(function, cst.FunctionDef) else set()
    for node in own_nodes(function):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else \
            [node.target] if isinstance(node, (cst.AugAssign, cst.AnnAssign)) else []
        if any(isinstance(t, cst.Attribute) and t.attr.value == attribute for t in targets):
            if not from_parameters:
                return True
            value = getattr(node, "value", None)
            if value is not None and any(isinstance(n, cst.Name) and n.value in params for n in all_nodes(value)):
                return True
    return False


# builtins that read a host row as bookkeeping (``int(row.sum())``), not per-sample work
_BOOKKEEPING_CALLS = frozenset({"int", "float", "bool", "len", "str", "list", "tuple", "print", "isinstance",
                                "range", "enumerate", "zip", "min", "max", "sum", "abs", "round", "repr", "format"})


def _host_rows_per_sample_call(iterable, target, scope, ctx) -> str | None:
    """``[dist_map(y) for y in y_true.cpu().numpy()]``: the rows of a host copy of the loss's
    batch handed one by one to a function (a distance transform, a dynamic program). The copy's
    sync is BSG701's; the per-sample host work on every step, which no compiler can batch, is this
    rule's. Bookkeeping on the rows (``int(row.sum())``) is not reported."""
    facts = ctx.facts(iterable)
    if not facts.on_host or facts.values_of is None or facts.no_batch_axis:
        return None
    source = ctx.facts(cst.Name(facts.values_of))
    if not (source.is_tensor and source.taint & {PRED, TRUE}) or source.no_batch_axis or source.maybe_list \
            and not source.named_tensor:
        return None
    rows = {name.value for name in _names_in(target)}
    for node in own_nodes(scope):
        if not isinstance(node, cst.Call) or isinstance(node.func, cst.Attribute) and _row_method(node.func, rows):
            continue
        if isinstance(node.func, cst.Name) and node.func.value in _BOOKKEEPING_CALLS:
            continue
        if any(isinstance(arg.value, cst.Name) and arg.value.value in rows for arg in node.args):
            return (f"over the rows of `{code_of(iterable)}` (a host copy of `{facts.values_of}`) calls "
                    f"`{code_of(node.func)}` once per sample: host work on every step, one sample at a time")
    return None


def _row_method(func: cst.Attribute, rows: set[str]) -> bool:
    """``row.sum()``: a method of the row itself."""
    return isinstance(func.value, cst.Name) and func.value.value in rows


def _used_as_a_record(target, scope) -> bool:
    """A loop variable read with string keys (``t["labels"]``): its elements are dicts, not rows."""
    names = {n.value for n in _names_in(target)}
    return bool(names) and any(
        isinstance(node.value, cst.Name) and node.value.value in names
        and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
        and isinstance(node.slice[0].slice.value, (cst.SimpleString, cst.ConcatenatedString))
        for node in _subscripts(scope))


def _keys_its_own_container(iterable, target, scope) -> bool:
    """``for k in outputs: ... outputs[k]``: the loop variable is a key into the iterated value
    itself, so that value is a mapping (a tensor's rows are never its own indices)."""
    if not isinstance(target, cst.Name) or not isinstance(iterable, (cst.Name, cst.Attribute, cst.Subscript)):
        return False
    container = _text(iterable)
    return any(len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
               and isinstance(node.slice[0].slice.value, cst.Name) and node.slice[0].slice.value.value == target.value
               and _text(node.value) == container
               for node in _subscripts(scope))


# a container named as a mapping from names to ids: ``self.action_map``, ``word2id``, ``vocab``
_MAPPING_NAME = compile_lazily(r"(map|mapping|dict|lookup|vocab|2id|2idx|to_?ids?|to_?idx|to_?index)$", re.IGNORECASE)


def _keys_a_mapping(target, scope, ctx=None) -> bool:
    """Every use of the loop variable is as the key of a mapping (``self.action_map[act]``,
    ``{"a": 0}[name]``): its values are names or ids (a tensor is hashed by identity, so its rows
    would never be found there), and the loop builds Python values, not per-sample tensors. A
    container the loss knows as a tensor (``density_map[i]`` of a prediction) is no mapping.

        >>> import libcst as cst
        >>> comp = cst.parse_expression("[self.action_map[a] for a in actions]")
        >>> _keys_a_mapping(comp.for_in.target, comp)
        True
        >>> comp = cst.parse_expression("[self.action_map[a] + a.sum() for a in actions]")
        >>> _keys_a_mapping(comp.for_in.target, comp)
        False
    """
    if not isinstance(target, cst.Name):
        return False
    keyed = 0
    for node in _subscripts(scope):
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
                and isinstance(node.slice[0].slice.value, cst.Name) and node.slice[0].slice.value.value == target.value \
                and (isinstance(node.value, cst.Dict) or _MAPPING_NAME.search(terminal_name(node.value) or "")):
            if ctx is not None and ctx.facts(node.value).taint:
                return False  # pred_heatmap[b], density_map[i]: rows of a tensor of the loss
            keyed += 1
    uses = sum(1 for node in own_nodes(scope)
               if isinstance(node, cst.Name) and node.value == target.value and node is not target)
    return keyed > 0 and uses == keyed


def _entries_may_be_none(scope) -> bool:
    """The body tests an indexed entry against None (``t[i] is not None``): what is indexed is a
    Python list (per-cluster targets, optional outputs); a tensor's rows are never None."""
    stack = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Comparison) and isinstance(node.left, cst.Subscript) and any(
                isinstance(c.operator, (cst.Is, cst.IsNot)) and isinstance(c.comparator, cst.Name)
                and c.comparator.value == "None" for c in node.comparisons):
            return True
        stack.extend(tree_children(node))
    return False


def _subscripts(scope):
    """Every subscript (``x[...]``) under ``scope``."""
    stack = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Subscript):
            yield node
        stack.extend(tree_children(node))


def _names_in(target):
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _names_in(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _names_in(target.value)
