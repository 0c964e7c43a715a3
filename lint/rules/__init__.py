"""The rule registry: every rule by code, and selection by code, prefix, name or ``ALL``.

    >>> [r.code for r in select_rules(["BSG4"])]
    ['BSG401', 'BSG402']
    >>> "BSG303" in {r.code for r in select_rules(None)}  # opt-in: not in the default set
    False
"""

from __future__ import annotations

from .base import Rule
from .batch_loop import BatchLoop
from .batch_scaling import BatchSum, FixedBatch
from .gradients import DeadZone, KinkAtTarget, ZeroGradient
from .host_sync import HostSync, StateInLoss
from .memory import BlowupIntermediate, HeavyOp, PairwiseBatch
from .numerics import ExpBlowup, UnguardedLog
from .randomness import RandomInLoss, StochasticLoss


class SyntaxErrorRule(Rule):
    """The file does not parse (or does not decode), so it could not be linted.

    Reported once per file, at the place the parser stopped; the run goes on with the other
    files. Fix the syntax error (or the file's encoding) and run again.

    Before::

        def loss(y_true, y_pred)
            return y_pred

    After::

        def loss(y_true, y_pred):
            return y_pred
    """

    code = "BSG000"
    name = "syntax-error"
    severity = "error"
    summary = "the file does not parse (reported, the run goes on)"


ALL_RULES: tuple[Rule, ...] = (
    SyntaxErrorRule(), BatchLoop(), RandomInLoss(), StochasticLoss(), DeadZone(), ZeroGradient(), KinkAtTarget(),
    ExpBlowup(), UnguardedLog(), BatchSum(), FixedBatch(), PairwiseBatch(), BlowupIntermediate(),
    HeavyOp(), HostSync(), StateInLoss(),
)
RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in ALL_RULES}
_RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in ALL_RULES}


class UnknownSelector(ValueError):
    """A selector that names no rule (``--select BSG999``)."""


def expand_selector(selector: str) -> list[Rule]:
    """Rules a selector names: ``ALL``, a code, a code prefix (``BSG3``) or a rule name."""
    key = selector.strip()
    if key.upper() == "ALL":
        return list(ALL_RULES)
    if key in _RULES_BY_NAME:
        return [_RULES_BY_NAME[key]]
    upper = key.upper()
    matched = [rule for rule in ALL_RULES if rule.code.startswith(upper)]
    if not matched or not upper.startswith("BSG"):
        raise UnknownSelector(f"unknown rule selector {selector!r}")
    return matched


def select_rules(select=None, ignore=(), extend_select=()) -> list[Rule]:
    """The active rules, ruff-style: ``select`` replaces the default set, ``extend_select`` adds,
    ``ignore`` removes.  Opt-in rules run only when a selector names them."""
    if select is None:
        chosen = {rule.code for rule in ALL_RULES if not rule.opt_in}
    else:
        chosen = {rule.code for selector in select for rule in expand_selector(selector)}
    for selector in extend_select:
        chosen |= {rule.code for rule in expand_selector(selector)}
    for selector in ignore:
        chosen -= {rule.code for rule in expand_selector(selector)}
    return [rule for rule in ALL_RULES if rule.code in chosen]


__all__ = ["ALL_RULES", "RULES_BY_CODE", "Rule", "UnknownSelector", "expand_selector", "select_rules"]
