"""Run the selected rules over the body of one loss, in program order.

Statements are walked in order so that a name's facts are those of its latest assignment; each
statement's expressions are walked before its targets are bound.  Rules see every node of the
types they subscribe to, with ``ctx.ancestors`` (the enclosing expression nodes, innermost last).

    >>> import libcst as cst
    >>> from keras_bsguard.lint.module_index import ModuleIndex
    >>> from keras_bsguard.lint.losses import find_losses
    >>> from keras_bsguard.lint.rules import select_rules
    >>> module = cst.parse_module("def loss(y_true, y_pred):\\n    return y_pred.numpy()\\n")
    >>> index = ModuleIndex.build(module)
    >>> [r.code for r, node, message in analyze_loss(find_losses(index)[0], index, select_rules(["BSG701"]))]
    ['BSG701']
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from .facts import UNTAINTED, Evaluator, Facts
from .losses import LossFunction
from .module_index import ModuleIndex, block_statements

_BATCH_KEYWORDS = ("batch_size",)


class LossContext:
    """What a rule sees while one loss is analysed."""

    def __init__(self, loss: LossFunction, index: ModuleIndex, evaluator: Evaluator) -> None:
        self.loss = loss
        self.index = index
        self.evaluator = evaluator
        self.ancestors: list[cst.CSTNode] = []
        self.reports: list[tuple[object, cst.CSTNode, str]] = []
        self._reported: set[tuple[str, int]] = set()
        self.call_sites: dict | None = None

    def facts(self, node: cst.BaseExpression) -> Facts:
        return self.evaluator.facts(node)

    def op(self, node: cst.Call):
        return self.evaluator.op(node)

    def report(self, rule, node: cst.CSTNode, message: str) -> None:
        key = (rule.code, id(node))
        if key not in self._reported:
            self._reported.add(key)
            self.reports.append((rule, node, message))

    def record_call(self, node: cst.Call) -> None:
        """Remember what a call to a same-file helper passes, so the helper is read with those facts."""
        if self.call_sites is None or self.evaluator.op(node) is not None:
            return
        for info in _local_callees(node, self):
            params = [*info.node.params.posonly_params, *info.node.params.params]
            if info.class_info is not None and params and params[0].name.value in ("self", "cls"):
                params = params[1:]
            seen = self.call_sites.setdefault(id(info.node), {})
            positional = [a for a in node.args if a.keyword is None and not a.star]
            for param, arg in zip(params, positional):
                seen.setdefault(param.name.value, []).append(self.facts(arg.value))
            for arg in node.args:
                if arg.keyword is not None:
                    seen.setdefault(arg.keyword.value, []).append(self.facts(arg.value))

    def already_reported_within(self, code: str) -> bool:
        """Whether an enclosing node already carries a finding of ``code`` (report the outermost only)."""
        return any((code, id(node)) in self._reported for node in self.ancestors)


def analyze_loss(loss: LossFunction, index: ModuleIndex, rules, call_sites: dict | None = None,
                 batch_sizes: set[int] | None = None) -> list[tuple[object, cst.CSTNode, str]]:
    """Findings ``(rule, node, message)`` for one loss.

    ``call_sites`` maps a helper's node id to the facts its callers passed per parameter: it is
    read for ``loss`` (when ``loss`` is a helper that was called) and extended by its calls.
    """
    evaluator = Evaluator(index.imports, loss.param_taints,
                          index.int_constants, batch_literals(index) if batch_sizes is None else batch_sizes)
    if call_sites is not None and loss.kind == "helper" and id(loss.node) in call_sites:
        for name, passed in call_sites[id(loss.node)].items():
            evaluator.env[name] = _join_all(passed)
    ctx = LossContext(loss, index, evaluator)
    ctx.call_sites = call_sites
    walker = _Walker(ctx, rules)
    if isinstance(loss.node, cst.Lambda):
        walker.expression(loss.node.body)
        walker.returned(loss.node.body)
    else:
        walker.block(block_statements(loss.node.body))
    return ctx.reports


def batch_literals(index: ModuleIndex) -> set[int]:
    """Batch sizes the file fixes elsewhere: ``fit(batch_size=32)`` and ``BATCH_SIZE = 32``."""
    found: set[int] = set()
    for call in index.fit_calls:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in _BATCH_KEYWORDS and isinstance(arg.value, cst.Integer):
                found.add(int(arg.value.evaluated_value))
    for name, value in index.int_constants.items():
        if "batch" in name.lower():
            found.add(value)
    return found


class _Walker:
    def __init__(self, ctx: LossContext, rules) -> None:
        self.ctx = ctx
        self.node_rules: dict[type, list] = {}
        self.statement_rules: dict[type, list] = {}
        self.return_rules = [r for r in rules if r.checks_return] if ctx.loss.returns_loss_value else []
        for rule in rules:
            for node_type in rule.node_types:
                self.node_rules.setdefault(node_type, []).append(rule)
            for statement_type in rule.statement_types:
                self.statement_rules.setdefault(statement_type, []).append(rule)

    # ---- statements ---------------------------------------------------------------------
    def block(self, statements) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, statement) -> None:
        ev = self.ctx.evaluator
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self.small(small)
            return
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            return  # nested definitions are analysed on their own if they are losses or helpers
        self._statement_rules(statement)
        if isinstance(statement, cst.If):
            self.expression(statement.test)
            self.block(block_statements(statement.body))
            self._orelse(statement.orelse)
        elif isinstance(statement, cst.For):
            self.expression(statement.iter)
            ev.bind(statement.target, _element_facts(ev, statement.iter))
            self.block(block_statements(statement.body))
            self._orelse(statement.orelse)
        elif isinstance(statement, cst.While):
            self.expression(statement.test)
            self.block(block_statements(statement.body))
            self._orelse(statement.orelse)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self.expression(item.item)
                if item.asname is not None:
                    ev.bind(item.asname.name, UNTAINTED)
            self.block(block_statements(statement.body))
        elif isinstance(statement, cst.Try) or type(statement).__name__ == "TryStar":
            self.block(block_statements(statement.body))
            for handler in statement.handlers:
                self.block(block_statements(handler.body))
            self._orelse(statement.orelse)
            if statement.finalbody is not None:
                self.block(block_statements(statement.finalbody.body))
        elif isinstance(statement, cst.Match):
            self.expression(statement.subject)
            for case in statement.cases:
                self.block(block_statements(case.body))

    def _orelse(self, orelse) -> None:
        if orelse is None:
            return
        if isinstance(orelse, cst.If):
            self.statement(orelse)
        else:
            self.block(block_statements(orelse.body))

    def small(self, small) -> None:
        ev = self.ctx.evaluator
        self._statement_rules(small)
        if isinstance(small, cst.Expr):
            self.expression(small.value)
        elif isinstance(small, cst.Assign):
            self.expression(small.value)
            facts = ev.facts(small.value)
            for target in small.targets:
                self._target(target.target)
                if not _rebinds_own_arguments(target.target, small.value, ev):
                    ev.bind(target.target, facts)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.expression(small.value)
                ev.bind(small.target, ev.facts(small.value))
        elif isinstance(small, cst.AugAssign):
            self.expression(small.value)
            self._target(small.target)
            if isinstance(small.target, cst.Name):
                symbol = _AUG_SYMBOL.get(type(small.operator), "?")
                ev.bind(small.target, ev.binary(symbol, small.target, small.value))
        elif isinstance(small, cst.Return):
            if small.value is not None:
                self.expression(small.value)
                self.returned(small.value)
        elif isinstance(small, (cst.Assert,)):
            self.expression(small.test)
        elif isinstance(small, cst.Raise):
            return
        elif isinstance(small, cst.Del):
            return

    def _target(self, target) -> None:
        if isinstance(target, (cst.Subscript, cst.Attribute)):
            self.expression(target)

    def returned(self, value) -> None:
        for rule in self.return_rules:
            rule.check_return(value, self.ctx)

    def _statement_rules(self, statement) -> None:
        for rule in self.statement_rules.get(type(statement), ()):
            rule.check_statement(statement, self.ctx)

    # ---- expressions --------------------------------------------------------------------
    def expression(self, node) -> None:
        if isinstance(node, cst.Call):
            self.ctx.record_call(node)
        rules = self.node_rules.get(type(node))
        if rules:
            for rule in rules:
                rule.check_node(node, self.ctx)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            return
        ancestors = self.ctx.ancestors
        ancestors.append(node)
        for child in node.children:
            if not isinstance(child, _LEAVES):
                self.expression(child)
        ancestors.pop()


def _local_callees(node: cst.Call, ctx: LossContext):
    func = node.func
    if isinstance(func, cst.Name):
        info = ctx.loss.info
        nested = [f for f in info.nested if f.name == func.value] if info is not None else []
        return nested or ctx.index.functions_named(func.value)
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        info = ctx.loss.info
        if info is not None and info.class_info is not None:
            method = info.class_info.methods.get(func.attr.value)
            return [method] if method is not None else []
    return []


def _join_all(passed: list[Facts]) -> Facts:
    from .facts import _join

    result = passed[0]
    for facts in passed[1:]:
        result = _join(result, facts)
    return result


_LEAVES = (cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.TrailingWhitespace, cst.Comment,
           cst.Newline, cst.EmptyLine, cst.LeftParen, cst.RightParen, cst.Comma, cst.Dot,
           cst.LeftSquareBracket, cst.RightSquareBracket, cst.Colon, cst.AssignEqual,
           cst.SimpleString, cst.Integer, cst.Float)

_AUG_SYMBOL = {cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*",
               cst.DivideAssign: "/", cst.PowerAssign: "**", cst.MatrixMultiplyAssign: "@"}


def _rebinds_own_arguments(target, value, ev: Evaluator) -> bool:
    """``y_true, y_pred = standardize(y_true, y_pred)``: an opaque call that hands its arguments back.

    The names keep what we knew of them instead of becoming opaque.
    """
    if not isinstance(value, cst.Call) or ev.op(value) is not None:
        return False
    names = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
    if not all(isinstance(n, cst.Name) for n in names):
        return False
    argument_names = {a.value.value for a in value.args if isinstance(a.value, cst.Name)}
    return all(n.value in argument_names for n in names if ev.env.get(n.value) is not None and ev.env[n.value].taint) \
        and any(n.value in argument_names for n in names)


def _element_facts(ev: Evaluator, iterable) -> Facts:
    """Facts of a loop variable: the taint of what is iterated, nothing more."""
    if isinstance(iterable, cst.Call):
        op = ev.op(iterable)
        if op is not None and op.namespace == "builtins" and op.name == "range":
            return Facts(shape=True)
    facts = ev.facts(iterable)
    if facts.shape:
        return Facts(shape=True)
    return replace(UNTAINTED, taint=facts.taint, bounded=not facts.taint)
