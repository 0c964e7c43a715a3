"""Interprocedural summaries: the facts of a same-file helper's return value, given its arguments.

When a loss calls a helper of the same file (``self.rho(diff)``, ``_pairwise(x)``,
``MyLoss._norm(x)``), the evaluator asks for a summary: the helper's body is walked once more with
the facts of the arguments bound to its parameters, no rule attached, and the facts of its
``return`` values joined. Facts flow both ways: arguments in, return value out.

    >>> import libcst as cst
    >>> from keras_bsguard.lint.module_index import ModuleIndex
    >>> from keras_bsguard.lint.losses import find_losses
    >>> from keras_bsguard.lint.engine import analyze_loss
    >>> from keras_bsguard.lint.rules import select_rules
    >>> source = (
    ...     "import tensorflow as tf\\n"
    ...     "def rho(x):\\n    return tf.abs(x)\\n"
    ...     "def loss(y_true, y_pred):\\n    return tf.reduce_sum(rho(y_true - y_pred))\\n")
    >>> index = ModuleIndex.build(cst.parse_module(source))
    >>> [r.code for r, *_ in analyze_loss(find_losses(index)[0], index, select_rules(["BSG501"]))]
    ['BSG501']
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from .facts import Facts, _join
from .module_index import FunctionInfo, ModuleIndex

MAX_DEPTH = 3  # helper calling helper calling helper; deeper calls stay opaque


class HelperSummaries:
    """Return-value summaries of one module's helpers, shared by every loss of the module."""

    def __init__(self, index: ModuleIndex, batch_sizes: set[int]) -> None:
        self.index = index
        self.batch_sizes = batch_sizes
        self._cache: dict[tuple, Facts | None] = {}
        self._active: list[int] = []

    def for_owner(self, owner: FunctionInfo | None):
        """The ``summarize`` callback of an evaluator running inside ``owner``."""
        return lambda call, evaluator: self.summarize(call, evaluator, owner)

    def summarize(self, call: cst.Call, evaluator, owner: FunctionInfo | None) -> Facts | None:
        callee = self._callee(call, owner)
        if callee is None or id(callee.node) in self._active or len(self._active) >= MAX_DEPTH:
            return None
        bound = self._bind_arguments(callee, call, evaluator)
        if bound is None:
            return None
        key = (id(callee.node), tuple((name, _signature(facts)) for name, facts in sorted(bound.items())))
        if key in self._cache:
            return self._cache[key]
        self._active.append(id(callee.node))
        try:
            result = self._walk(callee, bound)
        finally:
            self._active.pop()
        self._cache[key] = result
        return result

    def _callee(self, call: cst.Call, owner: FunctionInfo | None) -> FunctionInfo | None:
        func = call.func
        found: list[FunctionInfo] = []
        if isinstance(func, cst.Name):
            scope = owner
            while scope is not None and not found:  # nested defs of the enclosing functions first
                found = [f for f in scope.nested if f.name == func.value]
                scope = scope.parent
            found = found or self.index.functions_named(func.value) \
                or self.index.given_by_default(owner.node if owner is not None else None, func.value)
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            receiver = func.value.value
            if receiver in ("self", "cls") and owner is not None and owner.class_info is not None:
                found = owner.class_info.methods_behind(func.attr.value)
            elif receiver in self.index.classes:  # MyLoss._pairwise(x)
                method = self.index.classes[receiver].methods.get(func.attr.value)
                found = [method] if method is not None else []
        return found[0] if len(found) == 1 else None

    def _bind_arguments(self, callee: FunctionInfo, call: cst.Call, evaluator) -> dict[str, Facts] | None:
        params = [*callee.node.params.posonly_params, *callee.node.params.params]
        if params and params[0].name.value in ("self", "cls") and callee.class_info is not None:
            params = params[1:]
        bound: dict[str, Facts] = {}
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in call.args):
            return None
        for param, arg in zip(params, positional):
            bound[param.name.value] = evaluator.facts(arg.value)
        names = {p.name.value for p in [*params, *callee.node.params.kwonly_params]}
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in names:
                bound[arg.keyword.value] = evaluator.facts(arg.value)
        return bound

    def _walk(self, callee: FunctionInfo, bound: dict[str, Facts]) -> Facts | None:
        from .engine import LossContext, _Walker, one_example_per_call, sized_by_a_table_count
        from .facts import Evaluator
        from .losses import LossFunction
        from .module_index import block_statements
        from .names import decorated_no_grad

        evaluator = Evaluator(self.index.imports, {}, self.index.int_constants, self.batch_sizes,
                              summarize=self.for_owner(callee))
        evaluator.runtime_attributes = self.index.runtime_batch_attributes()
        evaluator.layer_attributes = self.index.layer_attributes()
        evaluator.env.update(bound)
        # mapped over the batch (``@partial(jax.vmap, in_axes=(None, 0, 0))``, ``jax.vmap(helper)``):
        # the helper sees one example per call, and its sums are over that example's values
        sized_by_a_table_count(callee.node, evaluator.env)
        # decorated to map over the batch (``@partial(jax.vmap, in_axes=(None, 0, 0))``): the helper
        # sees one example per call; a helper mapped by a call elsewhere may also be called directly
        per_example = one_example_per_call(callee.node, evaluator.env, index=self.index)
        loss = LossFunction(callee.display_name, callee.node, "helper", callee)
        walker = _Walker(LossContext(loss, self.index, evaluator), rules=())
        walker.returns = []
        walker.block(block_statements(callee.node.body), body=True)
        if not walker.returns:
            return None
        result = walker.returns[0]
        for facts in walker.returns[1:]:
            result = _join(result, facts)
        if decorated_no_grad(callee.node) and result.taint:
            result = replace(result, nograd=True)  # @torch.no_grad(): what it returns has no gradient
        if per_example and result.is_tensor:
            # its sums are over one example's values; what the call returns holds one value per
            # example: the batch axis is back (a caller's sum of it is a batch sum)
            result = replace(result, batch_sum=None, no_batch_axis=False)
        return result


def _signature(facts: Facts) -> tuple:
    """The part of a fact set that changes what a helper computes (hashable, node-free)."""
    return (facts.taint, facts.guarded, facts.nonneg, facts.nonpos, facts.bounded, facts.unit, facts.probability,
            facts.nograd, facts.shape, facts.batch_dim, facts.maybe_list, facts.python_list, facts.error,
            facts.magnitude, facts.literal, facts.transposed, facts.expanded_axis, facts.opaque)
