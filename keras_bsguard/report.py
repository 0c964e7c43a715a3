"""``bsguard report RUN.jsonl [-o report.html]``: render a monitors' event log.

Reads the JSONL file written by the monitors' ``log_dir``/``event_log`` and writes one
self-contained HTML file: step time and input wait, gradient norm and memory over the training
steps (matplotlib PNGs embedded as data URIs) with every event marked, a summary table and the
list of events. Prints the summary table on stdout.

By default the latest run of each monitor in the file is shown (a log directory reused across
``fit`` calls holds several); ``--run ID`` picks one.

Example::

    python -m keras_bsguard.report runs/bsguard_events.jsonl -o report.html --png report.png
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import os
import sys

from keras_bsguard.event_log import read_events

_PANELS = (
    ("step_time", "Step time and input wait", "ms per step"),
    ("gradient_norm", "Global gradient norm", "norm (log scale)"),
    ("memory", "Memory (window peak)", "MiB"),
)
_EVENT_COLORS = {"step_time": "tab:red", "gradient_norm": "tab:purple", "memory": "tab:brown"}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bsguard report",
        description="Render a keras-bsguard event log (JSONL) as one HTML file with plots.",
    )
    parser.add_argument("run_file", metavar="RUN.jsonl", help="event log written by the monitors")
    parser.add_argument("-o", "--output", help="HTML file to write (default: RUN.html beside it)")
    parser.add_argument("--png", help="also write all panels as one PNG (for docs and READMEs)")
    parser.add_argument("--run", help="run id to show (default: the latest run of each monitor)")
    return parser


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def select_runs(records: list[dict], run: str | None = None) -> list[dict]:
    """Records of ``run`` or, by default, of the latest run of each monitor."""
    if run is not None:
        chosen = [r for r in records if r.get("run") == run]
        if not chosen:
            raise ValueError(f"no records of run {run!r}")
        return chosen
    latest: dict[str, str] = {}
    for record in records:
        if record.get("type") == "run":
            latest[record.get("monitor")] = record.get("run")
    if not latest:
        return records
    return [r for r in records if latest.get(r.get("monitor"), r.get("run")) == r.get("run")]


def summarize(records: list[dict]) -> list[dict]:
    """One row per monitor: windows, last step, the main figure's median and max, events."""
    rows = []
    figures = {"step_time": ("step_time", 1e3, "ms"), "gradient_norm": ("grad_norm", 1, ""),
               "memory": ("memory_peak", 1, "MiB")}
    for monitor, (key, scale, unit) in figures.items():
        windows = [r for r in records if r.get("monitor") == monitor and r["type"] == "window"]
        events = [r for r in records if r.get("monitor") == monitor and r["type"] == "event"]
        if not windows and not events:
            continue
        values = sorted(v * scale for v in (_float(w.get(key)) for w in windows) if math.isfinite(v))
        rows.append({
            "monitor": monitor,
            "windows": len(windows),
            "last_step": max((int(w.get("step", 0)) for w in windows), default=0),
            "median": values[len(values) // 2] if values else math.nan,
            "max": values[-1] if values else math.nan,
            "unit": unit,
            "events": len(events),
            "warnings": sorted({e.get("kind") for e in events if e.get("kind") != "recompile"}),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    header = f"{'monitor':<14}{'windows':>8}{'steps':>8}{'median':>12}{'max':>12}  {'unit':<5}{'events':>7}  kinds"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['monitor']:<14}{row['windows']:>8}{row['last_step']:>8}"
            f"{row['median']:>12.4g}{row['max']:>12.4g}  {row['unit']:<5}{row['events']:>7}  "
            f"{', '.join(row['warnings']) or '-'}"
        )
    return "\n".join(lines)


def _plot_panel(axis, records, monitor, title, ylabel) -> None:
    windows = [r for r in records if r.get("monitor") == monitor and r["type"] == "window"]
    steps = [int(w.get("step", 0)) for w in windows]
    if monitor == "step_time":
        axis.plot(steps, [_float(w.get("step_time")) * 1e3 for w in windows], "o-", ms=3,
                  label="step time (median)")
        axis.plot(steps, [_float(w.get("data_time")) * 1e3 for w in windows], "s-", ms=3,
                  label="input wait (median)")
    elif monitor == "gradient_norm":
        axis.plot(steps, [_float(w.get("grad_norm")) for w in windows], "o-", ms=3, label="median")
        axis.plot(steps, [_float(w.get("grad_norm_max")) for w in windows], "^-", ms=3,
                  label="max", alpha=0.7)
        if any(_float(w.get("grad_norm_max")) > 0 for w in windows):
            axis.set_yscale("log")
    else:
        axis.plot(steps, [_float(w.get("memory_peak")) for w in windows], "o-", ms=3,
                  label=str(windows[0].get("source", "peak")) if windows else "peak")
    marked = set()
    for event in records:
        if event["type"] != "event" or event.get("kind") == "recompile" and monitor != "step_time":
            continue
        color = _EVENT_COLORS.get(event.get("monitor"), "gray")
        label = f"{event.get('monitor')}: {event.get('kind')}"
        axis.axvline(int(event.get("step", 0)), color=color, ls="--", lw=1,
                     label=None if label in marked else label)
        marked.add(label)
    axis.set_title(title)
    axis.set_xlabel("training step")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7, loc="upper left")


def _panels(records) -> list[tuple[str, str, str]]:
    present = {r.get("monitor") for r in records if r["type"] == "window"}
    return [p for p in _PANELS if p[0] in present]


def render_pngs(records: list[dict]) -> list[tuple[str, bytes]]:
    """One PNG per panel that has data: (title, png bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    for monitor, title, ylabel in _panels(records):
        figure, axis = plt.subplots(figsize=(8, 3.2), dpi=100)
        _plot_panel(axis, records, monitor, title, ylabel)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        images.append((title, buffer.getvalue()))
    return images


def render_combined_png(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(records)
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 3.0 * len(panels)), dpi=100,
                                squeeze=False)
    for axis, (monitor, title, ylabel) in zip(axes[:, 0], panels):
        _plot_panel(axis, records, monitor, title, ylabel)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def render_html(records: list[dict], source: str) -> str:
    rows = summarize(records)
    run_info = [r for r in records if r["type"] == "run"]
    backend = run_info[0].get("backend", "?") if run_info else "?"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>bsguard report</title>",
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:6px}</style></head><body>",
        f"<h1>bsguard report</h1><p>{html.escape(os.path.basename(source))} &middot; backend "
        f"{html.escape(str(backend))}</p>",
        "<table><tr><th>monitor</th><th>windows</th><th>steps</th><th>median</th><th>max</th>"
        "<th>unit</th><th>events</th><th>warnings</th></tr>",
    ]
    for row in rows:
        parts.append(
            f"<tr><td>{row['monitor']}</td><td>{row['windows']}</td><td>{row['last_step']}</td>"
            f"<td>{row['median']:.4g}</td><td>{row['max']:.4g}</td><td>{row['unit']}</td>"
            f"<td>{row['events']}</td><td>{html.escape(', '.join(row['warnings']) or '-')}</td></tr>"
        )
    parts.append("</table>")
    for title, png in render_pngs(records):
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{data}'>")
    events = [r for r in records if r["type"] == "event"]
    parts.append(f"<h2>Events ({len(events)})</h2>")
    for event in events:
        parts.append(
            f"<h3>step {int(event.get('step', 0))} &middot; {html.escape(str(event.get('monitor')))}"
            f" &middot; {html.escape(str(event.get('kind')))}</h3>"
            f"<pre>{html.escape(str(event.get('message', '')))}</pre>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """Entry point of ``bsguard report``. Returns 0 on success, 2 on bad input."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as error:
        print(f"bsguard report: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        records = read_events(args.run_file)
        if not records:
            raise ValueError(f"{args.run_file}: no event records")
        records = select_runs(records, args.run)
        if not any(r["type"] == "window" for r in records):
            raise ValueError(f"{args.run_file}: no window records to plot")
        output = args.output or os.path.splitext(args.run_file)[0] + ".html"
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(render_html(records, args.run_file))
        if args.png:
            render_combined_png(records, args.png)
    except (OSError, ValueError, KeyError, TypeError) as error:
        message = error.strerror + f": {error.filename}" if isinstance(error, OSError) and \
            error.strerror else str(error)
        print(f"bsguard report: error: {message}", file=sys.stderr)
        return 2
    print(format_table(summarize(records)))
    events = [r for r in records if r["type"] == "event" and r.get("kind") != "recompile"]
    for event in events:
        first_line = str(event.get("message", "")).splitlines()[0] if event.get("message") else ""
        print(f"step {int(event.get('step', 0)):>6}  {event.get('monitor')}: {first_line}")
    print(f"wrote {output}" + (f" and {args.png}" if args.png else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
