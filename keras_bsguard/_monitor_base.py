"""Shared plumbing of the three monitors: async safety, event log, warnings, small statistics."""

from __future__ import annotations

import math
import statistics
import threading
import time
import uuid

import keras

from keras_bsguard.event_log import EventLog
from keras_bsguard.warnings import emit, format_message


def median(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


class MonitorBase(keras.callbacks.Callback):
    """Base of the monitors. Not public.

    ``async_safe = True``: Keras 3 (``CallbackList._configure_async_dispatch``) keeps dispatching
    steps asynchronously, and runs ``on_train_batch_end`` on a worker thread, only for callbacks
    that say so. So every monitor keeps its mutable state behind ``self._lock``, and reads the
    live model through ``self._model`` (on JAX, ``Callback.model`` syncs the whole training state
    to the variables on every access).
    """

    async_safe = True
    monitor_name = "monitor"

    def __init__(self, log_dir: str | None = None, event_log: EventLog | None = None):
        super().__init__()
        self.log_dir = log_dir
        if event_log is None and log_dir is not None:
            event_log = EventLog(log_dir)
        self.event_log = event_log
        self._lock = threading.RLock()
        self._run_id = None
        self._warned: set[str] = set()

    # --------------------------------------------------------------------------- event log
    def _start_run(self, **fields) -> None:
        self._run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._warned = set()
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

    def _warn_once(self, key, category, step, what, evidence, causes, try_, **data) -> bool:
        """Warn and log the event the first time ``key`` fires in this fit (the condition usually
        holds for many windows once it starts; the figures themselves stay in the window log)."""
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
        message = format_message(what, evidence, causes, try_)
        self._event(key, step, message, **data)
        emit(category, f"[step {step}] {message}")
        return True

    def _base_config(self) -> dict:
        return {"log_dir": self.log_dir}
