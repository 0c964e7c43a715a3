"""Source positions of the nodes that carry findings, at a cost that follows the findings.

libcst's ``PositionProvider`` renders the whole module to find any node's position: on a large
file with a few findings that is most of the lint time. Here only the top-level statements that
hold a reported node are rendered, each as a one-statement module, and shifted to the line where
CPython's own (fast) parser says that statement starts. When the two parsers disagree on the
statements (they never should), the whole module is rendered instead, as before.

    >>> import libcst as cst
    >>> source = "import tensorflow as tf\\n\\n\\ndef loss(y_true, y_pred):\\n    return tf.exp(y_pred)\\n"
    >>> module = cst.parse_module(source)
    >>> loss = module.body[1]
    >>> call = loss.body.body[0].body[0].value
    >>> span = positions_of(module, source.encode(), [(loss, call)])[call]
    >>> (span.start.line, span.start.column)
    (5, 11)
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import replace

import libcst as cst
from libcst.metadata import CodeRange, PositionProvider

from .tree import children as tree_children


def positions_of(module: cst.Module, data: bytes, placed, top_lines: list[int] | None = None) -> dict:
    """Node -> ``CodeRange`` for each ``(container, node)`` in ``placed``: ``container`` is a
    function (or lambda) of the module that holds ``node`` -- the loss a finding belongs to.
    ``top_lines``: CPython's first line of each top-level statement, when the caller parsed already."""
    placed = list(placed)
    starts = _statement_lines(module, top_lines if top_lines is not None else cpython_top_lines(data))
    if starts is None:
        return _whole_module(module)
    owner = _top_level_owner(module, {id(container) for container, _node in placed},
                             any(isinstance(container, cst.Lambda) for container, _node in placed))
    by_statement: dict[int, list] = {}
    for container, node in placed:
        index = owner.get(id(container))
        if index is None:
            return _whole_module(module)
        by_statement.setdefault(index, []).append(node)
    positions: dict = {}
    for index, nodes in by_statement.items():
        statement = module.body[index]
        local = cst.MetadataWrapper(module.with_changes(body=[statement], header=[], footer=[]),
                                    unsafe_skip_copy=True).resolve(PositionProvider)
        shift = starts[index] - local[statement].start.line
        for node in nodes:
            span = local.get(node)
            if span is not None:
                positions[node] = _shifted(span, shift)
    if any(node not in positions for _container, node in placed):
        # a place in a module-level helper the loss calls (the threshold a helper applies): rare,
        # so the whole module is rendered for it
        whole = _whole_module(module)
        positions.update((node, whole[node]) for _container, node in placed if node not in positions and node in whole)
    return positions


def _top_level_owner(module: cst.Module, containers: set[int], lambdas: bool) -> dict[int, int]:
    """id(container) -> index of the top-level statement that holds it; functions are found by
    their statements alone, lambdas (rare) by walking the statement's expressions."""
    owner: dict[int, int] = {}
    for index, statement in enumerate(module.body):
        stack = [statement]
        while stack:
            node = stack.pop()
            if id(node) in containers:
                owner[id(node)] = index
            if isinstance(node, cst.SimpleStatementLine):
                if lambdas and len(owner) < len(containers):
                    stack.extend(_lambdas(node, containers))
                continue
            for block in _blocks(node):
                stack.extend(block)
            stack.extend(getattr(node, "decorators", ()))
    return owner


def _blocks(node) -> list:
    blocks = []
    for name in ("body", "orelse", "finalbody", "handlers", "cases"):
        part = getattr(node, name, None)
        if part is None:
            continue
        if isinstance(part, (list, tuple)):
            for item in part:
                blocks.extend(_blocks(item) if not isinstance(item, cst.BaseStatement) else [[item]])
            continue
        if isinstance(part, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            blocks.append([s for s in part.body if isinstance(s, cst.CSTNode)])
        elif isinstance(part, cst.CSTNode):
            blocks.extend(_blocks(part) if not isinstance(part, cst.BaseStatement) else [[part]])
    return blocks


def _lambdas(statement, containers: set[int]) -> list:
    found = []
    stack = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Lambda) and id(node) in containers:
            found.append(node)
        stack.extend(tree_children(node))
    return found


def _whole_module(module: cst.Module) -> dict:
    return cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _shifted(span: CodeRange, lines: int) -> CodeRange:
    if not lines:
        return span
    return CodeRange(replace(span.start, line=span.start.line + lines), replace(span.end, line=span.end.line + lines))


def cpython_top_lines(data: bytes) -> list[int] | None:
    """The line of each top-level statement by CPython's parser (``def`` for a decorated function,
    as libcst's ranges start), or None when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [statement.lineno for statement in ast.parse(data).body]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _statement_lines(module: cst.Module, statements: list[int] | None) -> list[int] | None:
    """The first line of each of ``module.body``'s statements; None when CPython's statements
    (``statements``) are unknown or do not line up with libcst's."""
    if statements is None:
        return None
    lines: list[int] = []
    position = 0
    for statement in module.body:
        count = len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
        if position + count > len(statements):
            return None
        lines.append(statements[position])
        position += count
    return lines if position == len(statements) else None
