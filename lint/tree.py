"""The child nodes the analysis reads, in source order, without libcst's visitor machinery.

libcst's ``node.children`` runs a visitor over the node to collect them: on a large file that was
the largest single cost of a lint. These are the same nodes (minus whitespace, brackets and
punctuation, which no rule reads), read straight from the node's dataclass fields.

    >>> import libcst as cst
    >>> call = cst.parse_expression("tf.exp(y_pred * 2)")
    >>> [type(child).__name__ for child in children(call)]
    ['Attribute', 'Arg']
"""

from __future__ import annotations

import dataclasses

import libcst as cst

# fields that hold layout only: whitespace, comments, brackets, separators
_LAYOUT_PREFIXES = ("whitespace", "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "leading_lines",
                    "lines_after", "comma", "equal", "colon", "dot", "semicolon", "trailing_whitespace", "header",
                    "footer", "newline", "first_line", "empty_lines", "indent")
# where the fields are not declared in source order
_SOURCE_ORDER = {cst.IfExp: ("body", "test", "orelse"), cst.Arg: ("keyword", "value"),
                 cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
                 cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body")}
_FIELDS: dict[type, tuple[str, ...]] = {}


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's child nodes in source order, layout (whitespace, brackets, commas) left out."""
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:
        declared = [field.name for field in dataclasses.fields(node) if not field.name.startswith(_LAYOUT_PREFIXES)]
        order = _SOURCE_ORDER.get(kind)
        if order is not None:
            declared = [name for name in order if name in declared] + [n for n in declared if n not in order]
        names = _FIELDS[kind] = tuple(declared)
    found: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(item for item in value if isinstance(item, cst.CSTNode))
    return found


_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def own_nodes(root: cst.CSTNode):
    """Every node under ``root`` (a function: its body) that runs in ``root``'s own scope: nested
    ``def``, ``class`` and ``lambda`` bodies are left out.

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(x):\\n    def g():\\n        return 1\\n    return x\\n").body[0]
        >>> sum(isinstance(n, cst.Return) for n in own_nodes(f))
        1
    """
    return _own_nodes(root, in_order=False)


def own_nodes_in_order(root: cst.CSTNode):
    """``own_nodes`` in source order (each node before the nodes it contains).

        >>> import libcst as cst
        >>> f = cst.parse_module("def f(x):\\n    y = 1\\n    y = 2\\n    return y\\n").body[0]
        >>> [n.value.value for n in own_nodes_in_order(f) if isinstance(n, cst.Assign)]
        ['1', '2']
    """
    return _own_nodes(root, in_order=True)


def _own_nodes(root: cst.CSTNode, in_order: bool):
    stack = [root.body] if isinstance(root, (cst.FunctionDef, cst.Lambda)) else [root]
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        yield node
        stack.extend(reversed(children(node)) if in_order else children(node))


def all_nodes(root: cst.CSTNode):
    """Every node under ``root``, ``root`` included, nested scopes too (``lambda`` and ``def`` bodies).

        >>> f = cst.parse_module("def f(x):\\n    g = lambda: h(x)\\n").body[0]
        >>> sum(isinstance(n, cst.Call) for n in all_nodes(f))
        1
    """
    stack = [root]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(children(current))


def contains(root: cst.CSTNode, node: cst.CSTNode) -> bool:
    """Whether ``node`` is ``root`` or lies inside it.

        >>> call = cst.parse_expression("f(x)")
        >>> contains(call, call.args[0].value), contains(call.args[0], call.func)
        (True, False)
    """
    return any(current is node for current in all_nodes(root))
