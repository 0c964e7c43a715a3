"""``bsguard report RUN.jsonl [-o report.html]``: render a monitors' event log.

Reads the JSONL file written by the monitors' ``log_dir``/``event_log`` and writes one
self-contained HTML file: step time and input wait, gradient norm and memory over the training
steps (matplotlib PNGs embedded as data URIs) with every event marked, a summary table and the
list of events. Prints the summary table on stdout.

By default the latest run of each monitor in the file is shown (a log directory reused across
``fit`` calls holds several); ``--run ID`` picks one.

A cut-off last line (a run killed while writing it) is skipped with a note on stderr and in the
report; any other bad line is an error. Errors are one line on stderr and exit code 2, and then
nothing is written: the files are rendered in memory first and replaced atomically. The plots
need matplotlib (the ``keras`` extra); the figures themselves are drawn by
:mod:`keras_bsguard.report_plots`.

Example::

    python -m keras_bsguard.report runs/bsguard_events.jsonl -o report.html --png report.png
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import io
import json
import math
import os
import stat
import sys
import uuid

from keras_bsguard import report_plots

EXIT_OK, EXIT_ERROR = 0, 2  # bsguard's convention: 2 is a usage or input error
# The extra of pyproject.toml that installs matplotlib (with keras and psutil).
INSTALL_HINT = 'pip install "keras-bsguard[keras]" (from a clone of the repository: pip install ".[keras]")'


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


_float = report_plots.number


def _step(record: dict) -> int:
    step = _float(record.get("step"))
    return int(step) if math.isfinite(step) else 0


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
               "memory": ("memory_peak", 1, "MiB"), "gradient_noise_scale": ("gns", 1, "")}
    for monitor, (key, scale, unit) in figures.items():
        windows = [r for r in records if r.get("monitor") == monitor and r["type"] == "window"]
        events = [r for r in records if r.get("monitor") == monitor and r["type"] == "event"]
        if not windows and not events:
            continue
        values = sorted(v * scale for v in (_float(w.get(key)) for w in windows) if math.isfinite(v))
        rows.append({
            "monitor": monitor,
            "windows": len(windows),
            "last_step": max((_step(w) for w in windows), default=0),
            "median": values[len(values) // 2] if values else math.nan,
            "max": values[-1] if values else math.nan,
            "unit": unit,
            "events": len(events),
            "warnings": sorted({str(e.get("kind")) for e in events
                                if e.get("kind") not in report_plots.INFO_KINDS}),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`summarize` as the plain-text table printed on stdout."""
    header = f"{'monitor':<21}{'windows':>8}{'steps':>8}{'median':>12}{'max':>12}  {'unit':<5}{'events':>7}  kinds"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['monitor']:<21}{row['windows']:>8}{row['last_step']:>8}"
            f"{row['median']:>12.4g}{row['max']:>12.4g}  {row['unit']:<5}{row['events']:>7}  "
            f"{', '.join(row['warnings']) or '-'}"
        )
    return "\n".join(lines)


def read_log(path: str) -> tuple[list[dict], list[str]]:
    """Records of a JSONL event log and notes about what was skipped.

    A last line that is cut off (no newline at the end and not JSON: the run was stopped while
    writing it) is skipped with a note. Any other bad line raises ``ValueError`` naming it.
    """
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    unterminated = len(lines)  # the number of the line after the last newline (b"" if none)
    records, notes = [], []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if number == unterminated:
                notes.append(f"{path}:{number}: skipped the last line: it is cut off (incomplete, "
                             f"no newline at the end; the run was probably stopped while writing it)")
                continue
            why = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else \
                f"not a JSON object ({error.msg})"
            raise ValueError(f"{path}:{number}: {why}") from None
        if not isinstance(record, dict) or "type" not in record:
            raise ValueError(f"{path}:{number}: not a bsguard event record")
        records.append(record)
    return records, notes


class MissingMatplotlib(Exception):
    """matplotlib cannot be imported: the report cannot draw its plots."""


def require_matplotlib() -> None:
    """Raise :class:`MissingMatplotlib` (with the install command) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise MissingMatplotlib(
            f"the report needs matplotlib, which cannot be imported ({error}): {INSTALL_HINT}"
        ) from None


def render_pngs(records: list[dict]) -> list[tuple[str, bytes, str]]:
    """One PNG per monitor that has windows: (title, png bytes, alt text)."""
    images = []
    for panel in report_plots.build_figures(records):
        buffer = io.BytesIO()
        panel.figure.savefig(buffer, format="png")
        images.append((panel.title, buffer.getvalue(), panel.alt))
    return images


def render_combined_png(records: list[dict]) -> bytes:
    """Every panel in one PNG (``--png``)."""
    buffer = io.BytesIO()
    report_plots.build_combined_figure(records).savefig(buffer, format="png")
    return buffer.getvalue()


_STYLE = ("<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
          "img{max-width:100%}.note{background:#fff4d6;padding:4px 8px}"
          "pre{white-space:pre-wrap;background:#f6f6f6;padding:6px}</style></head><body>")


def render_html(records: list[dict], source: str, notes: list[str] = ()) -> str:
    """The self-contained HTML report: summary table, plots (data URIs) and events."""
    rows = summarize(records)
    run_info = [r for r in records if r["type"] == "run"]
    backend = run_info[0].get("backend", "?") if run_info else "?"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>bsguard report</title>",
        _STYLE,
        (f"<h1>bsguard report</h1><p>{html.escape(os.path.basename(source))} &middot; backend "
         f"{html.escape(str(backend))}</p>"),
    ]
    parts += [f"<p class='note'>Note: {html.escape(note)}</p>" for note in notes]
    parts.append("<table><tr><th>monitor</th><th>windows</th><th>last step</th><th>median</th>"
                 "<th>max</th><th>unit</th><th>events</th><th>warnings</th></tr>")
    for row in rows:
        warnings = ", ".join(report_plots.event_style(kind)[0] for kind in row["warnings"])
        parts.append(
            f"<tr><td>{report_plots.MONITOR_LABELS.get(row['monitor'], row['monitor'])}</td>"
            f"<td>{row['windows']}</td><td>{row['last_step']}</td>"
            f"<td>{row['median']:.4g}</td><td>{row['max']:.4g}</td><td>{row['unit']}</td>"
            f"<td>{row['events']}</td><td>{html.escape(warnings or '-')}</td></tr>"
        )
    parts.append("</table>")
    for title, png, alt in render_pngs(records):
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{html.escape(title)}</h2><img alt=\"{html.escape(alt)}\" "
                     f"src='data:image/png;base64,{data}'>")
    events = [r for r in records if r["type"] == "event"]
    parts.append(f"<h2>Events ({len(events)})</h2>")
    for event in events:
        kind = str(event.get("kind"))
        monitor = report_plots.MONITOR_LABELS.get(event.get("monitor"), str(event.get("monitor")))
        parts.append(
            f"<h3>step {_step(event)} &middot; {html.escape(monitor)}"
            f" &middot; {html.escape(report_plots.event_style(kind)[0])} ({html.escape(kind)})</h3>"
            f"<pre>{html.escape(str(event.get('message', '')))}</pre>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``:
    a failure part-way leaves an existing ``path`` as it was. Keeps an existing file's mode."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    except BaseException as error:  # an interrupt too: no temporary file is left behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from None
        raise


def _fail(message: str) -> int:
    print(f"bsguard report: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str]) -> int:
    """Entry point of ``bsguard report``. Returns 0 on success, 2 on bad input.

    Nothing is written unless the whole report could be rendered, and the files are replaced
    atomically: a failure never leaves an empty or half-written report over an old one.
    """
    try:
        args = _parser().parse_args(argv)
    except _UsageError as error:
        return _fail(str(error))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        require_matplotlib()
        output = args.output or os.path.splitext(args.run_file)[0] + ".html"
        if os.path.abspath(output) == os.path.abspath(args.run_file):
            raise ValueError(f"{output}: the output would replace the event log itself")
        records, notes = read_log(args.run_file)
        for note in notes:
            print(f"bsguard report: note: {note}", file=sys.stderr)
        if not records:
            raise ValueError(f"{args.run_file}: no event records")
        records = select_runs(records, args.run)
        if not any(r["type"] == "window" for r in records):
            raise ValueError(f"{args.run_file}: no window records to plot")
        page = render_html(records, args.run_file, notes).encode("utf-8")
        image = render_combined_png(records) if args.png else None
        write_atomically(output, page)
        if image is not None:
            write_atomically(args.png, image)
    except MissingMatplotlib as error:
        return _fail(str(error))
    except (OSError, ValueError, KeyError, TypeError) as error:
        message = error.strerror + (f": {error.filename}" if error.filename else "") \
            if isinstance(error, OSError) and error.strerror else str(error)
        return _fail(message)
    except Exception as error:  # noqa: BLE001 - a bug of ours: one line, not a traceback
        return _fail(f"internal error: {type(error).__name__}: {error} (please report this)")
    print(format_table(summarize(records)))
    events = [r for r in records if r["type"] == "event"
              and r.get("kind") not in ("compile", "recompile", "baseline_reanchored")]
    for event in events:
        first_line = str(event.get("message", "")).splitlines()[0] if event.get("message") else ""
        print(f"step {_step(event):>6}  {event.get('monitor')}: {first_line}")
    print(f"wrote {output}" + (f" and {args.png}" if args.png else ""))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
