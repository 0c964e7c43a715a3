"""Shared plumbing of the three monitors: async safety, event log, warnings, step numbers."""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
import uuid

import keras

from keras_bsguard.event_log import EventLog
from keras_bsguard.warnings import emit, format_message, user_call_site


def median(values) -> float:
    """The median of the finite values (``None``, NaN and infinities left out); NaN if none.

    >>> median([3.0, 1.0, float("nan"), 2.0, None]), median([]), median([float("inf")])
    (2.0, nan, nan)
    """
    if not isinstance(values, (list, tuple)):
        values = list(values)
    try:
        # The common case in one C loop: a finite sum means no None, NaN or infinity.
        if values and math.isfinite(sum(values)):
            return statistics.median(values)
    except TypeError:  # a None
        pass
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


class MonitorBase(keras.callbacks.Callback):
    """Base of the monitors. Not public.

    ``async_safe = True``: Keras 3 (``CallbackList._configure_async_dispatch``) keeps dispatching
    steps asynchronously, and runs ``on_train_batch_end`` on a worker thread, only for callbacks
    that say so. So every monitor keeps its mutable state behind ``self._lock``, and reads the
    live model through ``self._model`` (on JAX, ``Callback.model`` syncs the whole training state
    to the variables on every access).

    **Step numbers.** Every message and event names a step by one number: the 1-based index of the
    train step in this ``fit``, counted across epochs (step 1 is the first batch of the first
    epoch; with ``steps_per_execution=k`` each of the k steps of a call has its own number).
    """

    async_safe = True
    # StepTimeMonitor does not time the batch hooks of keras-bsguard's own monitors (see
    # keras_bsguard._callback_timer): about a microsecond each per step, as much as timing them.
    bsguard_untimed = True
    monitor_name = "monitor"

    def __init__(self, log_dir: str | None = None, event_log: EventLog | None = None):
        super().__init__()
        owner = type(self).__name__
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"{owner}(log_dir={log_dir!r}): log_dir must be a path (str) or None")
        if event_log is not None and not isinstance(event_log, EventLog):
            raise TypeError(f"{owner}(event_log={event_log!r}): event_log must be a "
                            f"keras_bsguard.EventLog or None")
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        if event_log is None and log_dir is not None:
            event_log = EventLog(self.log_dir)  # fails here, not at fit, on a path it cannot write
        self.event_log = event_log
        self._lock = threading.RLock()
        self._run_id = None
        self._warned: set[str] = set()
        self._site = None
        self._epoch_first_step = 0  # global steps run before the current epoch
        self._last_step = 0  # the largest global step number seen at a batch end
        self._start_reads(capacity=2, every_n_steps=1, per_call=1)  # per fit, with the ring's size

    # --------------------------------------------------------------------------- step numbers
    def _begin_epoch_steps(self) -> None:
        """Call at ``on_epoch_begin``: Keras restarts its batch index at 0 every epoch."""
        with self._lock:
            self._epoch_first_step = self._last_step

    def _global_step(self, batch: int) -> int:
        """The 1-based global step of the batch-end of ``batch`` (Keras's index in the epoch)."""
        step = self._epoch_first_step + int(batch) + 1
        with self._lock:
            self._last_step = max(self._last_step, step)
        return step

    # ------------------------------------------------------------------- device buffer reads
    def _start_reads(self, capacity: int, every_n_steps: int, per_call: int) -> None:
        """Call at ``on_train_begin`` of a monitor that keeps per-step figures in a device ring
        of ``capacity`` rows (one per measured step, every ``every_n_steps``-th step), read by
        snapshots between calls of ``per_call`` steps (``steps_per_execution``). A read is forced
        before half a ring is unread: the monitors take a read with more than half a ring of new
        rows for an older snapshot, and a full turn overwrites rows not read yet."""
        self._read_step = 0  # the global steps covered by the newest snapshot read so far
        self._read_lag_limit = max(1, (int(capacity) // 2 - int(per_call)) * int(every_n_steps))

    def _reads_fell_behind(self, batch: int) -> bool:
        """At a batch begin (the training thread): whether the newest snapshot read is half a
        ring behind. Snapshots are converted on Keras's worker threads, which a loaded host can
        starve while the training thread runs on; past a full turn of the ring, unread figures
        would be overwritten. The monitor then reads on the training thread (a device wait)."""
        return self._epoch_first_step + int(batch) - self._read_step >= self._read_lag_limit

    def _note_read(self, step: int) -> None:
        """A snapshot taken after ``step`` global steps has been read (call with the lock held)."""
        self._read_step = max(self._read_step, int(step))

    # --------------------------------------------------------------------------- event log
    def _start_run(self, **fields) -> None:
        """Call at ``on_train_begin`` (the thread running ``fit``): new run id, fresh warnings,
        the user's ``fit`` line for warnings issued later from Keras's callback threads."""
        self._run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._warned = set()
        self._site = user_call_site()
        self._epoch_first_step = self._last_step = 0
        self._record(
            {"type": "run", "backend": keras.backend.backend(), "keras": keras.__version__,
             **fields}
        )

    def _record(self, record: dict) -> None:
        if self.event_log is None:
            return
        record = {"monitor": self.monitor_name, "run": self._run_id, **record}
        self.event_log.write(record)

    def _window_record(self, step: int, **figures) -> None:
        self._record({"type": "window", "step": step, **figures})

    def _event(self, kind: str, step: int, message: str, **data) -> None:
        self._record({"type": "event", "step": step, "kind": kind, "message": message, **data})

    def _emit(self, category, message: str) -> None:
        emit(category, message, self._site)

    def _warn_once(self, key, category, step, what, evidence, causes, try_, **data) -> bool:
        """Warn and log the event the first time ``key`` fires in this fit (the condition usually
        holds for many windows once it starts; the figures themselves stay in the window log)."""
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
        message = format_message(what, evidence, causes, try_)
        self._event(key, step, message, **data)
        self._emit(category, f"[step {step}] {message}")
        return True

    def _base_config(self) -> dict:
        return {"log_dir": self.log_dir}
