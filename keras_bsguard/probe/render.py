"""How ``bsguard probe`` shows its result: an aligned table, JSON, and a log-log plot.

Example::

    >>> human_seconds(0.00042), human_bytes(3 * 2**20)
    ('420 us', '3.0 MiB')
"""

from __future__ import annotations

import json
import os
import tempfile


def human_seconds(value) -> str:
    """Seconds in us, ms or s."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f} us"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def human_bytes(value) -> str:
    """Bytes in B, KiB, MiB, GiB."""
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _exponent(fit) -> str:
    return "-" if fit is None else f"B^{fit['value']:.2f} (R^2 {fit['r2']:.2f})"


def _tail_text(result: dict, key: str) -> str:
    fit = result.get("exponents_tail", {}).get(key)
    return "" if fit is None else f",\nB^{fit['value']:.2f} over the 3 largest"


def table(result: dict) -> str:
    """The terminal report."""
    lines = [f"bsguard probe {result['target']}",
             f"  backend {result['backend']} ({result['mode']}), per-sample shape {tuple(result['shape'])}, "
             f"target {result['target_kind']}, prediction {result['prediction']}, {result['dtype']}, "
             f"called as loss({result['order'].replace(',', ', ')})", ""]
    header = ("batch", "time/call", "first call", "peak memory", "loss", "finite", "error")
    body = [(str(r["batch_size"]), human_seconds(r["seconds"]), human_seconds(r["compile_seconds"]),
             human_bytes(r["peak_bytes"]), "-" if r["loss_per_sample"] is None else f"{r['loss_per_sample']:.4g}",
             "-" if r["finite"] is None else ("yes" if r["finite"] else "NO"), r["error"] or "")
            for r in result["rows"]]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
    for row in [header, *body]:
        cells = [cell.rjust(width) for cell, width in zip(row[:-1], widths)]
        lines.append("  " + "  ".join(cells) + (f"  {row[-1]}" if row[-1] else ""))
    if result["stopped"]:
        lines.append(f"  (stopped: {result['stopped']})")
    exponents = result["exponents"]
    tail = result.get("exponents_tail", {})
    lines += ["", f"  over all sizes: time ~ {_exponent(exponents['time'])}, first call ~ {_exponent(exponents['compile'])}, "
                  f"memory ~ {_exponent(exponents['memory'])}"]
    if tail.get("time") or tail.get("memory"):
        lines.append(f"  over the 3 largest: time ~ {_exponent(tail.get('time'))}, memory ~ {_exponent(tail.get('memory'))}")
    lines += [
              f"  memory: {result['memory_method']}; loss: the mean of what the loss returns (Keras's default reduction)"]
    projected = result.get("projection")
    if projected and (projected["peak_bytes"] or projected["seconds"]):
        how = "measured" if projected.get("measured") else f"projected from batch {projected['from_batch_size']}"
        lines.append(f"  at batch {projected['batch_size']} this loss alone needs ~{human_bytes(projected['peak_bytes'])} and "
                     f"~{human_seconds(projected['seconds'])} per call, its first call (trace and compile) "
                     f"~{human_seconds(projected.get('compile_seconds'))} ({how})")
    lines += ["", "checks:"]
    labels = [check["name"] + (f" (batch {check['batch_size']})" if check.get("batch_size") else "")
              for check in result["checks"]]
    width = max(len(label) for label in labels) if labels else 0
    for label, check in zip(labels, result["checks"]):
        if check.get("error"):
            status = "error"
        elif check.get("problem") is None:
            status = "n/a" if check.get("summary", "").startswith("not measurable") else "info"
        else:
            status = "PROBLEM" if check["problem"] else ("info" if check.get("info") else "ok")
        text = check.get("error") or check.get("summary", "")
        lines.append(f"  {label:<{width}}  {status:<7}  {text}")
    lines += ["", "lint findings in this loss:" if result["verdicts"] else "lint findings in this loss: none"]
    for verdict in result["verdicts"]:
        lines.append(f"  line {verdict['line']:<5} {verdict['code']}  {verdict['verdict'].replace('_', ' '):<15} "
                     f"{verdict['evidence']}")
    if result["unflagged"]:
        lines += ["", "measured, not flagged by the linter:"]
        lines += [f"  {item['check']:<28} {item['summary']}" for item in result["unflagged"]]
    for note in result["notes"]:
        lines += ["", f"note: {note}"]
    return "\n".join(lines)


def to_json(result: dict) -> str:
    """The result as strict JSON (``--output-format json``): a NaN or infinite figure is ``null``
    (the row's ``finite`` says which loss was not finite)."""
    return json.dumps(_strict(result), indent=2, allow_nan=False)


def _strict(value):
    import math

    if isinstance(value, dict):
        return {str(key): _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # NumPy scalars
        return _strict(value.item())
    return value


def plot(result: dict, path: str) -> None:
    """Time and memory against the batch size, log-log, fitted exponents in the legends.

    Written to a temporary file first and moved over ``path``: a failure never leaves a broken plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in result["rows"] if row["error"] is None]
    sizes = [row["batch_size"] for row in rows]
    exponents = result["exponents"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style in (("seconds", "time per call", "o-"), ("compile_seconds", "first call (trace + compile)", "s--")):
        values = [row[key] for row in rows]
        fit = exponents["time" if key == "seconds" else "compile"]
        if any(v for v in values):
            extra = _tail_text(result, "time") if key == "seconds" else ""
            left.loglog(sizes, values, style, label=f"{label}: {_exponent(fit)} over all{extra}")
    left.set_xlabel("batch size")
    left.set_ylabel("seconds")
    left.set_title("time")
    memory = [row["peak_bytes"] for row in rows]
    if any(v for v in memory):
        right.loglog(sizes, [m or float("nan") for m in memory], "o-", color="tab:red",
                     label=f"peak memory: {_exponent(exponents['memory'])} over all{_tail_text(result, 'memory')}")
    right.set_xlabel("batch size")
    right.set_ylabel("bytes")
    right.set_title("memory")
    for axes in (left, right):
        axes.grid(True, which="both", alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="upper left", fontsize=8)
    figure.suptitle(f"bsguard probe {result['target']} ({result['backend']})", fontsize=10)
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(suffix=os.path.splitext(path)[1] or ".png", dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # as a plain open() would have made it, not mkstemp's 0600
    try:
        figure.savefig(temporary, dpi=110, metadata={"Title": f"bsguard probe {result['target']}",
                                                      "Description": "time and peak memory of a loss against the batch size, log-log"}
                       if temporary.endswith(".png") else None)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)
