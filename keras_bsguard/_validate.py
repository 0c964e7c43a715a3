"""Argument checks of the runtime constructors: one line naming the argument and its range.

    >>> check_int("Demo", "window", 50, minimum=1)
    50
    >>> check_int("Demo", "window", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: Demo(window=0): window must be an integer >= 1
    >>> check_float("Demo", "lr_factor", 2.0, low=0, high=1, low_open=True, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: Demo(lr_factor=2.0): lr_factor must be a finite number in (0, 1)
"""

from __future__ import annotations

import math
import numbers


def _fail(owner: str, name: str, value, requirement: str, error=ValueError):
    raise error(f"{owner}({name}={value!r}): {name} must be {requirement}")


def _range(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_int(owner: str, name: str, value, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int, if it is an integer (not a bool, float or string) in range."""
    requirement = f"an integer {_range(minimum, maximum, False, False)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(owner, name, value, requirement, TypeError)
    if value < minimum or (maximum is not None and value > maximum):
        _fail(owner, name, value, requirement)
    return int(value)


def check_float(owner: str, name: str, value, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, if it is a finite real number (not a bool or string) in range."""
    requirement = f"a finite number {_range(low, high, low_open, high_open)}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(owner, name, value, requirement, TypeError)
    value = float(value)
    if not math.isfinite(value):
        _fail(owner, name, value, requirement)
    if low is not None and (value < low or (low_open and value == low)):
        _fail(owner, name, value, requirement)
    if high is not None and (value > high or (high_open and value == high)):
        _fail(owner, name, value, requirement)
    return value


def check_choice(owner: str, name: str, value, choices: tuple):
    """``value`` if it is one of ``choices``."""
    if not any(value is choice or (choice is not None and value == choice) for choice in choices):
        _fail(owner, name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_bool(owner: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        _fail(owner, name, value, "True or False", TypeError)
    return value
