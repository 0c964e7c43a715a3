"""The batch-size sweep of ``bsguard probe``: one row per batch size, fitted exponents, projections.

Example::

    >>> fit = fit_exponent([8, 16, 32, 64], [1.0, 2.0, 4.0, 8.0])
    >>> round(fit["value"], 3), round(fit["r2"], 3)
    (1.0, 1.0)
    >>> round(project(1.0, 8, fit, 32), 3)
    4.0
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass

import numpy as np

from .inputs import make_batch


@dataclass
class Row:
    """What one batch size measured (``error`` set, and the figures None, when the call failed)."""

    batch_size: int
    seconds: float | None = None
    compile_seconds: float | None = None
    peak_bytes: int | None = None
    program_size: int | None = None
    unsized_tensors: int = 0  # TensorFlow: tensors of data-dependent shape the memory figure leaves out
    loss_per_sample: float | None = None
    finite: bool | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def doubling_sizes(start: int = 8, stop: int = 1 << 20) -> list[int]:
    """8, 16, 32, ... up to ``stop``."""
    sizes, size = [], start
    while size <= stop:
        sizes.append(size)
        size *= 2
    return sizes


def sweep(compiled, sizes: list[int], shape, target, prediction, dtype, budget_seconds: float,
          max_memory: int | None, explicit: bool, say=lambda text: None) -> tuple[list[Row], str | None]:
    """Measure each batch size in turn; stop at the budget, the memory cap or the first failure
    (when the sizes were not given explicitly). Returns the rows and why the sweep stopped."""
    rows: list[Row] = []
    started = time.perf_counter()
    for size in sizes:
        if max_memory and not explicit:
            predicted = predicted_peak(rows, size)
            if predicted is not None and predicted > max_memory:
                return rows, f"batch {size} would need ~{_bytes(predicted)} (over --max-memory {_bytes(max_memory)})"
        say(f"batch {size} ...")
        row = measure(compiled, size, shape, target, prediction, dtype)
        rows.append(row)
        if row.error and not explicit:
            return rows, f"batch {size} failed: {row.error}"
        if max_memory and row.peak_bytes and row.peak_bytes > max_memory and not explicit:
            return rows, f"batch {size} used {_bytes(row.peak_bytes)} (over --max-memory {_bytes(max_memory)})"
        spent = time.perf_counter() - started
        if not explicit and spent > budget_seconds:
            return rows, f"the time budget of {budget_seconds:g} s was spent"
        if not explicit and row.seconds and spent + 4 * ((row.compile_seconds or 0) + 10 * row.seconds) > budget_seconds:
            return rows, f"the next size would pass the time budget of {budget_seconds:g} s"
    return rows, None


def measure(compiled, size, shape, target, prediction, dtype) -> Row:
    """One row: compile once, time the steady calls, read the loss and gradient."""
    row = Row(batch_size=size)
    y_true, y_pred = make_batch(size, shape, target, prediction, dtype)
    try:
        prepared = compiled.prepare(y_true, y_pred)
        row.compile_seconds = prepared["compile_seconds"]
        row.peak_bytes = prepared["peak_bytes"]
        row.program_size = prepared["program_size"]
        row.unsized_tensors = prepared.get("unsized_tensors", 0)
        row.seconds = compiled.steady_seconds(y_true, y_pred)
        loss, grad = compiled.value_and_grad(y_true, y_pred)
    except Exception as error:  # noqa: BLE001 - the user's loss failed at this size: a measured fact
        row.error = describe_failure(error)
        return row
    returned = compiled.output_shape(y_pred)
    if returned and returned[0] != size:
        row.error = (f"the loss returned shape {returned}: expected a scalar or one value per sample "
                     f"(batch {size} first)")
        return row
    row.loss_per_sample = loss
    row.finite = bool(math.isfinite(loss) and np.all(np.isfinite(grad)))
    return row


def fit_exponent(sizes, values) -> dict | None:
    """Least-squares slope of log(value) on log(batch size), with its R^2 (None: < 3 points)."""
    pairs = [(s, v) for s, v in zip(sizes, values) if v is not None and v > 0]
    if len(pairs) < 3:
        return None
    x = np.log([p[0] for p in pairs])
    y = np.log([p[1] for p in pairs])
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return {"value": float(slope), "r2": float(r2), "points": len(pairs)}


def exponents(rows: list[Row]) -> dict:
    """Time, compile time and memory exponents over the rows that ran."""
    good = [row for row in rows if row.error is None]
    sizes = [row.batch_size for row in good]
    return {
        "time": fit_exponent(sizes, [row.seconds for row in good]),
        "compile": fit_exponent(sizes, [row.compile_seconds for row in good]),
        "memory": fit_exponent(sizes, [row.peak_bytes for row in good]),
    }


def project(value_at: float, size_at: int, fit: dict | None, size: int) -> float | None:
    """``value_at`` measured at ``size_at``, carried to ``size`` along the fitted power law."""
    if fit is None or value_at is None:
        return None
    return value_at * (size / size_at) ** fit["value"]


def projection(rows: list[Row], fits: dict, size: int) -> dict | None:
    """Memory and time of the loss alone at ``size``: measured if that size ran, else carried
    from the largest batch measured along the fitted exponents."""
    good = [row for row in rows if row.error is None and row.seconds]
    if not good:
        return None
    for row in good:
        if row.batch_size == size:
            return {"batch_size": size, "peak_bytes": row.peak_bytes, "seconds": row.seconds,
                    "compile_seconds": row.compile_seconds, "from_batch_size": size, "measured": True}
    last = good[-1]
    if size < last.batch_size:
        return None
    return {"batch_size": size,
            "peak_bytes": project(last.peak_bytes, last.batch_size, fits.get("memory"), size),
            "seconds": project(last.seconds, last.batch_size, fits.get("time"), size),
            "compile_seconds": project(last.compile_seconds, last.batch_size, fits.get("compile"), size),
            "from_batch_size": last.batch_size, "measured": False}


def predicted_peak(rows: list[Row], size: int) -> float | None:
    """The next size's peak memory along the last two measured sizes' slope."""
    good = [row for row in rows if row.error is None and row.peak_bytes]
    if len(good) < 2:
        return None
    a, b = good[-2], good[-1]
    slope = math.log(b.peak_bytes / a.peak_bytes) / math.log(b.batch_size / a.batch_size)
    return b.peak_bytes * (size / b.batch_size) ** max(slope, 1.0)


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


# TensorFlow re-raises an error of the traced Python code as a StagingError whose message ends
# with the original "Type: message" line.
_ORIGINAL_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exhausted)):\s*(.*)$")


def describe_failure(error: BaseException) -> str:
    """``Type: message`` of the user's error (unwrapped from TensorFlow's staging), one line;
    ``out of memory (...)`` first when it is one."""
    from keras_bsguard.oom import is_out_of_memory

    name, message = type(error).__name__, str(error)
    if name == "StagingError" or message.lstrip().startswith("in user code:"):
        for line in reversed(message.splitlines()):
            found = _ORIGINAL_LINE.match(line)
            if found:
                name, message = found.group(1).rsplit(".", 1)[-1], found.group(2)
                break
    text = f"{name}: {_one_line(message)}"
    if name == "MemoryError" or isinstance(error, MemoryError) or is_out_of_memory(error):
        return f"out of memory ({text})"
    return text


def _one_line(error) -> str:
    text = " ".join(str(error).split())
    return text[:240] + ("..." if len(text) > 240 else "")
