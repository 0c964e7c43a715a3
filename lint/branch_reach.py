"""Whether a branch runs in a training step: the code under ``if not self.training:`` runs only at
evaluation (detections, metrics), and a helper's branch that no call in the file takes
(``if backend is None:`` when every call passes ``backend="keras"``) never runs in its losses.

    >>> import libcst as cst
    >>> training_test(cst.parse_expression("not self.training")), training_test(cst.parse_expression("x > 0"))
    (False, None)
    >>> branch_outcome(cst.parse_expression("backend is None"), {"backend": "'keras'"})
    False
"""

from __future__ import annotations

import libcst as cst


def training_test(test) -> bool | None:
    """True for a test of training mode (``self.training``, ``model.training``, ``training``), False
    for its negation (``not self.training``, ``training is False``), None for anything else."""
    negated = False
    if isinstance(test, cst.BooleanOperation):
        # ``if self.training or calc is None: ... else: <eval>``: the else runs only when not
        # training; ``if not self.training and calc: <eval>``: the body does
        parts = (training_test(test.left), training_test(test.right))
        if isinstance(test.operator, cst.Or) and True in parts:
            return True
        if isinstance(test.operator, cst.And) and False in parts:
            return False
        return None
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        negated, test = True, test.expression
    elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.comparisons[0].comparator,
                                                                                      cst.Name):
        comparison = test.comparisons[0]
        value = comparison.comparator.value
        if value not in ("True", "False") or not isinstance(comparison.operator, (cst.Is, cst.Equal, cst.IsNot,
                                                                                  cst.NotEqual)):
            return None
        negated = (value == "False") != isinstance(comparison.operator, (cst.IsNot, cst.NotEqual))
        test = test.left
    name = test.value if isinstance(test, cst.Name) else test.attr.value if isinstance(test, cst.Attribute) else None
    if name not in ("training", "is_training"):
        return None
    return not negated


_NOT_A_LITERAL = ...


def literal_text(value) -> object:
    """The source text of a literal argument (``'keras'``, ``None``, ``2``, ``True``); ``...`` for
    anything else (a name, an expression, no default)."""
    if isinstance(value, (cst.SimpleString, cst.Integer, cst.Float)):
        return value.value
    if isinstance(value, cst.Name) and value.value in ("None", "True", "False"):
        return value.value
    return _NOT_A_LITERAL


def branch_outcome(test, literals: dict) -> bool | None:
    """Whether ``test`` holds for parameters with these literal values (source texts): ``p is
    None``, ``p is not None``, ``p == "x"``, ``p != "x"``, ``p``, ``not p``; None when it cannot
    tell (another form, or a parameter that is not a literal here)."""
    negated = False
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        negated, test = True, test.expression
    if isinstance(test, cst.Name):
        value = literals.get(test.value, _NOT_A_LITERAL)
        if value is _NOT_A_LITERAL:
            return None
        truth = value not in ("None", "False", "0", "0.0", "''", '""')
        return truth != negated
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Name)):
        return None
    value = literals.get(test.left.value, _NOT_A_LITERAL)
    comparison = test.comparisons[0]
    other = literal_text(comparison.comparator)
    if value is _NOT_A_LITERAL or other is _NOT_A_LITERAL:
        return None
    if isinstance(comparison.operator, (cst.Is, cst.Equal)):
        holds = _same_literal(value, other)
    elif isinstance(comparison.operator, (cst.IsNot, cst.NotEqual)):
        holds = not _same_literal(value, other)
    else:
        return None
    return holds != negated


def _same_literal(a: str, b: str) -> bool:
    """``'keras'`` and ``"keras"`` are one string."""
    if a[:1] in "'\"" and b[:1] in "'\"":
        return a.strip("'\"") == b.strip("'\"")
    return a == b
