"""``bsguard report``'s figures are readable at a glance (the figure objects, not pixels): legends
outside the data, a fixed style per event kind, memory from zero, step time and input wait apart,
windows without a finite gradient norm marked, human labels with units."""

from __future__ import annotations

import io

import pytest

from keras_bsguard import report_plots
from keras_bsguard.report_plots import (
    EVENT_STYLES,
    build_combined_figure,
    build_figures,
)

RAW_KEYS = ("step_time", "data_time", "callback_time", "grad_norm", "memory_peak", "host_rss",
            "nonfinite", "_drift", "_leak")


def _records(nan_from=None):
    records = [{"type": "run", "monitor": m, "run": "r1", "backend": "jax"}
               for m in ("step_time", "gradient_norm", "memory")]
    for step in range(10, 210, 10):
        nan = nan_from is not None and step >= nan_from
        records += [
            {"type": "window", "monitor": "step_time", "run": "r1", "step": step,
             "step_time": 0.002, "step_time_max": 0.004, "data_time": 0.0001 if step < 100 else 0.01,
             "callback_time": 0.00002},
            {"type": "window", "monitor": "gradient_norm", "run": "r1", "step": step,
             "grad_norm": "nan" if nan else 1.0, "grad_norm_max": "nan" if nan else 1.5,
             "nonfinite": 10 if nan else (3 if step == nan_from - 10 else 0) if nan_from else 0},
            {"type": "window", "monitor": "memory", "run": "r1", "step": step, "source": "host_rss",
             "memory_peak": 421.0 + 7.0 * (step - 10) / 190,
             "readings": {"host_rss": {"peak_mb": 421.0 + 7.0 * (step - 10) / 190, "fraction": 0.01}}},
        ]
    records += [
        {"type": "event", "monitor": "step_time", "run": "r1", "step": 1, "kind": "compile",
         "message": "compiled"},
        {"type": "event", "monitor": "step_time", "run": "r1", "step": 100,
         "kind": "data_time_drift", "message": "input wait grew"},
        {"type": "event", "monitor": "memory", "run": "r1", "step": 150, "kind": "host_leak",
         "message": "leak"},
        {"type": "event", "monitor": "gradient_norm", "run": "r1", "step": 160,
         "kind": "something_new", "message": "a kind this report does not know"},
    ]
    return records


@pytest.fixture
def panels():
    figures = build_figures(_records(nan_from=150))
    yield {panel.monitor: panel for panel in figures}
    for panel in figures:
        panel.figure.clear()


def _texts(figure):
    """Every text a reader sees: titles, axis labels, legend entries."""
    texts = []
    for axis in figure.axes:
        texts += [axis.get_title(loc="left"), axis.get_xlabel(), axis.get_ylabel()]
        if axis.get_legend():
            texts += [t.get_text() for t in axis.get_legend().get_texts()]
    return [t for t in texts if t]


def _legend_labels(axis):
    return [t.get_text() for t in axis.get_legend().get_texts()] if axis.get_legend() else []


def test_one_figure_per_monitor_with_human_labels_and_units(panels):
    assert list(panels) == ["step_time", "gradient_norm", "memory"]
    top, bottom = panels["step_time"].figure.axes
    assert top.get_ylabel() == "step time (ms)"
    assert bottom.get_ylabel() == "input wait, callbacks (ms)"
    assert bottom.get_xlabel() == "training step"
    assert panels["gradient_norm"].figure.axes[0].get_ylabel() == "gradient norm"
    assert panels["memory"].figure.axes[0].get_ylabel() == "memory peak per window (MiB)"
    assert "host memory (RSS)" in _legend_labels(panels["memory"].figure.axes[0])[0]
    for panel in panels.values():
        for text in _texts(panel.figure):
            assert not any(key in text for key in RAW_KEYS), (panel.monitor, text)


def test_step_time_and_input_wait_are_on_separate_axes(panels):
    top, bottom = panels["step_time"].figure.axes
    top_series = [line.get_label() for line in top.get_lines() if line.get_marker() == "o"]
    bottom_series = [line.get_label() for line in bottom.get_lines() if line.get_marker() == "o"]
    assert top_series == ["step time (window median)"]
    assert bottom_series == ["input wait (window median)"]
    assert top.get_ylim()[0] == 0 and bottom.get_ylim()[0] == 0
    # the input wait (0.1 -> 10 ms) is not flattened under the step time's scale
    assert bottom.get_ylim()[1] == pytest.approx(10.0, rel=0.15)


def test_memory_axis_starts_at_zero_and_the_rise_is_written_out(panels):
    axis = panels["memory"].figure.axes[0]
    low, high = axis.get_ylim()
    assert low == 0 and 428 < high < 600
    label = _legend_labels(axis)[0]
    assert "421 \u2192 428 MiB (+7.0 MiB, +1.7%)" in label.replace("\n", " "), label
    assert "host memory (RSS) from 421 MiB to 428 MiB (+7.0 MiB, +1.7%)" in panels["memory"].alt


def test_windows_without_a_finite_norm_are_marked(panels):
    axis = panels["gradient_norm"].figure.axes[0]
    marks = {line.get_label(): line for line in axis.get_lines()}
    none = marks["no finite norm"]
    assert none.get_marker() == "x" and none.get_color() == "red"
    assert list(none.get_xdata()) == list(range(150, 210, 10))
    assert list(marks["some steps non-finite"].get_xdata()) == [140]
    assert "no finite norm" in _legend_labels(axis)
    assert "6 window(s) had no finite gradient norm (steps 150 to 200)" in panels["gradient_norm"].alt
    clean = build_figures(_records())[1]
    assert "no finite norm" not in [line.get_label() for line in clean.figure.axes[0].get_lines()]
    assert "no finite" not in clean.alt


def test_legends_are_outside_the_data_area(panels):
    for panel in panels.values():
        panel.figure.savefig(io.BytesIO(), format="png")  # lays the figure out
        for axis in panel.figure.axes:
            legend = axis.get_legend()
            if legend is None:
                continue
            assert legend.get_window_extent().x0 >= axis.get_window_extent().x1, panel.monitor
    # the data areas of all figures line up, whatever the legends' lengths
    lefts = {round(axis.get_position().x0, 6) for p in panels.values() for axis in p.figure.axes}
    rights = {round(axis.get_position().x1, 6) for p in panels.values() for axis in p.figure.axes}
    assert len(lefts) == 1 and len(rights) == 1


def _event_lines(axis):
    return {line.get_label().split(" (")[0]: line for line in axis.get_lines()
            if line.get_label() and not line.get_label().startswith("_")
            and list(line.get_xdata()) in ([1, 1], [100, 100], [150, 150], [160, 160])}


def test_each_event_kind_has_its_own_colour_line_style_and_legend_entry(panels):
    step_axis = panels["step_time"].figure.axes[0]
    lines = _event_lines(step_axis)
    # its own monitor's information (compile) and every monitor's warnings
    assert set(lines) == {"first compile", "input wait grew", "host memory leak", "something new"}
    assert len({line.get_color() for line in lines.values()}) == 4
    for kind in ("compile", "data_time_drift", "host_leak"):
        label, color, _ = EVENT_STYLES[kind]
        assert lines[label].get_color() == color
    assert lines["host memory leak"].get_linestyle() == ":"
    assert _legend_labels(step_axis).count("input wait grew (step 100)") == 1
    memory_lines = _event_lines(panels["memory"].figure.axes[0])
    assert "first compile" not in memory_lines  # information stays on its own monitor's figure
    assert memory_lines["host memory leak"].get_color() == lines["host memory leak"].get_color()
    # the fixed mapping: every kind the monitors write has its own colour, and its own line style
    # among its monitor's kinds
    colors = [color for _, color, _ in EVENT_STYLES.values()]
    assert len(set(colors)) == len(colors)
    kinds = [kind for group in report_plots.EVENT_KINDS_BY_MONITOR.values() for kind in group]
    assert sorted(kinds) == sorted(EVENT_STYLES)
    for group in report_plots.EVENT_KINDS_BY_MONITOR.values():
        styles = [str(EVENT_STYLES[kind][2]) for kind in group]
        assert len(set(styles)) == len(styles), group
    assert report_plots.event_style("something_new") == report_plots.event_style("something_new")


def test_a_log_scale_only_when_the_norms_span_decades():
    records = _records()
    for step, record in enumerate(r for r in records if r.get("monitor") == "gradient_norm"
                                  and r["type"] == "window"):
        record["grad_norm"] = record["grad_norm_max"] = 10.0 ** (step / 4)
    axis = build_figures(records)[1].figure.axes[0]
    assert axis.get_yscale() == "log" and axis.get_ylabel() == "gradient norm (log scale)"
    linear = build_figures(_records())[1].figure.axes[0]
    assert linear.get_yscale() == "linear" and linear.get_ylim()[0] == 0


def test_the_combined_figure_holds_every_panel():
    figure = build_combined_figure(_records(nan_from=150))
    assert len(figure.axes) == 4
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_odd_values_do_not_break_the_figures():
    records = _records()
    records[3]["step"] = None  # a step time window whose step is not a number
    records[4]["grad_norm"] = "inf"
    panels = build_figures(records)
    assert len(panels) == 3 and all(panel.alt for panel in panels)
    for panel in panels:
        panel.figure.savefig(io.BytesIO(), format="png")
