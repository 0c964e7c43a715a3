"""Whether an ``if`` test asks for training mode: the code under ``if not self.training:`` runs
only at evaluation (detections, metrics), never in the loss that is differentiated.

    >>> import libcst as cst
    >>> training_test(cst.parse_expression("not self.training")), training_test(cst.parse_expression("x > 0"))
    (False, None)
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
