"""``StepTimeMonitor``: step time, input wait and time in other callbacks against the run's own
baseline; recompiles."""

from __future__ import annotations

import collections
import math
import time
from threading import get_ident

from keras_bsguard._callback_timer import CallbackTimer
from keras_bsguard._drift import FIGURES, DriftJudge, ProcessClock, machine_verdict
from keras_bsguard._monitor_base import MonitorBase, median
from keras_bsguard._recompile import TRY as RECOMPILE_TRY
from keras_bsguard._recompile import compile_cause
from keras_bsguard._step_time_messages import LABELS, drift_report, milliseconds
from keras_bsguard._validate import check_float, check_int
from keras_bsguard.backends import InstrumentedTrainStep
from keras_bsguard.warnings import RecompileWarning, StepTimeWarning

# One call of the train function, as a list (the per-step path allocates one small list and
# nothing else): the batch index it began at, when it could start (batch arrived, or the call
# began), its input wait, its epoch, whether it is left out (warm-up or compile), and, once its
# logs are ready, the batch index it ended at and the time; the seconds other callbacks took on
# the training thread since the previous call returned, the callback clock at its return, the
# callback seconds between its return and its logs being ready (subtracted from its step time),
# and its 1-based global step.
_BEGIN, _READY, _WAIT, _EPOCH, _SKIP, _END, _DONE, _CALLBACKS, _AT_RETURN, _INSIDE, _STEP = range(11)

class StepTimeMonitor(MonitorBase):
    """Watches per-step wall time, input wait, time in other callbacks, and recompilations.

    Per step it measures three things, without ever blocking on the device:

    * ``step_time``: from the moment the step could start (its batch had arrived *and* the
      previous step had finished) to the moment its outputs were ready (when Keras hands the
      step's logs to callbacks, which it does on a worker thread once they are computed), less
      any time other callbacks took in between;
    * ``data_time``: time spent waiting for the batch (JAX, and TensorFlow with
      ``steps_per_execution=1``: the ``next()`` on the input iterator, timed on the host; torch:
      the gap between the end of the batch-end callbacks and the start of the next batch-begin
      callbacks, where its fit loop pulls the batch; TensorFlow with ``steps_per_execution>1``:
      ``nan``, the wait is inside the graph and counted as step time);
    * ``callback_time``: seconds the *other* callbacks' train-batch hooks (``on_train_batch_begin``
      / ``on_train_batch_end``, the hooks Keras calls around each train-function call) took on the
      training thread. A slow logger shows up here, by name, not as step time or input wait. Hooks
      that Keras runs on its worker threads (every callback ``async_safe``) are off the training
      thread and not counted.

    The first ``warmup_steps`` steps of each ``fit`` and every step during which the train step
    was (re)compiled are left out. Steps are grouped into windows of ``window`` steps; per figure,
    the median of the first ``baseline_windows`` windows is the baseline (with three or more,
    one disturbed window cannot move it). A baseline moves only on evidence: down to the recent
    level when the last ``baseline_windows`` windows were all clearly below it (the baseline
    itself was disturbed); never up. A :class:`StepTimeWarning` is raised when the last
    ``patience`` windows are all slower than ``drift_factor`` x baseline, or when the last four
    windows rose one after another past half that factor, once the figure has stayed above half
    the factor for ``sustain_seconds`` of training (at once when above x2.5 its baseline); in
    both cases only by more than the floor ``max(min_drift_seconds, (drift_factor - 1) x the
    baseline's seconds per step, sys.getswitchinterval() / steps per window)``, so the floor
    scales with the step (a 0.5 ms step is judged at 0.5 ms, the absolute part; a 100 ms step at
    30 ms) and with the scheduler's share of a short window (5 ms / 5 steps: 1 ms; a window is
    ``window x steps_per_execution`` steps). The wall time per step of each window (all of it,
    the loop around the step included) is judged too, and reported when the machine explains it.

    The warning names what grew (step time, input wait, time in other callbacks, with the
    slowest hooks) and carries the process's CPU time against its wall time
    (``time.process_time``) and its threads' wait for a CPU (Linux schedstat): when the wall time
    per step grew, the process's CPU time per step did not grow as much, and most of the extra
    time was spent waiting for a CPU, other processes took the CPUs and it says that the machine,
    not the model, slowed down (a ``machine_slowdown`` event); that episode is not reported again
    as step-time drift while it lasts.

    Compilations of the train step are counted (JAX: ``jax.monitoring`` backend-compile events
    of the train step; TensorFlow: traces of the train step; torch: dynamo graphs when
    ``jit_compile=True``). The first compile of a ``fit`` is a ``compile`` event, later ones
    ``recompile`` events. A :class:`RecompileWarning` is raised when they keep happening after
    the first epoch (in two epochs after it, or three times in all), naming the likely cause from
    the input shapes recorded at each trace: a changing batch shape, the last partial batch (a
    smaller batch at the epoch's last batch index; a smaller batch elsewhere is a changing
    shape), Python values in the step, or a train function rebuilt during ``fit``.

    Figures go into ``logs``: per batch ``step_time``, ``data_time`` and ``callback_time``
    (seconds, once the step is measured), and per epoch their medians over the epoch, so
    ``History``, ``CSVLogger`` and ``TensorBoard`` record them. List the monitors *before*
    ``CSVLogger``/``TensorBoard`` in ``callbacks=[...]``: Keras hands the same epoch ``logs``
    dict to the callbacks in order.

    The monitor sets ``async_safe = True`` (Keras keeps its asynchronous dispatch) and never
    reads ``Callback.model`` during training.

    Args:
        window: steps per window (an integer >= 1).
        drift_factor: slowdown factor (recent windows vs the baseline) that counts as drift
            (> 1).
        baseline_windows: windows after warm-up whose median is the baseline (>= 1; 3 or more
            to be robust to one disturbed window).
        patience: consecutive slow windows needed for a drift warning (>= 1).
        warmup_steps: steps left out at the start of each ``fit`` (>= 0).
        min_drift_seconds: the smallest growth per step that can count as drift, whatever the
            step (>= 0; it guards tiny steps against timer noise); the floor used is the largest
            of this, ``(drift_factor - 1)`` x the baseline's seconds per step, and
            ``sys.getswitchinterval() / (window x steps_per_execution)``.
        sustain_seconds: how long (wall seconds, training steps only) a figure must stay above
            half the drift factor and the floor, without a window below, before its drift is
            reported (>= 0; a slowdown of a second costs a second, and a shared machine slows
            down for that long on its own), unless it is above x2.5 its baseline (more than a
            machine slows down alone: reported at ``patience``). A moderate slowdown that starts
            within the last ``sustain_seconds`` of a fit is not reported (the last, partial
            window is logged, not judged).
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
        print(history.history["step_time"], history.history["data_time"],
              history.history["callback_time"])
    """

    monitor_name = "step_time"

    def __init__(
        self,
        window: int = 50,
        drift_factor: float = 1.3,
        baseline_windows: int = 3,
        patience: int = 2,
        warmup_steps: int = 1,
        min_drift_seconds: float = 5e-4,
        sustain_seconds: float = 2.0,
        log_dir: str | None = None,
        event_log=None,
    ):
        owner = "StepTimeMonitor"
        self.window = check_int(owner, "window", window, 1)
        self.drift_factor = check_float(owner, "drift_factor", drift_factor, low=1.0, low_open=True)
        self.baseline_windows = check_int(owner, "baseline_windows", baseline_windows, 1)
        self.patience = check_int(owner, "patience", patience, 1)
        self.warmup_steps = check_int(owner, "warmup_steps", warmup_steps, 0)
        self.min_drift_seconds = check_float(owner, "min_drift_seconds", min_drift_seconds, low=0.0)
        self.sustain_seconds = check_float(owner, "sustain_seconds", sustain_seconds, low=0.0)
        super().__init__(log_dir=log_dir, event_log=event_log)
        self._hub = None
        self._timer = None

    def get_config(self) -> dict:
        return {
            "window": self.window,
            "drift_factor": self.drift_factor,
            "baseline_windows": self.baseline_windows,
            "patience": self.patience,
            "warmup_steps": self.warmup_steps,
            "min_drift_seconds": self.min_drift_seconds,
            "sustain_seconds": self.sustain_seconds,
            **self._base_config(),
        }

    # ------------------------------------------------------------------------- fit lifecycle
    def on_train_begin(self, logs=None):
        self._hub = InstrumentedTrainStep.attach(self._model, self, observer=self)
        self._reset(data_wait_inside_call=self._hub.adapter.DATA_WAIT_INSIDE_CALL)
        # Called by Keras's CallbackList: the timer finds it among the calling frames. The list's
        # own hooks are timed only where the fit loop pulls the batch between them (torch).
        self._timer.install(blocks=not self._data_wait_inside_call)
        self._start_run(window=self.window, drift_factor=self.drift_factor,
                        callbacks_timed=self._timer.active)

    def _reset(self, data_wait_inside_call: bool) -> None:
        """Fresh per-fit state. ``data_wait_inside_call``: the adapter times the input wait inside
        the call (JAX, TF) rather than before it (torch)."""
        self._data_wait_inside_call = data_wait_inside_call
        if self._timer is not None:
            self._timer.uninstall()
        self._timer = CallbackTimer(self)
        with self._lock:
            # Calls whose logs are not ready yet, oldest first (appended on the main thread,
            # completed and removed on Keras's callback thread; both under the lock).
            self._calls: collections.deque[list] = collections.deque()
            self._n_calls = 0
            self._prev_done = None
            self._prev_return = None
            self._callbacks_mark = 0.0
            self._epoch = 0
            self._first_epoch = None
            self._epoch_length = None
            self._last_batch = None  # _last_batch_index() of the current epoch
            self._begin_step, self._begin_time = 0, None
            self._current = None
            self._steps_seen = 0
            self._window = {figure: [] for figure in FIGURES}
            self._epoch_figures = {figure: [] for figure in FIGURES}
            # A window is `window` calls of the train function, each of steps_per_execution steps.
            per_call = max(1, int(getattr(self._model, "steps_per_execution", 1) or 1))
            self._judge = DriftJudge(self.drift_factor, self.baseline_windows, self.patience,
                                     self.min_drift_seconds, window_steps=self.window * per_call,
                                     sustain_seconds=self.sustain_seconds)
            self._clock, self._clock_steps = None, 0
            self._hooks_last, self._hooks_rates = {}, []
            self._compiled_once = False
            self._compiles_first_epoch = 0
            self._late_compiles = 0
            self._late_compile_epochs: set[int] = set()
            self._rebuilt_pending = False

    def on_train_end(self, logs=None):
        with self._lock:
            if self._window["step_time"]:
                self._close_window(partial=True)
            if self._clock is not None:
                self._clock.close()
        if self._timer is not None:
            self._timer.uninstall()
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin_epoch_steps()
        with self._lock:
            if self._clock is not None:
                self._clock.resume()
            self._epoch = epoch
            if self._first_epoch is None:
                self._first_epoch = epoch
            self._epoch_figures = {figure: [] for figure in FIGURES}
            # Fixed for the epoch: Keras's steps, or the length of an earlier epoch (set at its end).
            self._last_batch = self._last_batch_index()
            self._prev_return = None  # the gap across an epoch boundary is not input wait
            # Keras has waited for every batch-end callback of the last epoch: a call still
            # waiting for one never gets it (fit stopped inside it), so it must not block the queue.
            self._calls.clear()

    def on_test_begin(self, logs=None):
        self._pause_clock()  # validation inside fit is not training steps

    def on_test_end(self, logs=None):
        with self._lock:
            if self._clock is not None:
                self._clock.resume()

    def _pause_clock(self) -> None:
        with self._lock:
            if self._clock is not None:
                self._clock.pause()

    def on_epoch_end(self, epoch, logs=None):
        self._pause_clock()  # until the next epoch's first step
        with self._lock:
            self._epoch_length = max(self._epoch_length or 0, self._last_step - self._epoch_first_step)
            if logs is not None:
                for figure in FIGURES:
                    logs[figure] = median(self._epoch_figures[figure])

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        if self._hub is not None and self._hub.ensure_wrapped():
            with self._lock:
                self._rebuilt_pending = True
            self._event(
                "train_function_rebuilt",
                self._epoch_first_step + batch + 1,
                "model.train_function was rebuilt during fit (make_train_function(force=True), "
                "compile() or a changed jit_compile in a callback); the next step recompiles.",
            )
        self._begin_step, self._begin_time = batch, now

    def on_train_batch_end(self, batch, logs=None):
        done = time.perf_counter()
        timer = self._timer
        # (CallbackTimer.on_fit_thread, inlined: this runs at every step)
        on_fit_thread = timer is not None and timer.active and get_ident() == timer._thread
        step = self._epoch_first_step + batch + 1  # the global step (MonitorBase._global_step)
        figures = None
        with self._lock:
            self._last_step = max(self._last_step, step)
            calls = self._calls
            if not calls:
                return
            call = calls[0]  # the oldest pending call (done ones are popped below)
            if call[_BEGIN] != batch:
                call = self._match(batch)
                if call is None:
                    return
            call[_END], call[_DONE] = batch, done
            if on_fit_thread and call[_AT_RETURN] is not None:
                # Batch-end hooks listed before this monitor ran between the return and now.
                call[_INSIDE] = max(0.0, timer.seconds - call[_AT_RETURN])
            while calls and calls[0][_DONE] is not None:
                finished = calls.popleft()
                finished_figures = self._finalize(finished)
                if finished is call:
                    figures = finished_figures
        if logs is not None and figures is not None:
            logs["step_time"], logs["data_time"], logs["callback_time"] = figures

    # ----------------------------------------------------- observer of model.train_function
    def before_call(self, start: float) -> None:
        timer = self._timer
        timed = timer is not None and timer.active
        begin_time = self._begin_time if self._begin_time is not None else start
        call = [self._begin_step, start, None, self._epoch, self._n_calls < self.warmup_steps,
                None, None, math.nan, None, 0.0, self._epoch_first_step + self._begin_step + 1]
        self._n_calls += 1
        if timed:
            call[_CALLBACKS] = max(0.0, timer.seconds - self._callbacks_mark)
        if not self._data_wait_inside_call and self._prev_return is not None:
            # torch: the fit loop pulled this batch between the batch-end callbacks of the last
            # step and the batch-begin callbacks of this one.
            pulled_from = timer.end_block_done if timed else None
            pulled_to = timer.begin_block_start if timed else None
            if (pulled_from is not None and pulled_to is not None
                    and self._prev_return <= pulled_from <= pulled_to):
                call[_WAIT] = pulled_to - pulled_from
            else:
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
        timer = self._timer
        if timer is not None and timer.active:
            self._callbacks_mark = call[_AT_RETURN] = timer.seconds
        if not finished:
            return  # the iterator ran dry (or the step failed): no step, no batch-end callback
        if compiles:
            call[_SKIP] = True
            with self._lock:
                rebuilt, self._rebuilt_pending = self._rebuilt_pending, False
            self._on_compiles(call, compiles, rebuilt)
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
        """Figures of a call whose logs are ready, in call order; ``None`` for a skipped call.
        Runs at every step (Keras's callback thread, under the lock): plain arithmetic and
        appends; the medians wait for the window's close."""
        done = call[_DONE]
        previous_done, self._prev_done = self._prev_done, done
        n_steps = max(1, call[_END] - call[_BEGIN] + 1)
        self._steps_seen += n_steps
        if call[_SKIP]:
            return None
        start = call[_READY]
        if previous_done is not None and previous_done > start:
            start = previous_done
        step_time = done - start - call[_INSIDE]
        wait = call[_WAIT]
        figures = (
            max(0.0, step_time) / n_steps,
            math.nan if wait is None else wait / n_steps,
            call[_CALLBACKS] / n_steps,
        )
        if self._clock is None:  # CPU and wall clocks start at the first measured step
            self._clock, self._clock_steps = ProcessClock(), self._steps_seen
            self._hooks_last = self._timer.snapshot() if self._timer is not None else {}
        window, epoch = self._window, self._epoch_figures
        window["step_time"].append(figures[0])
        window["data_time"].append(figures[1])
        window["callback_time"].append(figures[2])
        epoch["step_time"].append(figures[0])
        epoch["data_time"].append(figures[1])
        epoch["callback_time"].append(figures[2])
        if len(window["step_time"]) >= self.window:
            self._close_window()
        last_batch = self._last_batch
        if last_batch is not None and call[_END] >= last_batch:
            self._clock.pause()  # until the next epoch's first step: validation is not a step
        return figures

    def _last_batch_index(self) -> int | None:
        """Index of the epoch's last batch, when Keras knows the epoch's length (or an earlier
        epoch told it)."""
        steps = (self.params or {}).get("steps") or self._epoch_length
        return steps - 1 if steps else None

    def _close_window(self, partial: bool = False) -> None:
        steps = len(self._window["step_time"])
        figures = {figure: median(values) for figure, values in self._window.items()}
        step_time_max = max(self._window["step_time"])
        self._window = {figure: [] for figure in FIGURES}
        lap_steps = self._steps_seen - self._clock_steps
        lap = self._clock.lap(lap_steps) if self._clock else {}
        self._clock_steps = self._steps_seen
        if self._timer is not None and self._timer.active:
            self._hooks_rates = self._timer.slowest(since=self._hooks_last)
            self._hooks_last = self._timer.snapshot()
        self._window_record(self._steps_seen, epoch=self._epoch, steps=steps, partial=partial,
                            step_time_max=step_time_max, **figures, **lap)
        if partial:
            return
        drifted = self._judge.add({**figures, **lap,
                                   "seconds": lap.get("wall_per_step", math.nan) * lap_steps})
        for figure in self._judge.reanchored:
            self._event("baseline_reanchored", self._steps_seen,
                        f"{LABELS[figure]} baseline moved down to "
                        f"{milliseconds(self._judge.baseline[figure])}: the last {self.baseline_windows} "
                        f"windows were all below the old one, which a disturbed window had raised",
                        figure=figure, baseline=self._judge.baseline[figure])
        window = {**figures, **lap}
        if drifted == ["wall_per_step"] and machine_verdict(
                self._judge.recent_load(self.patience), self._judge.baseline,
                self.drift_factor) != "machine":
            # Only the time around the steps grew, and not for want of a CPU: the lap's wall
            # time is a mean over every step and reacts to scheduling noise that the medians of
            # the figures ignore. A real slowdown shows in a figure.
            return
        if drifted:
            self._report_drift(drifted, window)

    # ------------------------------------------------------------------------------ drift
    def _report_drift(self, drifted: list[str], window: dict) -> None:
        report = drift_report(drifted, window, self._judge, self.window, self._hooks_rates)
        if report.verdict != "machine" and self._machine_busy(report.load, self._judge.baseline):
            return  # the machine slowdown already reported, still going on
        self._warn_once(report.key, StepTimeWarning, self._steps_seen, report.what,
                        report.evidence, report.causes, report.try_, **report.data)

    def _machine_busy(self, window: dict, baseline: dict) -> bool:
        """After a machine-slowdown warning: whether this process still waits for a CPU for a
        good part (a quarter or more) of its extra wall time per step."""
        if "machine_slowdown" not in self._warned:
            return False
        waited = window.get("run_wait_per_step", math.nan) - baseline.get("run_wait_per_step", math.nan)
        grew = window.get("wall_per_step", math.nan) - baseline.get("wall_per_step", math.nan)
        return math.isfinite(waited) and math.isfinite(grew) and waited >= 0.25 * grew

    # --------------------------------------------------------------------------- recompiles
    def _on_compiles(self, call: list, compiles: int, rebuilt: bool) -> None:
        epoch, step = call[_EPOCH], call[_STEP]
        per_call = max(1, int(getattr(self._model, "steps_per_execution", 1) or 1))
        cause_key, cause = compile_cause(
            list(self._hub.trace_signatures) if self._hub is not None else [], rebuilt,
            batch=call[_BEGIN] + per_call - 1, last_batch=self._last_batch_index(),
        )
        with self._lock:
            first_compile, self._compiled_once = not self._compiled_once, True
            first_epoch = epoch == self._first_epoch
            if first_epoch:
                self._compiles_first_epoch += compiles
            else:
                self._late_compiles += compiles
                self._late_compile_epochs.add(epoch)
            late, late_epochs = self._late_compiles, sorted(self._late_compile_epochs)
            early = self._compiles_first_epoch
        if first_compile:
            self._event("compile", step, f"train step compiled ({compiles}x) at step {step}: the "
                        f"first compile of this fit", epoch=epoch, compiles=compiles)
            return
        self._event(
            "recompile", step, f"train step compiled {compiles}x in epoch {epoch}: {cause}",
            epoch=epoch, compiles=compiles, cause=cause_key,
        )
        if first_epoch or not (len(late_epochs) >= 2 or late >= 3):
            return
        self._warn_once(
            "recompiles", RecompileWarning, step,
            "The train step keeps being recompiled after the first epoch.",
            f"{late} compilation(s) after the first epoch (in epochs {late_epochs}), {early} in the "
            f"first; each one stalls training for the compile time",
            [cause], RECOMPILE_TRY[cause_key], compiles_after_first_epoch=late, cause=cause_key,
        )
