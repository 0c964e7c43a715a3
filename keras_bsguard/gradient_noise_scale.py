"""``GradientNoiseScale``: the simple gradient noise scale B_simple, measured during ``fit``."""

from __future__ import annotations

import contextlib
import math
import statistics
import threading

from keras_bsguard._monitor_base import MonitorBase
from keras_bsguard._noise_scale_feature import BATCH, BIG, MICRO, SMALL, NoiseScaleFeature, two_size_estimates
from keras_bsguard._validate import check_bool, check_float, check_int
from keras_bsguard.backends import (
    InstrumentedTrainStep,
    add_state_metric,
    get_adapter,
    remove_state_metric,
)
from keras_bsguard.warnings import BatchSizeAdvice, BSGuardWarning, format_message

# How far the batch size must sit from B_simple (a factor) before BatchSizeAdvice is given.
ADVICE_FACTOR = 10.0


class _Smoother:
    """Exponential moving averages of tr(Sigma) and |G|^2, kept apart and bias-corrected, with
    the spread of each (the EMA of its square) for approximate 95% bounds of ``B_simple``.

    >>> s = _Smoother(0.5)
    >>> s.add(trace=10.0, grad_sq=2.0); s.add(trace=30.0, grad_sq=2.0)
    >>> round(s.trace, 4), round(s.grad_sq, 4), round(s.noise_scale, 4)
    (23.3333, 2.0, 11.6667)
    """

    def __init__(self, decay: float):
        self.decay = decay
        self.count = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]  # trace, grad_sq, trace^2, grad_sq^2

    def add(self, trace: float, grad_sq: float) -> None:
        self.count += 1
        decay = self.decay
        for index, value in enumerate((trace, grad_sq, trace * trace, grad_sq * grad_sq)):
            self._sums[index] = decay * self._sums[index] + (1.0 - decay) * value

    def _mean(self, index: int) -> float:
        return self._sums[index] / (1.0 - self.decay ** self.count) if self.count else math.nan

    @property
    def trace(self) -> float:
        return self._mean(0)

    @property
    def grad_sq(self) -> float:
        return self._mean(1)

    @property
    def noise_scale(self) -> float:
        """``tr(Sigma) / |G|^2``; NaN until the smoothed ``|G|^2`` is above zero (a negative
        trace, noise below the estimator's resolution, counts as 0)."""
        grad_sq = self.grad_sq
        if not (math.isfinite(grad_sq) and grad_sq > 0):
            return math.nan
        return max(self.trace, 0.0) / grad_sq

    def _standard_error(self, index: int) -> float:
        """The standard error of a smoothed mean: the per-step spread times the weights' norm
        (``sum w^2`` of the bias-corrected EMA weights), steps taken as independent."""
        if self.count < 2:
            return math.inf
        decay, n = self.decay, self.count
        mean = self._mean(index)
        variance = max(self._mean(index + 2) - mean * mean, 0.0)
        if decay == 0.0:
            return math.sqrt(variance)
        weights = (1 - decay) * (1 + decay ** n) / ((1 + decay) * (1 - decay ** n))
        return math.sqrt(variance * weights)

    def bounds(self) -> tuple[float, float]:
        """Approximate 95% bounds ``(low, high)`` of ``B_simple``: the trace two standard errors
        down over ``|G|^2`` two up, and the other way round (``inf`` while ``|G|^2`` is not
        resolved above zero, NaN when not even its upper bound is)."""
        trace, grad_sq = self.trace, self.grad_sq
        trace_error, grad_error = self._standard_error(0), self._standard_error(1)
        if not (math.isfinite(trace) and math.isfinite(grad_error)):
            return math.nan, math.nan
        grad_high, grad_low = grad_sq + 2 * grad_error, grad_sq - 2 * grad_error
        low = max(trace - 2 * trace_error, 0.0) / grad_high if grad_high > 0 else math.nan
        high = (trace + 2 * trace_error) / grad_low if grad_low > 0 else math.inf
        return low, high


class GradientNoiseScale(MonitorBase):
    """Estimates the simple gradient noise scale ``B_simple = tr(Sigma) / |G|^2`` during ``fit``
    and says when the batch size sits far from it.

    ``B_simple`` (McCandlish et al. 2018, "An Empirical Model of Large-Batch Training") predicts
    the critical batch size: well below it, doubling the batch nearly halves the steps to a given
    loss; well above it, larger batches mostly spend compute. ``Sigma`` is the per-example
    gradient covariance and ``G`` the true gradient, both at the current weights.

    **How it measures.** The callback registers a gradient feature into the model's one shared
    instrumented train step (no ``train_step`` override of its own). A measured step runs its
    batch of ``B`` samples as ``micro_batches = k`` slices of ``b = B / k`` samples with the
    gradients accumulated into one optimizer update (the update of the whole batch, as
    BatchSizeGuard's split), and records the slices' squared gradient norms ``|g_small|^2`` and
    that of their weighted mean ``|G_big|^2``. From them::

        |G|^2      ~ (B |G_big|^2 - b |g_small|^2) / (B - b)
        tr(Sigma)  ~ (|g_small|^2 - |G_big|^2) / (1/b - 1/B)

    Both are unbiased but noisy step by step: each is smoothed by an exponential moving average
    (``ema``, bias-corrected) and the smoothed trace is divided by the smoothed ``|G|^2``. While
    BatchSizeGuard splits the batch, its split is the small batch. Rows go through a small ring
    buffer on the device and are read every ``window`` measured steps, as
    :class:`~keras_bsguard.GradientNormMonitor` does.

    **Logs.** Per epoch ``gns`` (``B_simple``, the smoothed estimate at the epoch's end) and
    ``gns_ratio`` (``B / B_simple``), picked up by History, CSVLogger and TensorBoard: both NaN
    until ``|G|^2`` is resolved above zero (early on, or when the noise swamps the signal). Per
    window (event log, ``bsguard report``): ``gns``, ``gns_window`` (the window's own means,
    unsmoothed), ``trace``, ``grad_sq``, ``batch_size`` and ``micro_batch_size``.

    **Advice.** :class:`~keras_bsguard.BatchSizeAdvice` (informational, at most once per epoch)
    when, for ``advice_windows`` windows in a row, the batch size is below ``B_simple / 10``
    with the lower 95% bound above the batch size (or the lower bound alone 10x above it), or
    above ``10 x B_simple`` with the upper bound below the batch size: larger batches would cut
    the number of steps nearly proportionally, or spend compute with diminishing returns. The
    bounds (``gns_low``, ``gns_high``: two standard errors of the smoothed trace and ``|G|^2``,
    steps taken as independent) keep noise alone from advising: far below the noise scale,
    ``|G|^2`` needs on the order of ``(B_simple / B)^2`` measured steps to be resolved. The noise
    scale is a heuristic that changes during training: it usually grows as the loss falls.

    **Cost and caveats.** A measured step runs ``k`` smaller forward/backward passes (one after
    the other under BatchSizeGuard's split; otherwise XLA may overlap them), plus one pass over
    the gradients per slice, and holds the slices' gradients and their running sum (about two
    more gradient-sized buffers: near a memory limit, a measured step can run out of memory
    where a plain one would not); ``every_n_steps=n`` measures steps n,
    2n, ... only. The other steps run unsplit, as in a plain ``fit``: on JAX and TensorFlow a
    second compiled step (each traced once, picked on the host at every step), on torch the
    eager step. On TensorFlow with ``steps_per_execution > 1`` every step is split and every
    n-th one recorded. BatchNormalization layers
    normalize over the slices in a measured step (a warning says so). The estimates assume a loss
    averaged over the batch (Keras's default ``"sum_over_batch_size"``); a summed loss scales the
    gradients with the batch and makes them meaningless. Inactive (one :class:`BSGuardWarning`,
    ``gns`` NaN) for a model with its own ``train_step``, torch under ``jit_compile=True``,
    TensorFlow under a multi-replica ``tf.distribute`` strategy, and while BatchSizeGuard runs its
    slices as separate updates (``strategy="shrink"``).

    Args:
        every_n_steps: measure every n-th training step (an integer >= 1).
        ema: decay of the moving averages, in [0, 1) (0.99: about the last 100 measured steps).
        micro_batches: slices of a measured step (an integer >= 2); the small batch is
            ``B / micro_batches``.
        window: measured steps per event-log window and between two reads of the device
            buffer (an integer >= 1).
        advice: give :class:`BatchSizeAdvice` (a bool).
        advice_windows: windows in a row the batch size must sit 10x from ``B_simple`` before
            the advice (an integer >= 1).
        log_dir, event_log: as for :class:`~keras_bsguard.StepTimeMonitor`.

    Example::

        import numpy as np, keras
        from keras_bsguard import GradientNoiseScale

        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile("adam", "mse")
        x, y = np.random.rand(2048, 8), np.random.rand(2048, 1)
        history = model.fit(x, y, batch_size=64, epochs=2, verbose=0,
                            callbacks=[GradientNoiseScale(window=8)])
        print(history.history["gns"], history.history["gns_ratio"])
    """

    monitor_name = "gradient_noise_scale"

    def __init__(self, every_n_steps: int = 1, ema: float = 0.99, micro_batches: int = 2,
                 window: int = 50, advice: bool = True, advice_windows: int = 3,
                 log_dir: str | None = None, event_log=None):
        owner = "GradientNoiseScale"
        self.every_n_steps = check_int(owner, "every_n_steps", every_n_steps, 1)
        self.ema = check_float(owner, "ema", ema, low=0.0, high=1.0, high_open=True)
        self.micro_batches = check_int(owner, "micro_batches", micro_batches, 2)
        self.window = check_int(owner, "window", window, 1)
        self.advice = check_bool(owner, "advice", advice)
        self.advice_windows = check_int(owner, "advice_windows", advice_windows, 1)
        super().__init__(log_dir=log_dir, event_log=event_log)
        self._hub = None
        self._feature = None
        self._buffer_variables = None

    def get_config(self) -> dict:
        return {"every_n_steps": self.every_n_steps, "ema": self.ema,
                "micro_batches": self.micro_batches, "window": self.window, "advice": self.advice,
                "advice_windows": self.advice_windows, **self._base_config()}

    # ------------------------------------------------------------------------- lifecycle
    def on_train_begin(self, logs=None):
        with self._lock:
            self._smoother = _Smoother(self.ema)
            self._rows_seen = 0  # measured steps read so far (every row, usable or not)
            self._consumed = 0  # the buffer's write counter at the last read
            self._window_rows: list[tuple] = []  # (grad_sq, trace, B, b) of usable rows
            self._window_count = 0
            self._window_skipped = 0
            self._epoch_batches: list[float] = []
            # (gns, its low and high bounds, batch size) per closed window with usable steps
            self._recent: list[tuple[float, float, float, float]] = []
            self._advised_epoch = None
            self._epoch = 0
            self._rows_epoch = 0  # the epoch of the snapshot being read
            self._micro = math.nan  # the micro-batch size of the last window
        self._snapshot_lock = threading.Lock()
        self._snapshot = None  # (sequence number, epoch, device copies), taken between steps
        self._snapshots_taken = 0
        self._last_read = 0  # sequence number of the newest snapshot consumed
        self._read_batch = 0
        self._read_every = self.window * self.every_n_steps
        self._buffer_variables = None
        self._feature = None
        adapter = get_adapter()
        self._adapter = adapter
        reason = self._inactive_reason(adapter)
        self._start_run(window=self.window, every_n_steps=self.every_n_steps, ema=self.ema,
                        micro_batches=self.micro_batches, active=reason is None)
        if reason is not None:
            self._emit(BSGuardWarning, "GradientNoiseScale is inactive for this fit: " + reason
                       + ". gns and gns_ratio are logged as NaN.")
            return
        squared_norms = getattr(adapter, "squared_norms", None)
        schedules = getattr(adapter, "schedules_steps_on_host", None)
        feature = NoiseScaleFeature(
            self.micro_batches, self.every_n_steps,
            steps_on_host=getattr(adapter, "SCHEDULES_STEPS_ON_HOST", False)
            or (schedules is not None and schedules(self._model)),
            squared_norms=squared_norms,
            write_slot=getattr(adapter, "write_slot", None))
        eager = getattr(adapter, "step_runs_eagerly", None)
        if eager is not None and eager(self._model):
            feature.host_count = 0
        per_call = max(1, int(getattr(self._model, "steps_per_execution", 1) or 1))
        capacity = 1 << max(4, (2 * self.window + 2 * per_call).bit_length())
        scope = getattr(adapter, "variable_scope", None)
        with scope(self._model) if scope else contextlib.nullcontext():
            feature.build(capacity)
        self._feature = feature
        self._buffer_variables = [feature.buffer.rows]
        self._start_reads(capacity, self.every_n_steps, per_call)
        add_state_metric(self._model, feature.buffer)
        self._hub = InstrumentedTrainStep.attach(self._model, self, gradient_feature=feature)
        batch_norm = [layer.name for layer in self._model._flatten_layers()
                      if type(layer).__name__ == "BatchNormalization"]
        if batch_norm:
            self._emit(BSGuardWarning, format_message(
                f"GradientNoiseScale splits each measured step into {self.micro_batches} "
                f"micro-batches: {len(batch_norm)} BatchNormalization layer(s) normalize over a "
                f"micro-batch in those steps.",
                f"layers {', '.join(batch_norm[:5])}; every_n_steps={self.every_n_steps}",
                ["the gradients are accumulated into the update of the whole batch, but batch "
                 "statistics are computed per micro-batch"],
                ["measure less often (every_n_steps=10 or more)", "accept the small change of the "
                 "batch statistics", "remove the callback once the estimate is known"]))

    def _inactive_reason(self, adapter) -> str | None:
        model = self._model
        if not adapter.has_default_train_step(model):
            return "the model overrides train_step, so its batch cannot be split into micro-batches"
        reason = adapter.unsupported_reason(model) or adapter.split_unsupported_reason(model)
        if reason:
            return reason
        if not adapter.BATCH_IS_GLOBAL and adapter.replica_count(model) > 1:
            return "under a multi-replica tf.distribute strategy each replica splits its own share"
        return None

    def on_train_end(self, logs=None):
        self._read_now()
        with self._lock:
            if self._window_count:
                self._close_window()
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None
        if self._feature is not None and self._feature.buffer is not None:
            remove_state_metric(self._model, self._feature.buffer)
        self._buffer_variables = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin_epoch_steps()
        self._read_batch = 0
        with self._lock:
            self._epoch = epoch
            self._epoch_batches = []

    def on_epoch_end(self, epoch, logs=None):
        self._read_now()
        hub = self._hub
        if hub is not None and hub.micro_batches > 1 and hub.micro_mode != "accumulate":
            self._warn_once(
                "no_estimate_while_shrinking", BSGuardWarning, self._last_step,
                "GradientNoiseScale measures nothing while BatchSizeGuard shrinks the batch.",
                f"BatchSizeGuard(strategy='shrink') runs each batch as {hub.micro_batches} "
                f"separate optimizer steps: there is no gradient of the whole batch to compare "
                f"the slices with",
                ["an out-of-memory error made BatchSizeGuard shrink the batch"],
                ["BatchSizeGuard(strategy='split') accumulates the slices into one update, which "
                 "GradientNoiseScale reuses as its small batch"])
        if logs is None:
            return
        with self._lock:
            noise_scale = self._smoother.noise_scale if self._feature is not None else math.nan
            batch = statistics.median(self._epoch_batches) if self._epoch_batches else math.nan
        logs["gns"] = noise_scale
        logs["gns_ratio"] = batch / noise_scale if noise_scale > 0 else math.nan

    def on_train_batch_begin(self, batch, logs=None):
        if self._buffer_variables is None:
            return
        if self._reads_fell_behind(batch):
            self._read_batch = batch
            self._read_now(self._epoch_first_step + batch)
        elif batch - self._read_batch >= self._read_every:
            self._read_batch = batch
            snapshot = self._take_snapshot(self._epoch_first_step + batch)
            with self._snapshot_lock:
                self._snapshot = snapshot

    def on_train_batch_end(self, batch, logs=None):
        self._global_step(batch)
        if self._snapshot is None:
            return
        with self._snapshot_lock:
            snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            self._consume(snapshot)

    # ------------------------------------------------------------------- device buffer reads
    def _take_snapshot(self, step: int) -> tuple:
        """Device copies of the buffer (no wait) after ``step`` global steps, numbered and
        stamped with the epoch: Keras's worker thread may consume one after the main thread has
        read a newer one, or after the next epoch has begun."""
        self._snapshots_taken += 1
        copies = self._adapter.snapshot_variables(self._model, self._buffer_variables)
        return self._snapshots_taken, self._epoch, step, copies

    def _read_now(self, step: int | None = None) -> None:
        """Read the buffer on this (the training) thread: at epoch and fit end, and when the
        reads on Keras's worker threads fell behind."""
        if self._buffer_variables is None:
            return
        with self._snapshot_lock:
            self._snapshot = None
        self._consume(self._take_snapshot(self._last_step if step is None else step))

    def _consume(self, snapshot) -> None:
        """Turn the rows a buffer snapshot holds beyond the last read into estimates, in order
        (a snapshot older than one already read is dropped)."""
        from keras import ops

        sequence, epoch, step, copies = snapshot
        rows = ops.convert_to_numpy(copies[0]).tolist()  # waits for the device, off-thread
        capacity = len(rows) - 1
        written = int(rows[capacity][0])
        with self._lock:
            if sequence <= self._last_read:
                return
            self._last_read = sequence
            self._note_read(step)
            new = (written - self._consumed) % capacity
            first, self._consumed = self._consumed, written
            self._rows_epoch = epoch
            for k in range(new):
                self._observe(rows[(first + k) % capacity])

    def _observe(self, row) -> None:
        """One measured step's row (call with the lock held)."""
        small, big, batch, micro = (float(row[i]) for i in (SMALL, BIG, BATCH, MICRO))
        self._rows_seen += 1
        self._window_count += 1
        usable = batch - micro >= 0.5 and all(math.isfinite(v) for v in (small, big))
        if usable:
            grad_sq, trace = two_size_estimates(small, big, batch, micro)
            self._smoother.add(trace, grad_sq)
            self._window_rows.append((grad_sq, trace, batch, micro))
            self._epoch_batches.append(batch)
        else:
            self._window_skipped += 1
        if self._window_count >= self.window:
            self._close_window()

    def _close_window(self) -> None:
        """Write the window's figures and judge the batch size (call with the lock held)."""
        rows, skipped, count = self._window_rows, self._window_skipped, self._window_count
        self._window_rows, self._window_skipped, self._window_count = [], 0, 0
        step = self._rows_seen * self.every_n_steps
        smoother = self._smoother
        noise_scale = smoother.noise_scale
        low, high = smoother.bounds()
        figures = {"gns": noise_scale, "gns_low": low, "gns_high": high, "trace": smoother.trace,
                   "grad_sq": smoother.grad_sq, "measured_steps": count, "skipped_steps": skipped}
        if rows:
            grad_sq = statistics.fmean(r[0] for r in rows)
            trace = statistics.fmean(r[1] for r in rows)
            batch = statistics.median(r[2] for r in rows)
            figures.update(gns_window=max(trace, 0.0) / grad_sq if grad_sq > 0 else math.nan,
                           batch_size=batch, micro_batch_size=statistics.median(r[3] for r in rows),
                           gns_ratio=batch / noise_scale if noise_scale > 0 else math.nan)
            self._micro = figures["micro_batch_size"]
            self._recent.append((noise_scale, low, high, batch))
            del self._recent[:-self.advice_windows]
        self._window_record(step, **figures)
        if self.advice and rows:
            self._judge(step)

    def _judge(self, step: int) -> None:
        """BatchSizeAdvice when the last ``advice_windows`` windows all put the batch size 10x
        or more from B_simple on the same side, with the 95% bounds on that side of the batch
        size too (noise alone moves the point estimate a long way while ``|G|^2`` is barely
        resolved). At most once per epoch."""
        recent = self._recent
        if len(recent) < self.advice_windows or self._advised_epoch == self._rows_epoch:
            return

        def far_below(gns, low, high, batch):
            # Unresolved |G|^2 (gns NaN) still counts when even the lower bound is 10x away.
            return (gns > batch * ADVICE_FACTOR and low > batch) or low > batch * ADVICE_FACTOR

        def far_above(gns, low, high, batch):
            return gns * ADVICE_FACTOR < batch and high < batch

        if all(far_below(*window) for window in recent):
            side = "small"
        elif all(far_above(*window) for window in recent):
            side = "large"
        else:
            return
        self._advised_epoch = self._rows_epoch
        noise_scale, low, high, batch = recent[-1]
        estimates = [window[0] for window in recent]
        finite = [g for g in estimates if math.isfinite(g)]
        spread = (f"95% range {low:.3g} to {high:.3g} in the last window; "
                  + (f"{min(finite):.3g} to {max(finite):.3g} over the last {len(recent)} windows"
                     if finite else "|G|^2 not resolved above 0 yet: a lower bound only"))
        shown = f"{noise_scale:.3g}" if math.isfinite(noise_scale) else f"at least {low:.3g}"
        if side == "small":
            what = (f"The batch size ({batch:g}) is far below the gradient noise scale "
                    f"(B_simple ~ {shown}): larger batches would reduce the number of "
                    f"steps nearly proportionally.")
            causes = ["the gradient noise is large against the gradient itself: each step "
                      "averages too few samples to move far in the right direction"]
            try_ = ["raise the batch size towards B_simple (BatchSizeGuard splits it if memory "
                    "runs out)", "with SGD scale the learning rate linearly with the batch size, "
                    "with Adam-family optimizers by its square root"]
        else:
            what = (f"The batch size ({batch:g}) is far above the gradient noise scale "
                    f"(B_simple ~ {shown}): larger batches spend compute with "
                    f"diminishing returns.")
            causes = ["the gradient is already well resolved at a fraction of the batch: samples "
                      "beyond B_simple add little per step"]
            try_ = ["a smaller batch reaches the same loss in about as many samples with less "
                    "compute per step", "keep the batch if throughput, not sample efficiency, is "
                    "what matters"]
        evidence = (f"B_simple = tr(Sigma)/|G|^2 ~ {shown}, {spread} (windows of {self.window} measured "
                    f"steps, micro-batches of {self._micro:g} samples); the noise scale is a "
                    f"heuristic that changes during training: critical batch sizes usually grow "
                    f"as the loss falls")
        message = format_message(what, evidence, causes, try_)
        self._event("batch_size_advice", step, message, side=side, gns=noise_scale,
                    gns_low=low, gns_high=high, batch_size=batch, estimates=estimates)
        self._emit(BatchSizeAdvice, f"[step {step}] {message}")
