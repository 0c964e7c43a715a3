"""find_batch_size: the largest per-step batch that fits, found with real train steps.

It runs real train steps (``model.train_on_batch``; on TensorFlow the step traced for an unknown
batch dimension, as ``fit`` runs it) at chosen batch sizes on your data, treats the
backend's real out-of-memory error as "does not fit", and returns the largest size that fits --
within ``tolerance`` (5%) of the true maximum -- with the throughput of every size it tried. The
model's weights, optimizer slots and step counter are restored afterwards: searching trains
nothing.

Where a memory limit is known (the device's, or ``memory_limit=``), the search starts from a
prediction of the largest size that fits and usually needs two to four trials: on JAX the compiled
step's ``memory_analysis()`` at two small sizes, extrapolated linearly (no step is run for it); on
TF and torch a linear fit of the device peaks measured in two small trial steps. Without a limit
(a CPU) it doubles from ``start_batch_size`` and bisects.

Trials never go past the number of samples given (unless ``max_batch_size`` asks for more: rows
are then repeated). When no size ran out of memory, the result says so (``limit_found`` is False,
``capped_by`` names what stopped the search) and a ``BatchSizeWarning`` points at the call: the
largest size that fits is then only a lower bound.

Example::

    import keras, numpy as np
    from keras_bsguard import find_batch_size

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.rand(512, 8), np.random.rand(512, 1)
    search = find_batch_size(model, x, y, max_batch_size=256)
    print(search.batch_size)   # 256: nothing ran out of memory up to the cap
    print(search)              # one line per trial: size, fits, seconds, samples/s
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from keras_bsguard._validate import check_float, check_int
from keras_bsguard.oom import describe, is_out_of_memory
from keras_bsguard.warnings import BatchSizeWarning, emit


@dataclass
class BatchSizeTrial:
    batch_size: int
    fits: bool
    seconds: float | None = None  # one warm train step
    samples_per_second: float | None = None
    error: str | None = None
    peak_bytes: int | None = None  # device peak of the step, where the backend can reset and read it


@dataclass
class BatchSizeSearch:
    batch_size: int  # the largest size that fitted
    trials: list[BatchSizeTrial] = field(default_factory=list)
    predicted_max: int | None = None  # from the memory prediction, when there was one
    memory_limit: int | None = None
    limit_found: bool = True  # False: no size ran out of memory, batch_size is a lower bound
    capped_by: str | None = None  # without a limit: "the data size", "max_batch_size", "max_trials"

    def __str__(self) -> str:
        lines = [f"largest batch that fits: {self.batch_size}"
                 + (f" (predicted {self.predicted_max})" if self.predicted_max else "")]
        if not self.limit_found:
            lines.append(f"  no limit found: nothing ran out of memory up to {self.batch_size} "
                         f"(stopped by {self.capped_by}); the true maximum may be larger")
        for trial in self.trials:
            speed = f"{trial.samples_per_second:10.0f} samples/s" if trial.samples_per_second else ""
            verdict = "fits" if trial.fits else f"out of memory ({trial.error})"
            lines.append(f"  {trial.batch_size:>8}  {verdict:<12} {speed}")
        return "\n".join(lines)


def find_batch_size(model, x, y=None, *, sample_weight=None, start_batch_size: int = 32,
                    max_batch_size: int | None = None, memory_limit: int | None = None, headroom: float = 0.9,
                    tolerance: float = 0.05, max_trials: int = 16) -> BatchSizeSearch:
    """The largest per-step batch size of ``model`` on ``x``/``y`` that fits; see the module doc.

    Args:
        model: a compiled Keras model.
        x, y, sample_weight: arrays (or dicts/lists of arrays) of at least one sample; rows are
            repeated when a trial needs more samples than there are.
        start_batch_size: first size tried when there is no prediction.
        max_batch_size: never try more than this (default: the number of samples in ``x``).
        memory_limit: bytes available for a step, if you know better than the device.
        headroom: fraction of the limit the prediction aims for.
        tolerance: stop when the largest fitting size is within this fraction of the smallest
            failing one.
        max_trials: at most this many real train steps (sizes tried).
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("find_batch_size needs a compiled model (call model.compile first)")
    owner = "find_batch_size"
    check_int(owner, "start_batch_size", start_batch_size, 1)
    if max_batch_size is not None:
        check_int(owner, "max_batch_size", max_batch_size, 1)
    if memory_limit is not None:
        check_int(owner, "memory_limit", memory_limit, 1)
    check_float(owner, "headroom", headroom, low=0.0, high=1.0, low_open=True)
    check_float(owner, "tolerance", tolerance, low=0.0, high=1.0, low_open=True, high_open=True)
    check_int(owner, "max_trials", max_trials, 1)
    samples = _sample_count(x)
    capped_by = "max_batch_size" if max_batch_size is not None else "the data size"
    if max_batch_size is None:
        max_batch_size = samples  # trials beyond the data would only repeat its rows
    snapshot = _Snapshot(model)
    search = BatchSizeSearch(batch_size=0)
    tried: dict[int, BatchSizeTrial] = {}

    def trial(size: int) -> bool:
        if size not in tried:
            tried[size] = _run_trial(model, snapshot, x, y, sample_weight, size)
            search.trials.append(tried[size])
        return tried[size].fits

    try:
        limit, predicted = _prediction(model, x, y, sample_weight, memory_limit, headroom, trial, tried)
        search.memory_limit = limit
        if predicted is not None:
            search.predicted_max = predicted
        low, high = _bracket(trial, predicted, start_batch_size, max_batch_size, tolerance, max_trials, tried)
        while high is not None and low and (high - low) / high > tolerance and len(tried) < max_trials:
            middle = (low + high) // 2
            if middle in (low, high):
                break
            if trial(middle):
                low = middle
            else:
                high = middle
        search.batch_size = low or 0
        search.limit_found = high is not None
        if not search.limit_found:
            search.capped_by = capped_by if max_batch_size and low >= max_batch_size else "max_trials"
            if search.capped_by != "max_batch_size":  # a cap the caller did not choose
                stop = (f"the data size, {samples} samples" if search.capped_by == "the data size"
                        else f"max_trials={max_trials}")
                emit(BatchSizeWarning, f"find_batch_size found no limit: every size tried fit, up "
                     f"to {search.batch_size} (stopped by {stop}). The largest batch that fits may "
                     f"be larger: pass more data, max_batch_size=... or max_trials=...")
        return search
    finally:
        snapshot.restore()
        model.train_function = snapshot.train_function  # Keras's compiled step, not discarded


def _bracket(trial, predicted, start, cap, tolerance, max_trials, tried):
    """(largest fitting size, smallest failing size or None)."""
    low, high = 0, None
    if predicted is not None and predicted >= 1:
        size = min(predicted, cap) if cap else predicted
        if trial(size):
            low = size
            above = max(size + 1, math.ceil(size * (1 + tolerance)))
            if cap is None or above <= cap:
                if trial(above):
                    low, size = above, above
                else:
                    return low, above
            else:
                return low, None
        else:
            high = size
            size = max(1, math.floor(size * (1 - 2 * tolerance)))
            while len(tried) < max_trials and size >= 1:
                if trial(size):
                    return size, high
                high, size = size, size // 2
            return 0, high
        start = size * 2
    size = min(start, cap) if cap else start
    while len(tried) < max_trials:
        if trial(size):
            low = size
            if cap is not None and size >= cap:
                return low, None
            size = min(size * 2, cap) if cap else size * 2
        else:
            high = size
            if low:
                return low, high
            if size == 1:
                return 0, 1
            size = max(1, size // 2)
    return low, high


def _run_trial(model, snapshot, x, y, sample_weight, size: int) -> BatchSizeTrial:
    from keras_bsguard.backends import get_adapter

    adapter = get_adapter()
    xb, yb, wb = (_take(part, size) for part in (x, y, sample_weight))
    adapter.reset_device_peak()
    try:
        step = snapshot.trial_step()
        step(xb, yb, wb)  # compiles for this size (TF: one trace for every size)
        start = time.perf_counter()
        logs = step(xb, yb, wb)
        keras.tree.map_structure(lambda v: np.asarray(keras.ops.convert_to_numpy(v)), logs)  # wait for it
        seconds = time.perf_counter() - start
        memory = adapter.device_memory()
        peak = memory.get("peak") if memory and memory.get("peak_resettable") else None
        return BatchSizeTrial(size, True, seconds, size / seconds if seconds > 0 else None, peak_bytes=peak)
    except Exception as error:  # noqa: BLE001 - OOM is an answer; anything else is re-raised
        if not is_out_of_memory(error):
            raise
        return BatchSizeTrial(size, False, error=describe(error, 80))
    finally:
        snapshot.restore()  # trials train nothing; a failed (donated) step may have deleted the state


def _sample_count(data) -> int | None:
    """Rows in the first array of ``data`` (``None`` when it has no length)."""
    leaves = keras.tree.flatten(data)
    shape = getattr(leaves[0], "shape", None) if leaves else None
    return int(shape[0]) if shape else None


def _take(data, size: int):
    """The first ``size`` rows of every array in ``data``, repeating rows when there are fewer."""
    if data is None:
        return None

    def rows(array):
        array = np.asarray(array)
        if len(array) >= size:
            return array[:size]
        return np.resize(array, (size,) + array.shape[1:])

    return keras.tree.map_structure(rows, data)


def _prediction(model, x, y, sample_weight, memory_limit, headroom, trial, tried):
    """(memory limit in bytes or None, predicted largest batch or None)."""
    from keras_bsguard.backends import get_adapter

    adapter = get_adapter()
    limit = memory_limit
    memory = adapter.device_memory()
    if limit is None:
        limit = memory.get("limit") if memory else None
    if not limit:
        return limit, None
    sizes = (8, 16)
    predictor = getattr(adapter, "predict_step_bytes", None)
    if predictor is not None:  # JAX: XLA's estimate, no step run
        try:
            estimates = [predictor(model, _take(x, s), _take(y, s), _take(sample_weight, s)) for s in sizes]
        except Exception:  # noqa: BLE001 - no prediction is a slower search, not a failure
            return limit, None
    elif memory and memory.get("peak_resettable"):  # TF, torch: measured peaks of two small steps
        if not all(trial(s) for s in sizes):
            return limit, None
        estimates = [tried[s].peak_bytes for s in sizes]
        if any(e is None for e in estimates):
            return limit, None
    else:
        return limit, None
    per_sample = (estimates[1] - estimates[0]) / (sizes[1] - sizes[0])
    if per_sample <= 0:
        return limit, None
    fixed = estimates[0] - per_sample * sizes[0]
    return limit, max(1, int((headroom * limit - fixed) / per_sample))


class _Snapshot:
    """Host copies of every model and optimizer variable, put back on ``restore()``."""

    def __init__(self, model):
        self.model = model
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self.variables = list(model.variables) + list(optimizer.variables)
        self.values = [np.array(keras.ops.convert_to_numpy(v.value)) for v in self.variables]
        self.train_function = model.train_function
        self._trial_step = None

    def trial_step(self):
        """``step(x, y, sample_weight) -> logs``: one real train step, as ``fit`` runs it (TF: on
        the batch's relaxed type, see ``tensorflow_adapter._HostFunction``)."""
        if self._trial_step is None:
            from keras_bsguard.backends import get_adapter

            self._trial_step = get_adapter().make_trial_step(self.model)
        return self._trial_step

    def restore(self) -> None:
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)
        self.model.reset_metrics()
