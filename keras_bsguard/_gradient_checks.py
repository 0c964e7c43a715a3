"""Window-level checks of GradientNormMonitor: sustained growth and per-layer vanishing.

**Sustained growth** is judged on the medians of consecutive windows: over the last ``span``
windows (two or more) the median rose by ``factor`` or more *with a consistent slope*: both
halves of the span rose by at least ``factor ** (1 / 4)`` and no window fell by more than a
fifth. A loss weight x10 per epoch (norms x8-10 per window, windows one epoch long) is reported
at the second grown window; a single jump that then stays flat is not a trend (the explosion
check handles jumps), nor is noise around a level.

    >>> span, growth = sustained_growth([1.0, 1.1, 10.0, 95.0], factor=10.0)
    >>> span, round(growth, 1)
    (2, 86.4)
    >>> sustained_growth([1.0, 1.0, 100.0, 100.0], factor=10.0) is None   # one jump, then flat
    True
    >>> sustained_growth([1.0, 1.5, 2.2, 3.4, 5.1, 7.6, 11.4], factor=10.0)   # x1.5 per window
    (6, 11.4)

**Per-layer vanishing**: a layer whose largest norm over a full window is ~0 (at most
``threshold``, or 1e-7 of the largest layer's: below float32 resolution next to it) while the
largest layer's is not.

    >>> vanished_layers(["dense", "dense_1", "out"], [0.0, 1e-12, 2.0], threshold=1e-8)
    ['dense', 'dense_1']
"""

from __future__ import annotations

import math

_MAX_SPAN = 8  # windows: a trend slower than factor over 8 windows is not "sustained growth"
_RELATIVE_ZERO = 1e-7


def sustained_growth(medians: list[float], factor: float) -> tuple[int, float] | None:
    """``(span in windows, growth)`` of the shortest span ending at the last window that grew by
    ``factor`` with a consistent slope; ``None`` if there is none."""
    for span in range(2, min(_MAX_SPAN, len(medians) - 1) + 1):
        segment = medians[-span - 1:]
        if not all(math.isfinite(m) and m > 0 for m in segment):
            return None
        if any(b < 0.8 * a for a, b in zip(segment, segment[1:])):
            continue  # a window fell: not a steady rise over this span
        growth = segment[-1] / segment[0]
        middle = len(segment) // 2
        halves = (segment[middle] / segment[0], segment[-1] / segment[middle])
        if growth >= factor and min(halves) >= factor ** 0.25:
            return span, growth
    return None


def vanished_layers(names: list[str], window_max: list[float], threshold: float) -> list[str]:
    """Layers whose largest norm of a window is ~0 while the largest layer's is not."""
    finite = [v for v in window_max if math.isfinite(v)]
    if not finite:
        return []
    largest = max(finite)
    limit = max(threshold, _RELATIVE_ZERO * largest)
    if largest <= limit:
        return []  # every layer is ~0: the global vanishing check's case
    return [name for name, value in zip(names, window_max) if math.isfinite(value) and value <= limit]


def ranked_layers(names: list[str], values: list[float], k: int, smallest: bool = False) -> dict:
    """The ``k`` largest (or smallest) layers by ``values``, as ``{name: value}`` in order."""
    if k <= 0 or not names:
        return {}

    def key(pair):
        value = pair[1] if math.isfinite(pair[1]) else math.inf
        return value if smallest else -value

    return dict(sorted(zip(names, (float(v) for v in values)), key=key)[:k])
