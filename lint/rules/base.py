"""The shape of a rule: a code, a name, a severity, a one-line summary, and its docstring as the
long explanation that ``bsguard rule CODE`` prints.

A rule subscribes to expression node types (``node_types``), statement types
(``statement_types``) and/or the loss's returned value (``check_return``), and reports through
the context it is given.  See ``lint/rules/numerics.py`` for examples.
"""

from __future__ import annotations

import inspect

import libcst as cst


class Rule:
    code: str = ""
    name: str = ""
    severity: str = "warning"
    summary: str = ""
    opt_in: bool = False
    node_types: tuple[type, ...] = ()
    statement_types: tuple[type, ...] = ()
    checks_return: bool = False

    def check_node(self, node: cst.CSTNode, ctx) -> None:  # pragma: no cover - interface
        """Called for every node of a subscribed type inside a loss."""

    def check_statement(self, statement: cst.CSTNode, ctx) -> None:  # pragma: no cover - interface
        """Called for every statement of a subscribed type inside a loss."""

    def check_return(self, value: cst.BaseExpression, ctx) -> None:  # pragma: no cover - interface
        """Called with each value a loss returns (not for helpers)."""

    @classmethod
    def explanation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or cls.summary)

