"""Which values of a loss reach what it returns (or what it differentiates).

A value that reaches neither the returned loss nor a gradient cannot make training diverge: a
ratio stored only for logging (``self._last_logs.update({"active": a.sum() / b.sum()})``) may be
``inf`` without harm. The value rules (log, sqrt, division, exp) stay silent there; the cost rules
(host syncs, memory) do not, because a sync or an allocation costs wherever its value goes.

The analysis is flow-insensitive and errs towards "live": a name is live when a returned
expression reads it, or when an assignment to a live name (a method call on a live object, a
nested function a live name calls) reads it. Attributes of ``self`` count as names of their own
(``self.cache``). A function that returns no value is not analysed (everything in it is live: its
effect is a ``backward()`` or an optimizer step).

    >>> import libcst as cst
    >>> f = cst.parse_statement(
    ...     "def f(a, b):\\n"
    ...     "    ratio = a.sum() / b.sum()\\n"
    ...     "    self.logs.update({'ratio': ratio})\\n"
    ...     "    loss = (a - b).mean()\\n"
    ...     "    return loss\\n")
    >>> sorted(dead_names(f))
    ['ratio', 'self.logs']
    >>> g = cst.parse_statement(
    ...     "def g(a, b):\\n"
    ...     "    terms = []\\n"
    ...     "    ratio = a.sum() / b.sum()\\n"
    ...     "    add_term(terms, ratio)\\n"
    ...     "    return sum(terms)\\n")
    >>> sorted(dead_names(g))
    []
"""

from __future__ import annotations

import libcst as cst

from .names import NO_GRAD_NAMES
from .tree import children as tree_children

# Calls whose arguments are differentiated or handed to the trainer, wherever they stand.
_SINK_CALLS = frozenset({"backward", "gradient", "grad", "value_and_grad", "vjp", "apply_gradients", "minimize",
                         "add_loss", "manual_backward", "scale"})


def dead_names(function: cst.FunctionDef, gradient: bool = False) -> set[str]:
    """Names (and ``self.attr``) the function stores that reach no returned value or gradient;
    empty when the function returns no value. With ``gradient``, reads under ``.detach()`` or
    ``stop_gradient(...)``, and inside ``with torch.no_grad():``, do not count: the names returned
    then reach the loss, if at all, only as constants (a weight matrix built from a square root and
    detached, a scale for an assignment made without gradient), never differentiated.

        >>> import libcst as cst
        >>> f = cst.parse_statement(
        ...     "def f(a, b):\\n"
        ...     "    w = (a - b).abs().sqrt()\\n"
        ...     "    return (w.detach() * (a - b) ** 2).mean()\\n")
        >>> sorted(dead_names(f)), sorted(dead_names(f, gradient=True))
        ([], ['w'])
    """
    # with ``gradient``, what a ``with torch.no_grad():`` block reads is never differentiated
    undifferentiated = _under_no_grad(function) if gradient else set()
    edges: list[tuple[set[str], set[str]]] = []
    sinks: set[str] = set()
    returns_value = False
    killed = _overwritten_stores(function)
    for node in _own_statements(function):
        if id(node) in killed:
            continue  # ``x = f(a)`` then ``x = g(b)`` with no read between: f(a) reaches nothing
        reads = _no_reads if id(node) in undifferentiated else _gradient_reads if gradient else _value_reads
        if isinstance(node, cst.Return) and node.value is not None:
            returns_value = True
            sinks |= reads(node.value)
        elif isinstance(node, cst.Yield) and node.value is not None:
            returns_value = True
            sinks |= reads(node.value)
        elif isinstance(node, cst.Assign):
            stored = set().union(*(_roots(t.target) for t in node.targets))
            index_reads = set().union(*(_index_reads(t.target) for t in node.targets))
            edges.append((stored, reads(node.value) | index_reads))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and node.value is not None:
            stored = _roots(node.target)
            edges.append((stored, reads(node.value) | stored | _index_reads(node.target)))
        elif isinstance(node, (cst.For, cst.CompFor)):
            edges.append((_roots(node.target), reads(node.iter)))
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            edges.append((_roots(node.asname.name), reads(node.item)))
        elif isinstance(node, cst.NamedExpr):
            edges.append((_roots(node.target), reads(node.value)))
        elif isinstance(node, cst.FunctionDef) and node is not function:
            edges.append(({node.name.value}, reads(node)))
        elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
            receiver = _receiver(node.value)
            if receiver:  # losses.append(x), self.logs.update(...): a change of the receiver
                edges.append(({receiver}, reads(node.value)))
            else:  # accumulate(losses, x): a function may change what it is given
                given = set().union(*(_roots(a.value) for a in node.value.args)) if node.value.args else set()
                edges.append((given, reads(node.value)))
        if isinstance(node, cst.Call) and _call_name(node) in _SINK_CALLS:
            sinks |= reads(node)
    if not returns_value:
        return set()
    live = set(sinks)
    changed = True
    while changed:
        changed = False
        for stored, read in edges:
            if stored & live and not read <= live:
                live |= read
                changed = True
    stored_all = set().union(*(stored for stored, _ in edges)) if edges else set()
    return {name for name in stored_all if name not in live}


def _overwritten_stores(function) -> set[int]:
    """Ids of plain assignments ``x = ...`` that a later assignment ``x = ...`` of the same block
    overwrites before anything reads ``x`` (an experiment left in place: the first value is dead).

        >>> import libcst as cst
        >>> f = cst.parse_statement("def f(a):\\n    x = a.sqrt()\\n    x = a * 2\\n    return x\\n")
        >>> len(_overwritten_stores(f))
        1
    """
    killed: set[int] = set()
    for block in _blocks(function):
        lines = [_single_assign(statement) for statement in block]
        for i, first in enumerate(lines):
            if first is None:
                continue
            name = first.targets[0].target.value
            for j in range(i + 1, len(block)):
                later = lines[j]
                if later is not None and later.targets[0].target.value == name:
                    if name not in _reads(later.value):
                        killed.add(id(first))
                    break
                if name in _reads(block[j]) or _leaves_block(block[j]):
                    break  # read, or the block may be left here (break, return) with the first value
    return killed


def _leaves_block(statement) -> bool:
    """Whether a statement may leave its block: ``break``, ``continue``, ``return``, ``raise``."""
    stack = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Break, cst.Continue, cst.Return, cst.Raise)):
            return True
        if not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(tree_children(node))
    return False


def _blocks(function):
    """The statement lists of the function (its body and every nested block, not nested defs)."""
    stack = [function.body]
    while stack:
        body = stack.pop()
        statements = list(getattr(body, "body", ()))
        if isinstance(body, cst.IndentedBlock) or body is function.body:
            yield statements
        for statement in statements:
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                continue
            for child in tree_children(statement):
                if isinstance(child, (cst.IndentedBlock, cst.Else, cst.If, cst.ExceptHandler, cst.Finally)):
                    stack.append(child if isinstance(child, cst.IndentedBlock) else getattr(child, "body", child))


def _single_assign(statement):
    """The ``x = value`` of a one-assignment line with a plain name target, or None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        return small
    return None


def dead_statement(statement, dead: set[str]) -> bool:
    """Whether a simple statement only stores into dead names (or changes a dead object)."""
    if isinstance(statement, cst.Assign):
        stored = [_roots(t.target) for t in statement.targets]
        return all(names and names <= dead for names in stored)
    if isinstance(statement, (cst.AugAssign, cst.AnnAssign)):
        names = _roots(statement.target)
        return bool(names) and names <= dead
    if isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call):
        receiver = _receiver(statement.value)
        return bool(receiver) and receiver in dead and _call_name(statement.value) not in _SINK_CALLS
    return False


def _no_reads(node) -> set[str]:
    return set()


def _under_no_grad(function) -> set[int]:
    """The ids of the nodes inside ``with torch.no_grad():`` (or ``inference_mode()``) blocks.

        >>> import libcst as cst
        >>> f = cst.parse_statement("def f(a):\\n    with torch.no_grad():\\n        b = g(a)\\n    return a\\n")
        >>> inside, after = f.body.body[0].body.body[0], f.body.body[1]
        >>> id(inside) in _under_no_grad(f), id(after) in _under_no_grad(f)
        (True, False)
    """
    found: set[int] = set()
    for node in _own_statements(function):
        if isinstance(node, cst.With) and any(isinstance(item.item, cst.Call) and _call_name(item.item) in NO_GRAD_NAMES
                                              for item in node.items):
            found |= {id(inner) for inner in _own_statements(node.body)}
    return found


def _own_statements(function):
    """Every node of the function, nested ``def`` bodies included (their names are read as a whole
    by the ``def`` edge; their own statements add edges of their own, which only widens "live")."""
    stack = [function]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, cst.Lambda):
            continue
        stack.extend(tree_children(node))


def _dotted(node) -> str | None:
    """``x`` for a name, ``self.attr`` for an attribute of self, the root name otherwise."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            return f"self.{node.attr.value}"
        return _dotted(node.value)
    if isinstance(node, cst.Subscript):
        return _dotted(node.value)
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return None


def _roots(target) -> set[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return set().union(*(_roots(e.value) for e in target.elements)) if target.elements else set()
    if isinstance(target, cst.StarredElement):
        return _roots(target.value)
    name = _dotted(target) if isinstance(target, (cst.Name, cst.Attribute, cst.Subscript)) else None
    return {name} if name else set()


def _index_reads(target) -> set[str]:
    """Names read by the indices of a subscript target (``out[idx] = v`` reads ``idx``)."""
    if isinstance(target, cst.Subscript):
        return set().union(*(_reads(s) for s in target.slice))
    return set()


def _receiver(call: cst.Call) -> str | None:
    """``losses`` in ``losses.append(x)``, ``self.logs`` in ``self.logs.update(...)``."""
    if isinstance(call.func, cst.Attribute):
        return _dotted(call.func.value)
    return None


def _call_name(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


# conversions to Python numbers: what they return carries no gradient and no tensor on to the loss
_TO_HOST_METHODS = frozenset({"item", "tolist", "numpy"})
_TO_HOST_BUILTINS = frozenset({"float", "int", "bool"})


def _value_reads(node) -> set[str]:
    """The names whose tensor values ``node`` carries on: every name read, except under a
    conversion to Python numbers (``epe.mean().item()``, ``float(x)``), whose result is a logged
    number, not part of the loss's graph.

        >>> import libcst as cst
        >>> sorted(_value_reads(cst.parse_expression("{'epe': epe.mean().item(), 'n': float(n)}")))
        []
        >>> sorted(_value_reads(cst.parse_expression("(loss, {'epe': epe.item()})")))
        ['loss']
    """
    return _reads(node, skip_host_numbers=True)


def _gradient_reads(node) -> set[str]:
    """The names whose values ``node`` carries on with their gradient: as ``_value_reads``, and
    none under ``.detach()`` or ``stop_gradient(...)``.

        >>> import libcst as cst
        >>> sorted(_gradient_reads(cst.parse_expression("w.detach() * d + tf.stop_gradient(s)")))
        ['d']
    """
    return _reads(node, skip_host_numbers=True, skip_detached=True)


def detaches(call: cst.Call) -> bool:
    """``x.detach()``, ``tf.stop_gradient(x)``, ``jax.lax.stop_gradient(x)``."""
    name = _call_name(call)
    if name == "stop_gradient":
        return True
    return name in ("detach", "detach_") and isinstance(call.func, cst.Attribute) and not call.args


def converts_to_host(call: cst.Call) -> bool:
    """``x.item()``, ``x.numpy()``, ``x.tolist()``, ``float(x)``: the value read off to the host."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value in _TO_HOST_METHODS and not call.args
    return isinstance(func, cst.Name) and func.value in _TO_HOST_BUILTINS and len(call.args) == 1


def _reads(node, skip_host_numbers: bool = False, skip_detached: bool = False) -> set[str]:
    """Every name read under ``node``, with ``self.attr`` for attributes of self (and ``self``)
    (with ``skip_host_numbers``: none under a conversion to a Python number)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if skip_host_numbers and isinstance(current, cst.Call) and converts_to_host(current):
            continue
        if skip_detached and isinstance(current, cst.Call) and detaches(current):
            continue
        if isinstance(current, cst.Name):
            names.add(current.value)
            continue
        if isinstance(current, cst.Attribute):
            dotted = _dotted(current)
            if dotted:
                names.add(dotted)
            stack.append(current.value)
            continue
        stack.extend(tree_children(current))
    return names
