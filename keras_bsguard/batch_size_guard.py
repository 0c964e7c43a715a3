"""BatchSizeGuard: out-of-memory becomes a non-event, without losing a step.

When a train step runs out of memory (the backend's real OOM error: JAX ``RESOURCE_EXHAUSTED``,
TF ``ResourceExhaustedError``, torch ``OutOfMemoryError`` or the CPU allocator's error), the
guard catches it inside ``model.train_function``, re-runs **the same batch** and carries on:

* ``strategy="split"`` (default): the batch is processed as ``k`` micro-batches inside one
  train step, their gradients accumulated (each weighted by its share of the batch, so uneven
  last chunks are exact) and applied once. The effective batch size, the learning rate and the
  number of optimizer steps stay exactly as you set them. ``k`` doubles until the step fits.
* ``strategy="shrink"``: the batch really shrinks: each batch is cut into ``k`` smaller batches,
  each its own optimizer step, and the learning rate is rescaled by ``lr_scaling``
  (``"linear"`` for SGD, ``"sqrt"`` for Adam-family optimizers, ``"auto"`` by optimizer class,
  or ``None``); a ``LearningRateSchedule`` is wrapped, never replaced.

No step is lost or applied twice: the failed step never reached the optimizer, and on JAX the
guard stops Keras from donating the training state to the compiled step, so the weights and
optimizer slots the step was given are still there to retry with. Errors that are not OOMs
propagate untouched.

It can also act before a crash: every ``check_every`` steps it reads the device memory
(where the backend reports a limit) and, when the peak passes ``headroom`` of the limit,
warns (``on_pressure="warn"``) or doubles ``k`` pre-emptively (``on_pressure="split"``).

Figures go into ``logs``: ``micro_batches`` (k) and ``batch_size`` (samples per micro-batch or
per optimizer step), so History, CSVLogger and TensorBoard record them. Every action is a
``BatchSizeWarning`` with its evidence and an event in the monitors' JSONL event log.

It shares the monitors' instrumented train step, so it composes with ``GradientNormMonitor``
(which then reports the norm of the accumulated gradient).

Example::

    import keras, numpy as np
    from keras_bsguard import BatchSizeGuard, GradientNormMonitor

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.rand(256, 8), np.random.rand(256, 1)
    history = model.fit(x, y, batch_size=64, epochs=2,
                        callbacks=[BatchSizeGuard(), GradientNormMonitor()], verbose=0)
    print(history.history["micro_batches"])   # [1, 1]: nothing ran out of memory

Limits (this version): the default ``train_step`` of each backend only (a model that overrides
``train_step`` is retried but cannot be split); ``steps_per_execution=1`` on TensorFlow; no
``keras.distribution`` / ``tf.distribute`` replica handling yet; torch under ``jit_compile``
is retried without splitting.
"""

from __future__ import annotations

import math

import keras

from keras_bsguard._monitor_base import MonitorBase
from keras_bsguard.lr_scaling import rescale_learning_rate
from keras_bsguard.oom import describe, is_out_of_memory
from keras_bsguard.warnings import BatchSizeWarning

STRATEGIES = ("split", "shrink")
PRESSURE_ACTIONS = ("warn", "split", None)


class BatchSizeGuard(MonitorBase):
    """Survive out-of-memory by splitting (or shrinking) the per-step batch; see the module doc.

    Args:
        strategy: ``"split"`` (micro-batches, gradients accumulated, same optimizer steps) or
            ``"shrink"`` (smaller batches, more optimizer steps, learning rate rescaled).
        lr_scaling: for ``"shrink"``: ``"linear"``, ``"sqrt"``, ``"auto"`` or ``None``.
        max_micro_batches: give up (re-raise the OOM) rather than split further than this.
        micro_batches: the split to start with (``"split"``: gradient accumulation over that many
            micro-batches from the first step, e.g. to fit a batch known to be too large).
        on_pressure: ``"warn"``, ``"split"`` or ``None``: what to do when the device peak
            passes ``headroom`` of its limit without an OOM.
        headroom: fraction of the device memory limit that counts as pressure.
        check_every: read device memory every this many steps (a cheap host call).
        log_dir / event_log: where to append JSONL events (shared with the monitors).
    """

    monitor_name = "batch_size_guard"

    def __init__(self, strategy: str = "split", lr_scaling: str | None = "auto", micro_batches: int = 1,
                 max_micro_batches: int = 64,
                 on_pressure: str | None = "warn", headroom: float = 0.9, check_every: int = 20,
                 log_dir: str | None = None, event_log=None):
        super().__init__(log_dir=log_dir, event_log=event_log)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'split' or 'shrink', not {strategy!r}")
        if on_pressure not in PRESSURE_ACTIONS:
            raise ValueError(f"on_pressure must be 'warn', 'split' or None, not {on_pressure!r}")
        if lr_scaling not in ("linear", "sqrt", "auto", None):
            raise ValueError(f"lr_scaling must be 'linear', 'sqrt', 'auto' or None, not {lr_scaling!r}")
        if max_micro_batches < 1 or not 0 < headroom <= 1 or check_every < 1 or not 1 <= micro_batches <= max_micro_batches:
            raise ValueError("need 1 <= micro_batches <= max_micro_batches, check_every >= 1 and 0 < headroom <= 1")
        self.strategy = strategy
        self.lr_scaling = lr_scaling
        self.max_micro_batches = int(max_micro_batches)
        self.on_pressure = on_pressure
        self.headroom = float(headroom)
        self.check_every = int(check_every)
        self.initial_micro_batches = int(micro_batches)
        self.micro_batches = self.initial_micro_batches
        self._hub = None
        self._batch_size = None
        self._step = 0
        self._pressure_reported = False
        self._call = None  # the failed call being retried (its state may carry the learning rate)

    # ------------------------------------------------------------------------- callbacks
    def on_train_begin(self, logs=None):
        from keras_bsguard.backends import InstrumentedTrainStep

        self._start_run(strategy=self.strategy)
        self._step = 0
        self.micro_batches = max(self.micro_batches, self.initial_micro_batches)
        self._pressure_reported = False
        self._hub = InstrumentedTrainStep.attach(self._model, self, call_guard=self,
                                                 observer=_PressureObserver(self))
        self._hub.set_micro_batches(self.micro_batches, self._mode())

    def on_train_end(self, logs=None):
        if self._hub is not None:
            self._hub.set_micro_batches(1, "accumulate", rebuild=False)
            self._hub.detach(self)
            self._hub = None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if logs is not None:
            self._put_logs(logs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            self._put_logs(logs)

    def _put_logs(self, logs):
        logs["micro_batches"] = self.micro_batches
        if self._batch_size:
            logs["batch_size"] = math.ceil(self._batch_size / self.micro_batches)

    # ------------------------------------------------------------- called by the hub
    def on_step_error(self, error: BaseException, call) -> bool:
        """An exception left the train step: True to retry the same batch with more splits."""
        if not is_out_of_memory(error):
            return False
        batch_size = call.batch_size()
        self._call = call
        if batch_size:
            self._batch_size = batch_size
        new_k = self._next_split(batch_size)
        if new_k is None:
            self._event("oom_gave_up", self._step, f"out of memory at {self.micro_batches} micro-batches of "
                        f"{self._describe_size()}; cannot split further", error=describe(error))
            return False
        self._split(new_k, reason=f"the step ran out of memory ({describe(error)})", error=describe(error))
        self._call = None
        return True

    def _next_split(self, batch_size: int | None) -> int | None:
        """The next micro-batch count: at least double, at most ``max_micro_batches``.

        Under ``keras.distribution`` (JAX) the global batch is sharded over replicas, so every
        micro-batch must divide by the replica count (and the batch by the count of slices);
        under ``tf.distribute`` each replica slices its own batch, so any count works.
        """
        replicas = self._hub.adapter.replica_count(self._model) if self._hub is not None else 1
        global_batch = self._hub.adapter.BATCH_IS_GLOBAL if self._hub is not None else True
        limit = min(self.max_micro_batches, batch_size or self.max_micro_batches)
        candidate = self.micro_batches * 2
        while candidate <= limit:
            if not batch_size or replicas <= 1 or not global_batch:
                return candidate
            if batch_size % candidate == 0 and (batch_size // candidate) % replicas == 0:
                return candidate
            candidate += 1
        if self.micro_batches < limit and (not batch_size or replicas <= 1 or not global_batch):
            return limit
        return None

    def observe_batch(self, batch_size: int | None) -> None:
        if batch_size and batch_size != self._batch_size:
            self._batch_size = batch_size

    # ------------------------------------------------------------------------ actions
    def _mode(self) -> str:
        return "accumulate" if self.strategy == "split" else "sequential"

    def _describe_size(self) -> str:
        if not self._batch_size:
            return "an unknown batch size"
        return f"{math.ceil(self._batch_size / self.micro_batches)} samples (batch {self._batch_size})"

    def _split(self, new_k: int, reason: str, **data) -> None:
        old_k = self.micro_batches
        old_size = math.ceil(self._batch_size / old_k) if self._batch_size else None
        new_size = math.ceil(self._batch_size / new_k) if self._batch_size else None
        lr_note = ""
        if self.strategy == "shrink" and old_size and new_size:
            call = self._call
            change = rescale_learning_rate(self._model.optimizer, old_size, new_size, self.lr_scaling,
                                           scale_variable=call.scale_variable if call is not None else None)
            lr_note = (f"; learning rate x{change.step_factor:.4g} ({change.rule} rule, "
                       f"x{change.new_factor:.4g} of the original)") if change.rule else "; learning rate unchanged"
            data["lr_factor"] = change.new_factor
        self.micro_batches = new_k
        self._hub.set_micro_batches(new_k, self._mode())
        what = (f"BatchSizeGuard: {reason}; now {new_k} "
                + ("micro-batches per step (gradients accumulated, same optimizer steps)"
                   if self.strategy == "split" else "smaller optimizer steps per batch"))
        evidence = (f"batch {self._batch_size or '?'}: {old_k} x {old_size or '?'} samples -> "
                    f"{new_k} x {new_size or '?'} samples{lr_note}")
        causes = ["the batch's activations and gradients do not fit in device memory"]
        batch_norm = _batch_norm_layers(self._model)
        if batch_norm and self.strategy == "split":
            causes.append(f"note: {len(batch_norm)} BatchNormalization layer(s) now see micro-batches of "
                          f"{new_size or '?'} samples, so their statistics differ from the full batch")
        try_ = ["a smaller batch_size in fit", "mixed precision (keras.mixed_precision)",
                "find_batch_size(...) before training", "bsguard lint your loss for batch x batch intermediates"]
        self._warn_once(f"split_{new_k}", BatchSizeWarning, self._step, what, evidence, causes, try_,
                        micro_batches=new_k, failed_micro_batch=old_size, new_micro_batch=new_size,
                        strategy=self.strategy, **data)

    def _on_pressure(self, peak: int, limit: int) -> None:
        fraction = peak / limit
        new_k = self._next_split(self._batch_size) if self.on_pressure == "split" and self.strategy == "split" else None
        if new_k is not None:
            self._split(new_k, reason=f"device memory peak at {fraction:.0%} of the limit "
                                                        f"(headroom {self.headroom:.0%})", peak=peak, limit=limit)
            return
        if self._pressure_reported:
            return
        self._pressure_reported = True
        what = f"BatchSizeGuard: device memory peak at {fraction:.0%} of the limit, above the {self.headroom:.0%} headroom"
        self._warn_once("pressure", BatchSizeWarning, self._step, what,
                        f"peak {peak / 2**30:.2f} GiB of {limit / 2**30:.2f} GiB",
                        ["the batch is close to the largest that fits"],
                        ["BatchSizeGuard(on_pressure='split') to split before it fails", "a smaller batch_size"],
                        peak=peak, limit=limit)

    def get_config(self):
        return {"strategy": self.strategy, "lr_scaling": self.lr_scaling,
                "micro_batches": self.initial_micro_batches, "max_micro_batches": self.max_micro_batches, "on_pressure": self.on_pressure,
                "headroom": self.headroom, "check_every": self.check_every, **self._base_config()}


class _PressureObserver:
    """Reads device memory every ``check_every`` calls of the train function (on the host)."""

    def __init__(self, guard: BatchSizeGuard):
        self.guard = guard
        self.calls = 0

    def before_call(self, start):
        pass

    def data_ready(self, wait_seconds, ready_time):
        pass

    def after_call(self, end, compiles, finished):
        guard = self.guard
        self.calls += 1
        if guard.on_pressure is None or not finished or self.calls % guard.check_every:
            return
        memory = guard._hub.adapter.device_memory() if guard._hub is not None else None
        if not memory or not memory.get("limit") or not memory.get("peak"):
            return
        if memory["peak"] >= guard.headroom * memory["limit"]:
            guard._on_pressure(memory["peak"], memory["limit"])


def _batch_norm_layers(model) -> list:
    found = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization) or "BatchNorm" in type(layer).__name__:
            found.append(layer)
        stack.extend(getattr(layer, "layers", []) or [])
    return found


__all__ = ["BatchSizeGuard"]
