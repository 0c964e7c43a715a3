"""``StepTimeMonitor``: step time, input wait, drift against the run's own baseline, recompiles."""

from __future__ import annotations

import collections
import math
import time

from keras_bsguard._monitor_base import MonitorBase, median
from keras_bsguard.backends import InstrumentedTrainStep
from keras_bsguard.warnings import RecompileWarning, StepTimeWarning


# One call of the train function, as a list (the per-step path allocates one small list and
# nothing else): the step it began at, when it could start (batch arrived, or the call began),
# its input wait, its epoch, whether it is left out (warm-up or compile), and, once its logs are
# ready, the step it ended at and the time.
_BEGIN, _READY, _WAIT, _EPOCH, _SKIP, _END, _DONE = range(7)


class StepTimeMonitor(MonitorBase):
    """Watches per-step wall time, time waiting for input, and recompilations during ``fit``.

    Per step it measures two things, without ever blocking on the device:

    * ``step_time``: from the moment the step could start (its batch had arrived *and* the
      previous step had finished) to the moment its outputs were ready (when Keras hands the
      step's logs to callbacks, which it does on a worker thread once they are computed);
    * ``data_time``: time spent waiting for the batch (JAX, and TensorFlow with
      ``steps_per_execution=1``: the ``next()`` on the input iterator, timed on the host; torch:
      the gap between one step's return and the next ``on_train_batch_begin``, where its fit
      loop pulls the batch; TensorFlow with ``steps_per_execution>1``: ``nan``, the wait is inside
      the graph and counted as step time).

    The first ``warmup_steps`` steps of each ``fit`` and every step during which the train step
    was (re)compiled are left out. Steps are grouped into windows of ``window`` steps; the median of
    the first ``baseline_windows`` windows is the baseline. A :class:`StepTimeWarning` is raised when
    the last ``patience`` windows are all slower than ``drift_factor`` x baseline (and by more than
    ``min_drift_seconds``), or when the last four windows rose one after another past half that
    factor. It says whether step time, input wait, or both grew.

    Recompilations of the train step are counted (JAX: ``jax.monitoring`` backend-compile events
    of the train step; TensorFlow: traces of the train step; torch: dynamo graphs when
    ``jit_compile=True``). A :class:`RecompileWarning` is raised when they keep happening after the
    first epoch (in two epochs after it, or three times in all), naming the likely cause from the
    input shapes recorded at each trace: a changing batch shape, the last partial batch, Python
    values in the step, or a train function rebuilt during ``fit``.

    Figures go into ``logs``: per batch ``step_time`` and ``data_time`` (seconds, once the step
    is measured), and per epoch their medians over the epoch, so ``History``, ``CSVLogger`` and
    ``TensorBoard`` record them. List the monitors *before* ``CSVLogger``/``TensorBoard`` in
    ``callbacks=[...]``: Keras hands the same epoch ``logs`` dict to the callbacks in order.

    The monitor sets ``async_safe = True`` (Keras keeps its asynchronous dispatch) and never
    reads ``Callback.model`` during training.

    Args:
        window: steps per window.
        drift_factor: slowdown factor (recent windows vs the baseline) that counts as drift.
        baseline_windows: windows after warm-up whose median is the baseline.
        patience: consecutive slow windows needed for a drift warning.
        warmup_steps: steps left out at the start of each ``fit``.
        min_drift_seconds: a slowdown smaller than this per step is not reported, however large
            the factor (guards tiny steps against timer noise).
        log_dir: directory (or ``.jsonl`` path) for the JSONL event log; ``None`` for none.
        event_log: an :class:`~keras_bsguard.EventLog` shared with other monitors (not part of
            ``get_config``).

    Example::

        import numpy as np, keras
        from keras_bsguard import StepTimeMonitor

        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile("adam", "mse")
        x, y = np.random.rand(512, 8), np.random.rand(512, 1)
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0,
                            callbacks=[StepTimeMonitor(window=4)])
        print(history.history["step_time"], history.history["data_time"])
    """

    monitor_name = "step_time"

    def __init__(
        self,
        window: int = 50,
        drift_factor: float = 1.3,
        baseline_windows: int = 2,
        patience: int = 2,
        warmup_steps: int = 1,
        min_drift_seconds: float = 0.002,
        log_dir: str | None = None,
        event_log=None,
    ):
        super().__init__(log_dir=log_dir, event_log=event_log)
        if window < 1 or baseline_windows < 1 or patience < 1:
            raise ValueError("window, baseline_windows and patience must be >= 1")
        if drift_factor <= 1.0:
            raise ValueError(f"drift_factor must be > 1, got {drift_factor}")
        self.window = int(window)
        self.drift_factor = float(drift_factor)
        self.baseline_windows = int(baseline_windows)
        self.patience = int(patience)
        self.warmup_steps = int(warmup_steps)
        self.min_drift_seconds = float(min_drift_seconds)
        self._hub = None

    def get_config(self) -> dict:
        return {
            "window": self.window,
            "drift_factor": self.drift_factor,
            "baseline_windows": self.baseline_windows,
            "patience": self.patience,
            "warmup_steps": self.warmup_steps,
            "min_drift_seconds": self.min_drift_seconds,
            **self._base_config(),
        }

    # ------------------------------------------------------------------------- fit lifecycle
    def on_train_begin(self, logs=None):
        self._hub = InstrumentedTrainStep.attach(self._model, self, observer=self)
        self._reset(data_wait_inside_call=self._hub.adapter.DATA_WAIT_INSIDE_CALL)
        self._start_run(window=self.window, drift_factor=self.drift_factor)

    def _reset(self, data_wait_inside_call: bool) -> None:
        """Fresh per-fit state. ``data_wait_inside_call``: the adapter times the input wait inside
        the call (JAX, TF) rather than before it (torch)."""
        self._data_wait_inside_call = data_wait_inside_call
        with self._lock:
            # Calls whose logs are not ready yet, oldest first (appended on the main thread,
            # completed and removed on Keras's callback thread; both under the lock).
            self._calls: collections.deque[list] = collections.deque()
            self._n_calls = 0
            self._prev_done = None
            self._prev_return = None
            self._epoch = 0
            self._first_epoch = None
            self._begin_step, self._begin_time = 0, None
            self._current = None
            self._steps_seen = 0
            self._window_steps: list[float] = []
            self._window_data: list[float] = []
            self._epoch_steps: list[float] = []
            self._epoch_data: list[float] = []
            self._windows: list[tuple[int, float, float]] = []
            self._compiles_first_epoch = 0
            self._late_compiles = 0
            self._late_compile_epochs: set[int] = set()
            self._rebuilt_pending = False

    def on_train_end(self, logs=None):
        with self._lock:
            if self._window_steps:
                self._close_window(partial=True)
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            self._epoch = epoch
            if self._first_epoch is None:
                self._first_epoch = epoch
            self._epoch_steps = []
            self._epoch_data = []
            self._prev_return = None  # the gap across an epoch boundary is not input wait
            # Keras has waited for every batch-end callback of the last epoch: a call still
            # waiting for one never gets it (fit stopped inside it), so it must not block the queue.
            self._calls.clear()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        with self._lock:
            logs["step_time"] = median(self._epoch_steps)
            logs["data_time"] = median(self._epoch_data)

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        if self._hub is not None and self._hub.ensure_wrapped():
            with self._lock:
                self._rebuilt_pending = True
            self._event(
                "train_function_rebuilt",
                self._steps_seen,
                "model.train_function was rebuilt during fit (make_train_function(force=True), "
                "compile() or a changed jit_compile in a callback); the next step recompiles.",
            )
        self._begin_step, self._begin_time = batch, now

    def on_train_batch_end(self, batch, logs=None):
        done = time.perf_counter()
        figures = None
        with self._lock:
            calls = self._calls
            if not calls:
                return
            call = calls[0]  # the oldest pending call (done ones are popped below)
            if call[_BEGIN] != batch:
                call = self._match(batch)
                if call is None:
                    return
            call[_END], call[_DONE] = batch, done
            while calls and calls[0][_DONE] is not None:
                finished = calls.popleft()
                finished_figures = self._finalize(finished)
                if finished is call:
                    figures = finished_figures
        if logs is not None and figures is not None:
            logs["step_time"], logs["data_time"] = figures

    # ----------------------------------------------------- observer of model.train_function
    def before_call(self, start: float) -> None:
        begin_time = self._begin_time if self._begin_time is not None else start
        call = [self._begin_step, start, None, self._epoch, self._n_calls < self.warmup_steps,
                None, None]
        self._n_calls += 1
        if not self._data_wait_inside_call and self._prev_return is not None:
            # torch: the fit loop pulled this batch between the last return and batch begin.
            call[_WAIT] = max(0.0, begin_time - self._prev_return)
            call[_READY] = begin_time
        self._current = call

    def data_ready(self, wait_seconds: float, ready_time: float) -> None:
        call = self._current
        call[_WAIT] = wait_seconds if call[_WAIT] is None else call[_WAIT] + wait_seconds
        call[_READY] = ready_time

    def after_call(self, end: float, compiles: int, finished: bool) -> None:
        call, self._current = self._current, None
        self._prev_return = end
        if not finished:
            return  # the iterator ran dry (or the step failed): no step, no batch-end callback
        if compiles:
            call[_SKIP] = True
            with self._lock:
                rebuilt, self._rebuilt_pending = self._rebuilt_pending, False
            self._on_compiles(call[_EPOCH], compiles, rebuilt)
        with self._lock:
            self._calls.append(call)

    # ------------------------------------------------------------------------ bookkeeping
    def _match(self, end_step: int):
        """The pending call a batch-end belongs to: the last one that began at or before
        ``end_step`` (a call runs ``steps_per_execution`` steps; batch-end callbacks may also
        run out of order on Keras's thread pool)."""
        found = None
        for call in self._calls:
            if call[_BEGIN] > end_step:
                break
            if call[_DONE] is None:
                found = call
        return found

    def _finalize(self, call: list):
        """Figures of a call whose logs are ready, in call order; ``None`` for a skipped call."""
        previous_done, self._prev_done = self._prev_done, call[_DONE]
        n_steps = max(1, call[_END] - call[_BEGIN] + 1)
        self._steps_seen += n_steps
        if call[_SKIP]:
            return None
        start = call[_READY]
        if previous_done is not None and previous_done > start:
            start = previous_done
        step_time = max(0.0, call[_DONE] - start) / n_steps
        data_time = math.nan if call[_WAIT] is None else call[_WAIT] / n_steps
        self._window_steps.append(step_time)
        self._window_data.append(data_time)
        self._epoch_steps.append(step_time)
        self._epoch_data.append(data_time)
        if len(self._window_steps) >= self.window:
            self._close_window()
        return step_time, data_time

    def _close_window(self, partial: bool = False) -> None:
        step_median = median(self._window_steps)
        data_median = median(self._window_data)
        self._window_record(
            self._steps_seen,
            epoch=self._epoch,
            steps=len(self._window_steps),
            partial=partial,
            step_time=step_median,
            step_time_max=max(self._window_steps),
            data_time=data_median,
        )
        self._window_steps, self._window_data = [], []
        if partial:
            return
        self._windows.append((self._steps_seen, step_median, data_median))
        self._check_drift()

    # ------------------------------------------------------------------------------ drift
    def _check_drift(self) -> None:
        if len(self._windows) <= self.baseline_windows:
            return
        baseline = self._windows[: self.baseline_windows]
        recent = self._windows[self.baseline_windows :]
        base_step = median([w[1] for w in baseline])
        base_data = median([w[2] for w in baseline])
        step_grew = self._drifted([w[1] for w in recent], base_step)
        data_grew = self._drifted([w[2] for w in recent], base_data)
        if not (step_grew or data_grew):
            return
        step, now_step, now_data = self._windows[-1]
        which = (
            "both step time and input wait"
            if step_grew and data_grew
            else ("step time" if step_grew else "input wait (data_time)")
        )
        evidence = (
            f"median step time {_ms(now_step)} vs baseline {_ms(base_step)} "
            f"(x{_ratio(now_step, base_step)}); median input wait {_ms(now_data)} vs baseline "
            f"{_ms(base_data)} (x{_ratio(now_data, base_data)}); windows of {self.window} steps, "
            f"drift factor {self.drift_factor}"
        )
        if data_grew and not step_grew:
            causes = [
                "the input pipeline got slower (a generator or PyDataset doing more work per "
                "batch, a file source slowing down, a shuffle buffer refilling)",
                "too few loader workers or no prefetch",
            ]
            try_ = [
                "prefetch (tf.data .prefetch(AUTOTUNE), PyDataset(workers=..., "
                "use_multiprocessing=True), DataLoader(num_workers=...))",
                "cache decoded data",
                "profile the input function on its own",
            ]
            key = "data_time_drift"
        else:
            causes = [
                "work inside the step grows over time (a callback or layer doing host work, "
                "growing Python state, a host callback in the graph)",
                "the device is throttling or shared with another process",
                "memory pressure (see MemoryMonitor)",
            ]
            try_ = [
                "compare step_time per epoch in the History/CSV logs",
                "profile one slow window (jax.profiler / tf.profiler / torch.profiler)",
                "check other processes on the device (nvidia-smi)",
            ]
            key = "step_time_drift"
        self._warn_once(
            key, StepTimeWarning, step, f"Training slowed down: {which} grew.", evidence,
            causes, try_, step_time=now_step, data_time=now_data,
            baseline_step_time=base_step, baseline_data_time=base_data,
        )

    def _drifted(self, recent: list[float], baseline: float) -> bool:
        if not recent or not math.isfinite(baseline):
            return False

        def slow(value, factor):
            return (
                math.isfinite(value)
                and value > factor * baseline
                and value - baseline > self.min_drift_seconds
            )

        tail = recent[-self.patience :]
        if len(tail) == self.patience and all(slow(v, self.drift_factor) for v in tail):
            return True
        last4 = recent[-4:]
        rising = len(last4) == 4 and all(b > a for a, b in zip(last4, last4[1:]))
        return rising and slow(last4[-1], 1.0 + (self.drift_factor - 1.0) / 2.0)

    # --------------------------------------------------------------------------- recompiles
    def _on_compiles(self, epoch: int, compiles: int, rebuilt: bool) -> None:
        cause_key, cause = self._compile_cause(rebuilt)
        with self._lock:
            step = self._steps_seen + 1
            first_epoch = epoch == self._first_epoch
            if first_epoch:
                self._compiles_first_epoch += compiles
            else:
                self._late_compiles += compiles
                self._late_compile_epochs.add(epoch)
            late, late_epochs = self._late_compiles, sorted(self._late_compile_epochs)
            early = self._compiles_first_epoch
        self._event(
            "recompile", step, f"train step compiled {compiles}x in epoch {epoch}: {cause}",
            epoch=epoch, compiles=compiles, cause=cause_key,
        )
        if first_epoch or not (len(late_epochs) >= 2 or late >= 3):
            return
        try_ = {
            "shape": [
                "pad or bucket inputs to a few fixed shapes",
                "on JAX, keep sequence lengths from a small set so each compiles once",
            ],
            "partial": [
                "drop the last partial batch (tf.data .batch(..., drop_remainder=True), "
                "PyDataset/DataLoader drop_last)",
                "or choose steps_per_epoch so every batch is full",
            ],
            "python": [
                "pass changing numbers as tensors/Variables, not Python values",
                "keep Python objects the step reads constant during fit",
            ],
            "rebuilt": [
                "do not call compile() or make_train_function(force=True) inside a callback; "
                "change a keras.Variable (loss weight, learning rate) instead",
            ],
            "unknown": ["log the input shapes of each batch", "set jax_log_compiles / "
                        "TORCH_LOGS=recompiles to see what changed"],
        }[cause_key]
        self._warn_once(
            "recompiles", RecompileWarning, step,
            "The train step keeps being recompiled after the first epoch.",
            f"{late} compilation(s) after the first epoch (in epochs {late_epochs}), {early} in the "
            f"first; each one stalls training for the compile time",
            [cause], try_, compiles_after_first_epoch=late, cause=cause_key,
        )

    def _compile_cause(self, rebuilt: bool) -> tuple[str, str]:
        if rebuilt:
            return "rebuilt", (
                "the train function was rebuilt during fit (compile(), "
                "make_train_function(force=True) or a changed jit_compile in a callback)"
            )
        signatures = list(self._hub.trace_signatures) if self._hub is not None else []
        if len(signatures) < 2:
            return "unknown", "input shapes or guarded Python values changed"
        new, earlier = signatures[-1], signatures[:-1]
        if new in earlier:
            return "python", (
                "the step was retraced for input shapes it had already seen: Python values in "
                "the step (a Python number or object read by the loss or a layer) changed"
            )
        reference = earlier[-1]
        if _only_leading_dim_smaller(new, reference):
            return "partial", (
                f"the last partial batch: batch dimension {_lead(new)} instead of "
                f"{_lead(reference)}"
            )
        return "shape", f"changing batch shape: {_shapes(new)} after {_shapes(reference)}"


def _only_leading_dim_smaller(new, reference) -> bool:
    if len(new) != len(reference):
        return False
    smaller = False
    for a, b in zip(new, reference):
        if len(a) != len(b) or not a or a[0] == "py":
            return False
        if tuple(a[1:]) != tuple(b[1:]):
            return False
        if a[0] is not None and b[0] is not None and a[0] < b[0]:
            smaller = True
        elif a[0] != b[0]:
            return False
    return smaller


def _lead(signature) -> object:
    return signature[0][0] if signature and signature[0] else None


def _shapes(signature) -> str:
    return ", ".join(str(tuple(s)) for s in signature[:3])


def _ms(seconds: float) -> str:
    return "n/a" if not math.isfinite(seconds) else f"{seconds * 1e3:.2f} ms"


def _ratio(value: float, base: float) -> str:
    if not (math.isfinite(value) and math.isfinite(base)) or base <= 0:
        return "n/a"
    return f"{value / base:.2f}"
