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

Validation, ``evaluate`` and ``predict`` are covered too: their steps keep no state beyond the
metrics, so a batch that runs out of memory there is run again as ``k`` pieces, one step each,
the metrics accumulated over the pieces (exact for Keras's metrics, which accumulate over batches
anyway) and the predictions concatenated. Each kind of step has its own split: a validation OOM
never splits the train step. When the guard gives up (an error that is not an OOM, or nothing
left to split), the model's weights, optimizer state and metrics are those of the last completed
step before the error leaves ``fit``.

Limits (this version): a model that overrides ``train_step`` is retried once, never split (it
says so when ``fit`` starts, and refuses ``micro_batches > 1``); so is torch under
``jit_compile``; under ``tf.distribute`` validation and prediction batches are not split.
"""

from __future__ import annotations

import math

import keras

from keras_bsguard._monitor_base import MonitorBase
from keras_bsguard._validate import check_choice, check_float, check_int
from keras_bsguard.lr_scaling import rescale_learning_rate
from keras_bsguard.oom import describe, is_out_of_memory
from keras_bsguard.warnings import BatchSizeWarning, emit, format_message

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
        owner = "BatchSizeGuard"  # each argument checked on its own, with its own message
        check_choice(owner, "strategy", strategy, STRATEGIES)
        check_choice(owner, "lr_scaling", lr_scaling, ("linear", "sqrt", "auto", None))
        max_micro_batches = check_int(owner, "max_micro_batches", max_micro_batches, 1)
        micro_batches = check_int(owner, "micro_batches", micro_batches, 1, max_micro_batches)
        check_choice(owner, "on_pressure", on_pressure, PRESSURE_ACTIONS)
        headroom = check_float(owner, "headroom", headroom, low=0.0, high=1.0, low_open=True)
        check_every = check_int(owner, "check_every", check_every, 1)
        super().__init__(log_dir=log_dir, event_log=event_log)
        self.strategy = strategy
        self.lr_scaling = lr_scaling
        self.max_micro_batches = int(max_micro_batches)
        self.on_pressure = on_pressure
        self.headroom = float(headroom)
        self.check_every = int(check_every)
        self.initial_micro_batches = int(micro_batches)
        self.micro_batches = self.initial_micro_batches
        self._hub = None
        self._batch_size = None  # samples in the current train batch
        self._epoch_batch_size = None  # the largest train batch of the epoch (a full one)
        self._step = 0
        self._pressure_reported = False
        self._call = None  # the failed call being retried (its state may carry the learning rate)
        # Splits of the stateless steps, each its own: a validation OOM never splits training.
        self.eval_micro_batches = {"test": 1, "predict": 1}
        self._eval_batch_size: dict[str, int | None] = {"test": None, "predict": None}
        self._in_fit = False
        self._retry_only = None  # why the train step can only be retried (custom train_step ...)
        self._retry_only_said = False

    @property
    def _current_step(self) -> int:
        """The 1-based global number of the step being run (``_step`` counts completed ones):
        the number every monitor's messages and events use."""
        return self._step + 1

    # ------------------------------------------------------------------------- callbacks
    def on_train_begin(self, logs=None):
        from keras_bsguard.backends import InstrumentedTrainStep, get_adapter

        reason = get_adapter().split_unsupported_reason(self._model)
        if reason is not None and self.initial_micro_batches > 1:
            raise ValueError(
                f"BatchSizeGuard(micro_batches={self.initial_micro_batches}) cannot split this "
                f"model's batches: {reason}. It can only retry a step that ran out of memory. Use "
                f"micro_batches=1 (retry only), a smaller batch_size, or accumulate gradients in "
                f"your own train_step.")
        self._retry_only = reason
        self._start_run(strategy=self.strategy, retry_only=reason)
        self._step = 0
        self._epoch_batch_size = None
        if reason is None:
            self.micro_batches = max(self.micro_batches, self.initial_micro_batches)
        else:
            self.micro_batches = 1
            self._say_retry_only(reason)
        self._pressure_reported = False
        self._in_fit = True
        self._hub = InstrumentedTrainStep.attach(self._model, self, call_guard=self,
                                                 observer=_PressureObserver(self), kinds=("train", "test"))
        self._hub.set_micro_batches(self.micro_batches, self._mode())

    def on_train_end(self, logs=None):
        self._in_fit = False
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None

    def on_test_begin(self, logs=None):
        if not self._in_fit:  # inside fit the test function is guarded from on_train_begin on
            self._attach_stateless("test")

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._detach_stateless("test")

    def on_predict_begin(self, logs=None):
        self._attach_stateless("predict")

    def on_predict_end(self, logs=None):
        self._detach_stateless("predict")

    def _attach_stateless(self, kind: str) -> None:
        from keras_bsguard.backends import InstrumentedTrainStep

        if self._run_id is None:
            self._start_run(strategy=self.strategy)
        self._hub = InstrumentedTrainStep.attach(self._model, self, call_guard=self, kinds=(kind,))

    def _detach_stateless(self, kind: str) -> None:
        if self._hub is not None:
            self._hub.detach(self, kinds=(kind,))
            if not self._in_fit:
                self._hub = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batch_size = None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if logs is not None:
            self._put_logs(logs, self._batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            # The split of a full batch (a partial last batch is smaller).
            self._put_logs(logs, self._epoch_batch_size or self._batch_size)

    def _put_logs(self, logs, batch_size):
        """What really ran: the train split and the samples in each micro-batch (the whole batch
        when the step can only be retried)."""
        logs["micro_batches"] = self.micro_batches
        if batch_size:
            logs["batch_size"] = math.ceil(batch_size / self.micro_batches)

    def _say_retry_only(self, reason: str) -> None:
        self._event("retry_only", self._current_step, f"BatchSizeGuard can only retry: {reason}", reason=reason)
        if self._retry_only_said:
            return
        self._retry_only_said = True
        message = format_message(
            f"BatchSizeGuard can only retry this model's train step: {reason}.",
            "on out-of-memory it frees memory and runs the same whole batch once more; if that "
            "fails too, the error is raised (micro_batches stays 1; validation, evaluate and "
            "predict are still split)",
            ["a custom train_step is opaque to the guard: it cannot cut the batch inside it"],
            ["a smaller batch_size in fit", "accumulate gradients over slices in your own "
             "train_step", "find_batch_size(...) before training"])
        self._emit_warning(BatchSizeWarning, message)

    def _emit_warning(self, category, message: str) -> None:
        emit_method = getattr(self, "_emit", None)
        if emit_method is not None:
            emit_method(category, message)
        else:
            emit(category, message)

    # ------------------------------------------------------------- called by the hub
    def micro_batches_for(self, kind: str) -> int:
        """How many pieces the hub cuts each batch of a ``kind`` step into."""
        return self.micro_batches if kind == "train" else self.eval_micro_batches[kind]

    def on_step_error(self, error: BaseException, call, kind: str = "train") -> bool:
        """An exception left a step: True to run the same batch again (split further)."""
        if not is_out_of_memory(error):
            return False
        if kind != "train":
            return self._on_stateless_oom(error, call, kind)
        batch_size = call.batch_size()
        if batch_size:
            self._batch_size = batch_size
        if self._retry_only is not None:
            if call.retries >= 1:
                self._event("oom_gave_up", self._current_step, f"out of memory again on the retry of a "
                            f"batch of {self._describe_size()}; {self._retry_only}", error=describe(error))
                return False
            call.retries += 1
            self._event("oom_retry", self._current_step, f"out of memory on a batch of {self._describe_size()}; "
                        f"memory freed, retrying the whole batch once ({self._retry_only})",
                        error=describe(error))
            return True
        self._call = call
        new_k = self._next_split(batch_size, self.micro_batches)
        if new_k is None:
            self._event("oom_gave_up", self._current_step, f"out of memory at {self.micro_batches} micro-batches of "
                        f"{self._describe_size()}; cannot split further", error=describe(error))
            self._call = None
            return False
        self._split(new_k, reason=f"the train step ran out of memory ({describe(error)})", error=describe(error))
        self._call = None
        return True

    def _on_stateless_oom(self, error, call, kind: str) -> bool:
        what = {"test": "validation" if self._in_fit else "evaluation", "predict": "prediction"}[kind]
        batch_size = call.batch_size()
        if batch_size:
            self._eval_batch_size[kind] = batch_size
        current = self.eval_micro_batches[kind]
        reason = self._hub.adapter.stateless_split_unsupported_reason(self._model) if self._hub else None
        new_k = None if reason else self._next_split(batch_size, current)
        if new_k is None:
            self._event("oom_gave_up", self._current_step, f"the {what} step ran out of memory at {current} "
                        f"piece(s) of a batch of {batch_size or '?'}; "
                        + (reason or "cannot split further"), error=describe(error), function=kind)
            return False
        self.eval_micro_batches[kind] = new_k
        old_size = math.ceil(batch_size / current) if batch_size else None
        new_size = math.ceil(batch_size / new_k) if batch_size else None
        self._warn_once(
            f"{kind}_split_{new_k}", BatchSizeWarning, self._current_step,
            f"BatchSizeGuard: the {what} step ran out of memory ({describe(error)}); now {new_k} "
            f"pieces per batch, one step each (metrics accumulated, predictions concatenated)",
            f"{what} batch {batch_size or '?'}: {current} x {old_size or '?'} samples -> {new_k} x "
            f"{new_size or '?'} samples; the train step's split is unchanged ({self.micro_batches})",
            [f"the batch's activations do not fit in {_memory()} (validation runs at the training "
             "batch size unless validation_batch_size is given)"],
            ["validation_batch_size / batch_size in evaluate and predict",
             "bsguard lint your loss for batch x batch intermediates"],
            function=kind, micro_batches=new_k, failed_micro_batch=old_size, new_micro_batch=new_size,
            error=describe(error))
        return True

    def _next_split(self, batch_size: int | None, current: int | None = None) -> int | None:
        """The next micro-batch count after ``current``: at least double, at most
        ``max_micro_batches``.

        Under ``keras.distribution`` (JAX) the global batch is sharded over replicas, so every
        micro-batch must divide by the replica count (and the batch by the count of slices);
        under ``tf.distribute`` each replica slices its own batch, so any count works.
        """
        current = self.micro_batches if current is None else current
        replicas = self._hub.adapter.replica_count(self._model) if self._hub is not None else 1
        global_batch = self._hub.adapter.BATCH_IS_GLOBAL if self._hub is not None else True
        limit = min(self.max_micro_batches, batch_size or self.max_micro_batches)
        candidate = current * 2
        while candidate <= limit:
            if not batch_size or replicas <= 1 or not global_batch:
                return candidate
            if batch_size % candidate == 0 and (batch_size // candidate) % replicas == 0:
                return candidate
            candidate += 1
        if current < limit and (not batch_size or replicas <= 1 or not global_batch):
            return limit
        return None

    def observe_batch(self, batch_size: int | None, kind: str = "train") -> None:
        if not batch_size:
            return
        if kind != "train":
            self._eval_batch_size[kind] = batch_size
            return
        self._batch_size = batch_size
        if self._epoch_batch_size is None or batch_size > self._epoch_batch_size:
            self._epoch_batch_size = batch_size

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
        causes = [f"the batch's activations and gradients do not fit in {_memory()}"]
        batch_norm = _batch_norm_layers(self._model)
        if batch_norm and self.strategy == "split":
            causes.append(f"note: {len(batch_norm)} BatchNormalization layer(s) now see micro-batches of "
                          f"{new_size or '?'} samples, so their statistics differ from the full batch")
        try_ = ["a smaller batch_size in fit", "mixed precision (keras.mixed_precision)",
                "find_batch_size(...) before training", "bsguard lint your loss for batch x batch intermediates"]
        self._warn_once(f"split_{new_k}", BatchSizeWarning, self._current_step, what, evidence, causes, try_,
                        micro_batches=new_k, failed_micro_batch=old_size, new_micro_batch=new_size,
                        strategy=self.strategy, **data)

    def _on_pressure(self, peak: int, limit: int) -> None:
        fraction = peak / limit
        splittable = self.on_pressure == "split" and self.strategy == "split" and self._retry_only is None
        new_k = self._next_split(self._batch_size) if splittable else None
        if new_k is not None:
            self._split(new_k, reason=f"{_memory()} peak at {fraction:.0%} of the limit "
                                                        f"(headroom {self.headroom:.0%})", peak=peak, limit=limit)
            return
        if self._pressure_reported:
            return
        self._pressure_reported = True
        what = f"BatchSizeGuard: {_memory()} peak at {fraction:.0%} of the limit, above the {self.headroom:.0%} headroom"
        self._warn_once("pressure", BatchSizeWarning, self._current_step, what,
                        f"peak {peak / 2**30:.2f} GiB of {limit / 2**30:.2f} GiB",
                        ["the batch is close to the largest that fits"],
                        ["BatchSizeGuard(on_pressure='split') to split before it fails", "a smaller batch_size"],
                        peak=peak, limit=limit)

    def get_config(self):
        return {"strategy": self.strategy, "lr_scaling": self.lr_scaling,
                "micro_batches": self.initial_micro_batches, "max_micro_batches": self.max_micro_batches, "on_pressure": self.on_pressure,
                "headroom": self.headroom, "check_every": self.check_every, **self._base_config()}


def _memory() -> str:
    """What ran out, in the words of this run: the accelerator's memory, or the host's on a CPU run."""
    from keras_bsguard import _advice

    return "device memory" if _advice.accelerator() else "host memory (this run computes on the CPU)"


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
