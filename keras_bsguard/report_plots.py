"""The figures of ``bsguard report``: one matplotlib figure per monitor, readable at a glance.

Every figure has human labels with units and its legend outside the data area. Step time and
input wait sit on separate axes; memory is drawn on an axis from zero (with the rise over the run
in the legend), so a few MiB on a large baseline do not look like a cliff; windows without a finite
gradient norm are marked at the bottom of the gradient axis. Each event kind has a fixed colour
and line style (:func:`event_style`). :func:`build_figures` also returns an alt text describing
each figure (for the HTML ``<img alt>``).

matplotlib is imported only inside the functions that draw, and only its object API is used
(``matplotlib.figure.Figure``, never pyplot): a report rendered in-process neither changes the
caller's matplotlib backend nor opens windows.

Example::

    panels = build_figures(records)   # records: window/event/run dicts of one event log
    panels[0].figure.savefig("step_time.png")
"""

from __future__ import annotations

import math
import textwrap
import zlib
from typing import NamedTuple

MONITOR_LABELS = {"step_time": "step time", "gradient_norm": "gradient norm", "memory": "memory",
                  "gradient_noise_scale": "gradient noise scale"}

# Line styles, distinct within each monitor's kinds (colours are distinct across all kinds).
_DASHED, _DASH_DOT, _DOTTED, _LONG_DASH = "--", "-.", ":", (0, (8, 3))
_DASH_DOT_DOT, _SPARSE_DOT, _DENSE_DASH_DOT = (0, (6, 2, 1, 2, 1, 2)), (0, (1, 3)), (0, (3, 1, 1, 1))
_DASH_DASH_DOT, _EVEN_DASH = (0, (10, 2, 2, 2)), (0, (4, 4))
# Event kind -> (human label, colour, line style). Fixed, so a kind looks the same in every report.
EVENT_STYLES = {
    # StepTimeMonitor
    "step_time_drift": ("step time grew", "#d62728", _DASHED),
    "data_time_drift": ("input wait grew", "#ff7f0e", _DASH_DOT),
    "callback_time_drift": ("callbacks slowed down", "#8c564b", _DOTTED),
    "machine_slowdown": ("machine slowed down", "#7f7f7f", _DASH_DOT_DOT),
    "recompiles": ("repeated recompiles", "#e377c2", _LONG_DASH),
    "compile": ("first compile", "#bcbd22", _SPARSE_DOT),
    "recompile": ("recompile", "#9c9ede", _DENSE_DASH_DOT),
    "train_function_rebuilt": ("train function rebuilt", "#c49c94", _DASH_DASH_DOT),
    "baseline_reanchored": ("baseline re-anchored", "#a0a0a0", _EVEN_DASH),
    # GradientNormMonitor
    "nonfinite": ("non-finite gradient", "#9467bd", _DASHED),
    "explosion": ("gradient explosion", "#ad494a", _DASH_DOT),
    "vanishing": ("vanishing gradients", "#6b6ecf", _DOTTED),
    "growth": ("gradient norm growing", "#e7969c", _DASH_DOT_DOT),
    "layer_vanishing": ("some layers' gradients vanished", "#393b79", _LONG_DASH),
    "reduce_lr": ("learning rate reduced", "#637939", _SPARSE_DOT),
    # MemoryMonitor
    "host_near_limit": ("host memory near its limit", "#843c39", _DASHED),
    "device_near_limit": ("device memory near its limit", "#d6616b", _DASH_DOT),
    "host_leak": ("host memory leak", "#7b4173", _DOTTED),
    "device_leak": ("device memory leak", "#ce6dbd", _DASH_DOT_DOT),
    # GradientNoiseScale
    "batch_size_advice": ("batch size far from B_simple", "#31a354", _DASHED),
}
EVENT_KINDS_BY_MONITOR = {
    "step_time": ("step_time_drift", "data_time_drift", "callback_time_drift", "machine_slowdown",
                  "recompiles", "compile", "recompile", "train_function_rebuilt",
                  "baseline_reanchored"),
    "gradient_norm": ("nonfinite", "explosion", "vanishing", "growth", "layer_vanishing",
                      "reduce_lr"),
    "memory": ("host_near_limit", "device_near_limit", "host_leak", "device_leak"),
    "gradient_noise_scale": ("batch_size_advice",),
}
# Shown on their own monitor's figure only; every other event is marked on every figure.
INFO_KINDS = frozenset({"compile", "recompile", "train_function_rebuilt", "baseline_reanchored",
                        "reduce_lr", "batch_size_advice"})
_OTHER_COLORS = ("#17becf", "#b5cf6b", "#e6550d", "#3182bd", "#756bb1", "#636363")
_OTHER_STYLES = (_DASHED, _DASH_DOT, _DOTTED, _LONG_DASH)

_FIGURE_TITLES = {"step_time": "Step time and input wait", "gradient_norm": "Gradient norm",
                  "memory": "Memory", "gradient_noise_scale": "Gradient noise scale"}
_WIDTH, _DPI = 10.0, 100
_HEIGHTS = {"step_time": 5.4, "gradient_norm": 3.4, "memory": 3.4, "gradient_noise_scale": 3.4}
_LEFT_IN, _RIGHT_IN, _TOP_IN, _BOTTOM_IN = 0.85, 3.0, 0.4, 0.6  # margins; the legend on the right
_SERIES_COLORS = ("#1f77b4", "#2ca02c", "#17becf")
_LOG_RATIO = 30.0  # the gradient axis is logarithmic when the norms span more than this
NO_FINITE_NORM = "no finite norm"
SOME_NONFINITE = "some steps non-finite"


class Panel(NamedTuple):
    """One figure of the report: its monitor, title, matplotlib figure and alt text."""

    monitor: str
    title: str
    figure: object
    alt: str


def number(value) -> float:
    """``value`` as a float; ``nan`` for anything that is not a number (``"nan"`` gives nan)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def event_style(kind: str) -> tuple[str, str, object]:
    """(human label, colour, line style) of an event kind; unknown kinds get a stable style."""
    if kind in EVENT_STYLES:
        return EVENT_STYLES[kind]
    code = zlib.crc32(str(kind).encode("utf-8"))
    label = str(kind).replace("_", " ")
    return label, _OTHER_COLORS[code % len(_OTHER_COLORS)], _OTHER_STYLES[code % len(_OTHER_STYLES)]


def memory_label(name: str) -> str:
    """Human label of a memory reading: ``host_rss`` is host memory (RSS), others a device's."""
    if name in ("host_rss", "", None):
        return "host memory (RSS)"
    return f"device memory ({name})"


def monitors_to_plot(records: list[dict]) -> list[str]:
    """The monitors that have window records, in the report's order."""
    present = {r.get("monitor") for r in records if r.get("type") == "window"}
    return [monitor for monitor in _FIGURE_TITLES if monitor in present]


def build_figures(records: list[dict]) -> list[Panel]:
    """One :class:`Panel` per monitor with window records (step time, gradient norm, memory)."""
    from matplotlib.figure import Figure

    panels = []
    for monitor in monitors_to_plot(records):
        figure = Figure(figsize=(_WIDTH, _HEIGHTS[monitor]), dpi=_DPI)
        alt = _DRAW[monitor](figure, records)
        panels.append(Panel(monitor, _FIGURE_TITLES[monitor], figure, alt))
    return panels


def build_combined_figure(records: list[dict]):
    """Every panel of :func:`build_figures` stacked in one figure (for ``--png``)."""
    from matplotlib.figure import Figure

    monitors = monitors_to_plot(records)
    heights = [_HEIGHTS[monitor] for monitor in monitors]
    figure = Figure(figsize=(_WIDTH, sum(heights)), dpi=_DPI)
    subfigures = figure.subfigures(len(monitors), 1, height_ratios=heights, squeeze=False)[:, 0]
    for subfigure, monitor in zip(subfigures, monitors):
        _DRAW[monitor](subfigure, records)
    return figure


# ---------------------------------------------------------------------------------- drawing
def _axes(figure, monitor, rows=1):
    """The axes of one panel, at fixed margins in inches: the data areas of all panels line up
    and the legends have the same room on the right whatever their length."""
    height = _HEIGHTS[monitor]
    grid = {"left": _LEFT_IN / _WIDTH, "right": 1 - _RIGHT_IN / _WIDTH,
            "bottom": _BOTTOM_IN / height, "top": 1 - _TOP_IN / height, "hspace": 0.35}
    return figure.subplots(rows, 1, sharex=True, squeeze=False, gridspec_kw=grid)[:, 0]


def _windows(records, monitor) -> list[dict]:
    return [r for r in records if r.get("type") == "window" and r.get("monitor") == monitor]


def _steps(windows) -> list[float]:
    return [number(w.get("step")) for w in windows]


def _events(records, monitor) -> list[dict]:
    return [r for r in records if r.get("type") == "event"
            and (r.get("monitor") == monitor or r.get("kind") not in INFO_KINDS)]


def _last_step(records) -> float:
    steps = [number(r.get("step")) for r in records if r.get("type") in ("window", "event")]
    return max((s for s in steps if math.isfinite(s)), default=1.0)


def _finite(values) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _plot_series(axis, steps, values, label, index, **style) -> None:
    style = {"marker": "o", "ms": 3.5, "lw": 1.6, "color": _SERIES_COLORS[index % 3],
             "zorder": 3, **style}
    axis.plot(steps, values, label=label, **style)


def _mark_events(axis, events, legend: bool = True) -> list[str]:
    """Vertical lines at the events' steps (one legend entry per kind unless ``legend`` is
    false); returns a description of each kind for the alt text."""
    by_kind: dict[str, list[int]] = {}
    for event in events:
        step = number(event.get("step"))
        if math.isfinite(step):
            by_kind.setdefault(str(event.get("kind")), []).append(int(step))
    described = []
    for kind, steps in by_kind.items():
        label, color, style = event_style(kind)
        where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)}x from step {min(steps)}"
        entry = textwrap.fill(f"{label} ({where})", 40)
        for number_, step in enumerate(steps):
            axis.axvline(step, color=color, ls=style, lw=1.4, zorder=2,
                         label=entry if legend and number_ == 0 else None)
        described.append(f"{label} at {where.replace('x from', ' times from')}")
    return described


def _finish(axis, records, ylabel, title, bottom=0.0, xlabel=True) -> None:
    axis.set_title(title, fontsize=10, loc="left")
    axis.set_ylabel(ylabel)
    if xlabel:
        axis.set_xlabel("training step")
    last = _last_step(records)
    axis.set_xlim(-0.015 * last, last * 1.02)  # a line at step 1 stays off the left spine
    if bottom is not None:
        axis.set_ylim(bottom=bottom)
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                    fontsize=8, frameon=False)


def _range_text(label, values, unit) -> str:
    finite = _finite(values)
    if not finite:
        return f"{label}: no values"
    unit = f" {unit}" if unit else ""
    last = "last" if math.isfinite(values[-1]) else "last finite"
    return (f"{label} {finite[0]:.3g}{unit} in the first window, {finite[-1]:.3g}{unit} in the "
            f"{last} (lowest {min(finite):.3g}, highest {max(finite):.3g})")


def _span_text(records, windows) -> str:
    steps = _finite(_steps(windows))
    span = f"steps {int(min(steps))} to {int(max(steps))}" if steps else "no steps"
    return f"{len(windows)} windows, {span}"


def _events_text(described) -> str:
    return (" Dashed vertical lines mark events: " + "; ".join(described) + ".") if described else ""


def _draw_step_time(figure, records) -> str:
    windows = _windows(records, "step_time")
    steps = _steps(windows)
    top, bottom = _axes(figure, "step_time", rows=2)
    step_ms = [number(w.get("step_time")) * 1e3 for w in windows]
    _plot_series(top, steps, step_ms, "step time (window median)", 0)
    if any(math.isfinite(number(w.get("step_time_max"))) for w in windows):
        _plot_series(top, steps, [number(w.get("step_time_max")) * 1e3 for w in windows],
                     "step time (window max)", 0, marker="", lw=0.9, alpha=0.45)
    wait_ms = [number(w.get("data_time")) * 1e3 for w in windows]
    _plot_series(bottom, steps, wait_ms, "input wait (window median)", 1)
    callback_ms = [number(w.get("callback_time")) * 1e3 for w in windows]
    has_callbacks = bool(_finite(callback_ms))
    if has_callbacks:
        _plot_series(bottom, steps, callback_ms, "other callbacks (window median)", 2,
                     marker="s", ms=2.5, lw=1.0)
    events = _events(records, "step_time")
    described = _mark_events(top, events)
    _mark_events(bottom, events, legend=False)  # their legend entries are in the top legend
    _finish(top, records, "step time (ms)", "Step time per training step (compute)", xlabel=False)
    _finish(bottom, records, "input wait, callbacks (ms)" if has_callbacks else "input wait (ms)",
            "Time per step waiting for input" + (" and in other callbacks" if has_callbacks else ""))
    finite_steps = sorted(_finite(step_ms))
    if finite_steps:  # waits are judged against the step: noise of 0.05 ms is not a mountain
        bottom.set_ylim(0, max(bottom.get_ylim()[1], finite_steps[len(finite_steps) // 2] * 1.1))
    parts = [f"Two line charts over the training steps ({_span_text(records, windows)}), both "
             "axes from 0 ms. Top: " + _range_text("step time per step (window median)", step_ms, "ms")
             + ". Bottom: " + _range_text("input wait per step", wait_ms, "ms")]
    if has_callbacks:
        parts.append(f"; {_range_text('time in other callbacks', callback_ms, 'ms')}")
    return "".join(parts) + "." + _events_text(described)


def _draw_gradient_norm(figure, records) -> str:
    windows = _windows(records, "gradient_norm")
    steps = _steps(windows)
    (axis,) = _axes(figure, "gradient_norm")
    medians = [number(w.get("grad_norm")) for w in windows]
    maxima = [number(w.get("grad_norm_max")) for w in windows]
    _plot_series(axis, steps, medians, "gradient norm (window median)", 0)
    _plot_series(axis, steps, maxima, "gradient norm (window max)", 0, marker="^", ms=3, lw=0.9,
                 alpha=0.5)
    positive, log = _scale_axis(axis, medians + maxima)
    none = [s for s, m in zip(steps, medians) if not math.isfinite(m)]
    some = [s for s, m, w in zip(steps, medians, windows)
            if math.isfinite(m) and number(w.get("nonfinite")) > 0]
    bottom_edge = axis.get_xaxis_transform()  # x in steps, y in axes fractions
    if none:
        axis.plot(none, [0.04] * len(none), "x", color="red", ms=8, mew=2, zorder=4,
                  transform=bottom_edge, clip_on=False, label=NO_FINITE_NORM)
    if some:
        axis.plot(some, [0.04] * len(some), "v", mfc="none", mec="red", mew=1.5, ms=7, zorder=4,
                  transform=bottom_edge, clip_on=False, label=SOME_NONFINITE)
    described = _mark_events(axis, _events(records, "gradient_norm"))
    _finish(axis, records, "gradient norm" + (" (log scale)" if log else ""),
            "Global gradient norm per training step", bottom=None if log else 0.0)
    if not positive:
        axis.set_ylim(0, 1)
    text = (f"Line chart of the global gradient norm over the training steps "
            f"({_span_text(records, windows)}), {'log scale' if log else 'axis from 0'}: "
            f"{_range_text('window median', medians, '')}; "
            f"{_range_text('window max', maxima, '')}.")
    if none:
        text += (f" {len(none)} window(s) had no finite gradient norm (steps {int(min(none))} to "
                 f"{int(max(none))}), marked with red crosses at the bottom.")
    if some:
        text += f" {len(some)} window(s) had some non-finite steps (hollow red triangles at the bottom)."
    return text + _events_text(described)


def _scale_axis(axis, values) -> tuple[list[float], bool]:
    """The positive finite ``values``, and whether the axis went logarithmic (they span more
    than ``_LOG_RATIO``)."""
    positive = [v for v in _finite(values) if v > 0]
    log = bool(positive) and max(positive) / min(positive) > _LOG_RATIO
    if log:
        _log_axis(axis, max(positive) / min(positive))
    return positive, log


def _log_axis(axis, ratio: float) -> None:
    """A log y axis labelled with plain numbers (0.01, 1, 100); over two decades or less, the
    2s and 5s between the powers of ten are labelled too."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    if ratio <= 100:
        axis.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    else:
        axis.yaxis.set_minor_formatter(NullFormatter())


def _memory_series(windows) -> dict[str, list[float]]:
    names: list[str] = []
    for window in windows:
        for name in window.get("readings") or {}:
            if name not in names:
                names.append(name)
    if not names:
        source = str(windows[0].get("source") or "host_rss") if windows else "host_rss"
        return {source: [number(w.get("memory_peak")) for w in windows]}
    series = {}
    for name in names:
        readings = [(w.get("readings") or {}).get(name) for w in windows]
        series[name] = [number(r.get("peak_mb")) if isinstance(r, dict) else math.nan
                        for r in readings]
    return series


def _mib(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def _draw_memory(figure, records) -> str:
    windows = _windows(records, "memory")
    steps = _steps(windows)
    (axis,) = _axes(figure, "memory")
    texts, highest = [], 0.0
    for index, (name, values) in enumerate(_memory_series(windows).items()):
        finite = _finite(values)
        label = memory_label(name)
        if finite:
            rise = finite[-1] - finite[0]
            percent = f", {rise / finite[0]:+.1%}" if finite[0] > 0 else ""
            label += (f"\n{_mib(finite[0])} \u2192 {_mib(finite[-1])} MiB "
                      f"({'+' if rise >= 0 else '-'}{_mib(abs(rise))} MiB{percent})")
            highest = max(highest, max(finite))
            texts.append(f"{memory_label(name)} from {_mib(finite[0])} MiB to {_mib(finite[-1])} "
                         f"MiB ({'+' if rise >= 0 else '-'}{_mib(abs(rise))} MiB{percent}), "
                         f"highest {_mib(max(finite))} MiB")
        _plot_series(axis, steps, values, label, index)
    described = _mark_events(axis, _events(records, "memory"))
    _finish(axis, records, "memory peak per window (MiB)",
            "Memory: peak of each window (axis from 0 MiB)")
    axis.set_ylim(0, highest * 1.12 if highest > 0 else 1.0)
    text = (f"Line chart of the memory peak per window over the training steps "
            f"({_span_text(records, windows)}), axis from 0 MiB: "
            + ("; ".join(texts) or "no values") + ".")
    return text + _events_text(described)


def _draw_noise_scale(figure, records) -> str:
    windows = _windows(records, "gradient_noise_scale")
    steps = _steps(windows)
    (axis,) = _axes(figure, "gradient_noise_scale")
    smoothed = [number(w.get("gns")) for w in windows]
    raw = [number(w.get("gns_window")) for w in windows]
    batches = [number(w.get("batch_size")) for w in windows]
    _plot_series(axis, steps, smoothed, "B_simple (smoothed)", 0)
    _plot_series(axis, steps, raw, "B_simple (window alone)", 0, marker="^", ms=3, lw=0.9,
                 alpha=0.45)
    low = [number(w.get("gns_low")) for w in windows]
    high = [number(w.get("gns_high")) for w in windows]
    bounded = [(s, lo, hi) for s, lo, hi in zip(steps, low, high)
               if math.isfinite(lo) and math.isfinite(hi) and lo > 0]
    if bounded:
        axis.fill_between([b[0] for b in bounded], [b[1] for b in bounded], [b[2] for b in bounded],
                          color=_SERIES_COLORS[0], alpha=0.12, lw=0, zorder=1,
                          label="95% bounds (where both are finite)")
    axis.plot(steps, batches, drawstyle="steps-post", color="black", ls="--", lw=1.2, zorder=2,
              label="batch size")
    positive, log = _scale_axis(axis, smoothed + raw + batches)
    unresolved = [s for s, g in zip(steps, smoothed) if not math.isfinite(g)]
    if unresolved:
        axis.plot(unresolved, [0.04] * len(unresolved), "x", color="grey", ms=7, mew=1.5,
                  zorder=4, transform=axis.get_xaxis_transform(), clip_on=False,
                  label="|G|^2 not resolved above 0")
    described = _mark_events(axis, _events(records, "gradient_noise_scale"))
    _finish(axis, records, "samples" + (" (log scale)" if log else ""),
            "Gradient noise scale B_simple = tr(Sigma) / |G|^2 and the batch size",
            bottom=None if log else 0.0)
    if not positive:
        axis.set_ylim(0, 1)
    finite_batches = _finite(batches)
    text = (f"Line chart of the gradient noise scale over the training steps "
            f"({_span_text(records, windows)}), {'log scale' if log else 'axis from 0'}: "
            f"{_range_text('smoothed B_simple', smoothed, 'samples')}; a dashed line marks the "
            f"batch size ({', '.join(f'{b:g}' for b in sorted(set(finite_batches))) or 'unknown'}).")
    if unresolved:
        text += (f" {len(unresolved)} window(s) had no estimate (|G|^2 not resolved above 0), "
                 f"marked with grey crosses at the bottom.")
    return text + _events_text(described)


_DRAW = {"step_time": _draw_step_time, "gradient_norm": _draw_gradient_norm,
         "memory": _draw_memory, "gradient_noise_scale": _draw_noise_scale}
