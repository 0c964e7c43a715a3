"""``GradientNormMonitor``: the global gradient norm of every step, computed inside the step."""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from keras_bsguard._gradient_checks import ranked_layers, sustained_growth, vanished_layers
from keras_bsguard._monitor_base import MonitorBase, median
from keras_bsguard._validate import check_bool, check_choice, check_float, check_int
from keras_bsguard.backends import (
    InstrumentedTrainStep,
    add_state_metric,
    get_adapter,
    remove_state_metric,
    state_buffer,
)
from keras_bsguard.warnings import BSGuardWarning, GradientNormWarning

# Private logs key carrying the per-layer norms out of the step; popped by the monitor.
LAYER_NORMS_KEY = "_bsguard_layer_grad_norms"


def _layer_name(variable) -> str:
    path = getattr(variable, "path", None) or getattr(variable, "name", "?")
    return path.rsplit("/", 1)[0] if "/" in path else path


def _squared_norms(grads) -> list:
    from keras import ops

    return [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]


def ring_period(capacity: int, every_n_steps: int = 1) -> int:
    """Where the buffer's counter wraps: one full turn of the ring, ``capacity x every_n_steps``
    counted steps (``every_n_steps`` is 1 where the counter counts written norms), so that the
    counter is also the next slot (divided by ``every_n_steps``) and float32 holds it exactly.

    >>> ring_period(128), ring_period(128, 3)
    (128, 384)
    """
    return int(capacity) * int(every_n_steps)


def _make_norm_buffer(capacity: int, n_layers: int):
    """A state buffer (:func:`~keras_bsguard.backends.state_buffer`) holding the last
    ``capacity`` per-step norms on the device.

    One vector ``norms`` of ``capacity + 1`` floats: the ring of global norms, then the counter
    (the norms written so far, or the steps run where the step itself picks every n-th one,
    wrapped at :func:`ring_period`). One variable rather than
    two because every state variable costs the host something per step: on JAX, Keras re-tracks
    the whole training state after each step (``JAXTrainer.fit`` sets ``model._jax_state``), about
    4 us per extra array on a 2-core CPU. With per-layer norms, ``layer_norms`` holds a row per
    slot.
    """
    buffer = state_buffer("bsguard_gradient_norms", {
        "norms": (capacity + 1,),
        "layer_norms": (capacity, n_layers) if n_layers else None})
    buffer.capacity, buffer.n_layers = int(capacity), int(n_layers)
    return buffer


class GradientNormFeature:
    """Gradient feature of the instrumented train step: global (and per-layer) gradient norms.

    ``record`` (the default instrumented step) runs inside the traced step on the gradients the
    optimizer is about to apply and writes the step's norms into a small ring buffer on the device
    (:func:`_make_norm_buffer`); nothing leaves the step. With ``every_n_steps = n > 1`` only steps
    n, 2n, ... are measured, slot ``k - 1`` (mod the capacity) holding the norm of step ``k x n``:

    * where the backend picks the step to run on the host (``steps_on_host``, JAX), its hub calls
      a step compiled with the norm at steps n, 2n, ... and one compiled without it (Keras's own
      step) at the others; the counter then counts the norms written;
    * elsewhere the compiled step counts every step and computes the norms under a conditional
      (TensorFlow), or the eager step skips them on the host (torch).

    ``compute`` (steps that only pass logs out, e.g. BatchSizeGuard's micro-batched step) returns
    the norms as step logs instead. Under a ``LossScaleOptimizer`` the gradients are scaled by the
    dynamic loss scale; the norm is divided by it. Squares are summed in float32 whatever the
    gradients' dtype.
    """

    def __init__(self, per_layer: bool, squared_norms=None, global_norm=None, write_slot=None,
                 every_n_steps: int = 1, steps_on_host: bool = False):
        self.per_layer = per_layer
        self.every_n_steps = int(every_n_steps)
        self.steps_on_host = bool(steps_on_host)
        # Backend fast paths (torch eager pays a Python dispatch per op: the squared norms
        # stacked in one vector, the global norm in two more ops, one in-place write per buffer
        # row; see torch_adapter._squares. JAX: the small gradients' squares in one reduction).
        self.squared_norms = squared_norms or _squared_norms
        self.global_norm = global_norm
        self.write_slot = write_slot
        self.layer_names: list[str] = []
        self.buffer = None
        self.modulus = None  # where the buffer's counter wraps (ring_period)
        self._layer_of: dict[int, int] = {}
        # Set (to 0) when the step's Python body runs at every step, in order (eager torch): the
        # step counter is then kept on the host instead of computed by ops on the device.
        self.host_count = None

    @property
    def counted_every(self) -> int:
        """How many steps one count of the buffer's counter stands for: 1 where every call of
        ``record`` writes a norm (``every_n_steps`` 1, or steps picked on the host), else n."""
        return 1 if self.steps_on_host else self.every_n_steps

    def build(self, variables, capacity: int) -> None:
        """Create the device buffer for ``capacity`` steps (call under the strategy's scope)."""
        names = [_layer_name(v) for v in variables]
        self.layer_names = list(dict.fromkeys(names)) if self.per_layer else []
        self._layer_of = {id(v): self.layer_names.index(n) for v, n in zip(variables, names)
                          if self.per_layer}
        self.buffer = _make_norm_buffer(capacity, len(self.layer_names))
        self.modulus = ring_period(capacity, self.counted_every)

    def _norms(self, grads, variables, loss_scale):
        from keras import ops

        present = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not present:
            return None, None
        scale = None if loss_scale is None else ops.cast(loss_scale, "float32")
        if not self.per_layer and self.global_norm is not None:
            total = self.global_norm([g for g, _ in present])
            return (total if scale is None else total / scale), None
        squares = self.squared_norms([g for g, _ in present])
        total = ops.sqrt(ops.sum(ops.stack(squares)))
        if scale is not None:
            total = total / scale
        if not self.per_layer:
            return total, None
        if not self._layer_of:  # no buffer built: the layers are those of this step
            names = [_layer_name(v) for _, v in present]
            self.layer_names = list(dict.fromkeys(names))
            self._layer_of = {id(v): self.layer_names.index(n) for (_, v), n in zip(present, names)}
        groups = [[] for _ in self.layer_names]
        for square, (_, variable) in zip(squares, present):
            groups[self._layer_of[id(variable)]].append(square)
        zero = ops.zeros((), dtype="float32")
        per_layer = ops.sqrt(ops.stack([ops.sum(ops.stack(g)) if g else zero for g in groups]))
        return total, per_layer if scale is None else per_layer / scale

    def compute(self, grads, variables, loss_scale) -> dict:
        """The step's norms as step logs (``grad_norm`` and the private per-layer key)."""
        total, per_layer = self._norms(grads, variables, loss_scale)
        if total is None:
            return {}
        logs = {"grad_norm": total}
        if per_layer is not None:
            logs[LAYER_NORMS_KEY] = per_layer
        return logs

    def record(self, grads, variables, loss_scale) -> dict:
        """Write the step's norms into the device buffer (assigning its variables); no logs."""
        from keras import ops

        buffer = self.buffer
        if buffer is None:
            return self.compute(grads, variables, loss_scale)
        if all(g is None for g in grads):
            return {}
        capacity, every = buffer.capacity, self.every_n_steps
        layered = buffer.layer_norms is not None and self.per_layer
        if self.host_count is not None and self.write_slot is not None:
            # Eager steps (torch): the host counts the steps and skips the unmeasured ones.
            count = self.host_count + 1  # steps run, this one included
            self.host_count = count % self.modulus
            if count % every == 0:
                total, per_layer = self._norms(grads, variables, loss_scale)
                slot = (count // every - 1) % capacity
                self.write_slot(buffer.norms, slot, total)
                if layered and per_layer is not None:
                    self.write_slot(buffer.layer_norms, slot, per_layer)
            self.write_slot(buffer.norms, capacity, float(self.host_count))
            return {}
        values = buffer.norms.value
        count = values[capacity]
        layers = buffer.layer_norms.value if layered else None
        every = self.counted_every
        if every == 1:
            total, per_layer = self._norms(grads, variables, loss_scale)
            values, layers = _write_ring(values, layers, count, total, per_layer)
            new_count = count + 1.0
        else:
            step = count + 1.0
            slot = ops.floor(step / float(every)) - 1.0  # < capacity: the counter wraps at a turn

            def write():
                total, per_layer = self._norms(grads, variables, loss_scale)
                written = _write_ring(values, layers, slot, total, per_layer)
                return written if layers is not None else written[0]

            def keep():
                return (values, layers) if layers is not None else values

            written = ops.cond(ops.equal(ops.mod(step, float(every)), 0.0), write, keep)
            values, layers = written if layers is not None else (written, None)
            new_count = step
        # The counter as the ring's last element, in the same elementwise write (one fused kernel
        # on XLA, no copy of the buffer): where it reaches a full turn it starts again at 0.
        new_count = ops.where(new_count >= float(self.modulus), 0.0, new_count)
        positions = ops.arange(capacity + 1, dtype="float32")
        buffer.norms.assign(ops.where(ops.equal(positions, float(capacity)), new_count, values))
        if layers is not None:
            buffer.layer_norms.assign(layers)
        return {}


def _write_ring(values, layers, slot, total, per_layer):
    """``values`` (the ring and its counter) with ``total`` at ``slot`` (a float), and ``layers``
    with ``per_layer`` in row ``slot``: elementwise selects, which XLA fuses into one kernel each
    (a dynamic-update-slice of the counter's slot costs a slice, a copy and a remainder more)."""
    from keras import ops

    positions = ops.arange(values.shape[0], dtype="float32")
    values = ops.where(ops.equal(positions, slot), total, values)
    if layers is not None and per_layer is not None:
        rows = ops.expand_dims(ops.arange(layers.shape[0], dtype="float32"), 1)
        layers = ops.where(ops.equal(rows, slot), ops.expand_dims(per_layer, 0), layers)
    return values, layers


class GradientNormMonitor(MonitorBase):
    """Records the global gradient norm of every training step and warns when it goes wrong.

    The norm is computed inside the compiled train step, on the gradients handed to the
    optimizer: the monitor registers a gradient feature into the model's shared instrumented
    train step (see ``keras_bsguard.backends``) at ``on_train_begin`` and removes it at
    ``on_train_end``, leaving the model and its ``compile`` call untouched. It is:

    * unscaled under ``keras.optimizers.LossScaleOptimizer`` (divided by the dynamic scale);
    * under ``tf.distribute``, the norm of the gradient summed over replicas (what is applied);
    * recorded for every step, also with ``steps_per_execution > 1``.

    **Per step on the device, per window on the host.** Each step writes its norm (and, with
    ``top_k_layers``, its per-layer norms) into a small ring buffer of device variables that
    travels in the training state (a metric with no result, so nothing is added to the step's
    outputs: on JAX one more output per step cost about 14% of a small CPU step). Every ``window``
    steps the monitor copies the buffer between two steps without waiting for the device, converts
    it on Keras's callback thread, and runs the checks below on each step's norm in order; the
    steps since the last read are read at each epoch end. So the checks see every step, with the
    step number at which the condition held, but act up to one window late (``on_explode`` takes
    effect at the next read). Under BatchSizeGuard's micro-batched step the norm still comes out as
    a per-step log and is checked at each step.

    A model with its own ``train_step`` is left alone (one :class:`BSGuardWarning` says so).

    Warnings (:class:`GradientNormWarning`), each once per ``fit``:

    * a non-finite norm (under a ``LossScaleOptimizer`` only when more than half of a window is
      non-finite, since skipped steps are how dynamic loss scaling works);
    * an explosion: ``explode_patience`` consecutive norms above ``explode_factor`` x the median
      of the previous ``window`` steps and above the largest norm of the first ``window`` steps
      (late in a converging run the median is tiny and one spiky batch can reach 10x of it; a
      real explosion persists and leaves the early-training scale behind);
    * sustained growth: window medians that rose by ``explode_factor`` or more over two or more
      windows with a consistent slope (both halves of the span rising, no window falling), past
      the early-training scale. A loss weight x10 per epoch is reported within two windows,
      where a jump detector sees no single step x10 above its running median;
    * vanishing: every norm of a window below ``vanish_threshold``; and, with
      ``top_k_layers > 0``, per-layer vanishing: layers whose norm stayed ~0 (below
      ``vanish_threshold``, or 1e-7 of the largest layer's) over a whole window while other
      layers still learn (saturated sigmoids, dead ReLUs, a layer cut off from the loss).

    With ``top_k_layers > 0`` the per-layer norms are computed too: the warnings and every window
    of the event log name the ``top_k_layers`` largest layers (``layers``) and the
    ``top_k_layers`` smallest (``layers_smallest``), by their largest norm in the window.

    On an explosion or sustained growth, ``on_explode`` chooses the action: ``"warn"`` (only),
    ``"stop"`` (``model.stop_training = True``) or ``"reduce_lr"`` (multiply the learning rate
    by ``lr_factor`` before the next step; not possible with a schedule, which is then reported).

    Logs: per epoch ``grad_norm`` (median over the epoch's steps) and ``grad_norm_max``; per
    window (event log) the median, min and max of its steps and ``grad_norms``, the norm of every
    step. With ``per_step_log=True`` each batch's ``logs`` carry its own ``grad_norm`` too: the
    buffer is then read after every step, which waits for the step and makes the monitor run on
    the training thread (``async_safe`` off): a device sync per step. List it before
    ``CSVLogger``/``TensorBoard``.

    **Every n-th step** (``every_n_steps=n``, default 1): the exact norm of steps n, 2n, 3n, ...
    only; the other steps do not read their gradients, which saves the norm's pass over the
    gradients on n - 1 steps of n, for tiny steps where it is a visible share. On JAX the other
    steps run Keras's own compiled step (both steps compiled once, picked on the host at each
    step), so they cost nothing more than a plain ``fit``; on TensorFlow a conditional inside the
    compiled step skips the norm, and torch skips it on the host. Everything counted in steps
    above then counts *measured* steps: a window holds ``window`` norms (``window x n`` training
    steps, read every ``window x n`` steps), ``min_history`` and ``explode_patience`` count norms,
    and each norm is reported at its own global step (a multiple of n); the epoch figures are over
    the epoch's measured steps, and with ``per_step_log`` only the measured steps' batch logs
    carry ``grad_norm``. An explosion that lasts fewer than ``n x explode_patience`` steps can be
    missed. Under BatchSizeGuard's micro-batched step the norm is computed at every step and
    every n-th one is checked (on JAX, computed at every n-th step only).

    Args:
        explode_factor: a norm above this multiple of the running median is an explosion, and a
            rise of window medians by this factor a sustained growth (> 1).
        on_explode: ``"warn"``, ``"stop"`` or ``"reduce_lr"``.
        lr_factor: learning-rate multiplier for ``on_explode="reduce_lr"``, in (0, 1).
        vanish_threshold: a window whose every norm is below this is vanishing (>= 0).
        window: steps in the running median, in each event-log window, and between two
            reads of the device buffer (an integer >= 1).
        min_history: steps needed before explosions are judged (>= 1).
        explode_patience: consecutive exploding steps needed for the warning (and action) (>= 1).
        top_k_layers: how many layers to name, largest and smallest (>= 0; 0: no per-layer norms).
        per_step_log: put each step's ``grad_norm`` into its batch ``logs`` (see above).
        every_n_steps: compute the norm of every n-th step only (an integer >= 1; see above).
        log_dir, event_log: as for :class:`~keras_bsguard.StepTimeMonitor`.

    Example::

        import numpy as np, keras
        from keras_bsguard import GradientNormMonitor

        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile("adam", "mse")
        x, y = np.random.rand(256, 8), np.random.rand(256, 1)
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0,
                            callbacks=[GradientNormMonitor(window=4, top_k_layers=2)])
        print(history.history["grad_norm"], history.history["grad_norm_max"])

        # Every step's norm in its batch logs (a device sync per step):
        class PrintNorm(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                print(batch, logs["grad_norm"])

        model.fit(x, y, batch_size=32, epochs=1, verbose=0,
                  callbacks=[GradientNormMonitor(per_step_log=True), PrintNorm()])

        # The norm of steps 4, 8, 12, ... only, in windows of 2 norms (8 steps):
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0,
                            callbacks=[GradientNormMonitor(window=2, every_n_steps=4)])
        print(history.history["grad_norm"])  # median of the norms of steps 4 and 8, then 12, 16
    """

    monitor_name = "gradient_norm"

    def __init__(
        self,
        explode_factor: float = 10.0,
        on_explode: str = "warn",
        lr_factor: float = 0.5,
        vanish_threshold: float = 1e-8,
        window: int = 50,
        min_history: int = 10,
        explode_patience: int = 3,
        top_k_layers: int = 0,
        per_step_log: bool = False,
        log_dir: str | None = None,
        event_log=None,
        every_n_steps: int = 1,
    ):
        owner = "GradientNormMonitor"
        self.explode_factor = check_float(owner, "explode_factor", explode_factor, low=1.0,
                                          low_open=True)
        self.on_explode = check_choice(owner, "on_explode", on_explode, ("warn", "stop", "reduce_lr"))
        self.lr_factor = check_float(owner, "lr_factor", lr_factor, low=0.0, high=1.0,
                                     low_open=True, high_open=True)
        self.vanish_threshold = check_float(owner, "vanish_threshold", vanish_threshold, low=0.0)
        self.window = check_int(owner, "window", window, 1)
        self.min_history = check_int(owner, "min_history", min_history, 1)
        self.explode_patience = check_int(owner, "explode_patience", explode_patience, 1)
        self.top_k_layers = check_int(owner, "top_k_layers", top_k_layers, 0)
        self.per_step_log = check_bool(owner, "per_step_log", per_step_log)
        self.every_n_steps = check_int(owner, "every_n_steps", every_n_steps, 1)
        super().__init__(log_dir=log_dir, event_log=event_log)
        if self.per_step_log:
            # Read after every step on the training thread: Keras must call on_train_batch_end
            # there, between steps (read when it builds its CallbackList, before the fit).
            self.async_safe = False
        self._hub = None
        self._feature = None

    def get_config(self) -> dict:
        return {
            "explode_factor": self.explode_factor,
            "on_explode": self.on_explode,
            "lr_factor": self.lr_factor,
            "vanish_threshold": self.vanish_threshold,
            "window": self.window,
            "min_history": self.min_history,
            "explode_patience": self.explode_patience,
            "top_k_layers": self.top_k_layers,
            "per_step_log": self.per_step_log,
            "every_n_steps": self.every_n_steps,
            **self._base_config(),
        }

    # ------------------------------------------------------------------------- lifecycle
    def on_train_begin(self, logs=None):
        from keras.optimizers import LossScaleOptimizer

        with self._lock:
            self._step = 0
            self._history: list[float] = []
            self._window_norms: list[float] = []
            self._window_layers = None  # per-layer largest norms of the window (finite steps)
            self._window_medians: list[float] = []
            self._epoch_norms: list[float] = []
            self._pending_lr_cut = False
            self._running = None
            self._early: list[float] = []
            self._streak = 0
            self._streak_reference = math.nan
            self._early_max = -math.inf  # max(self._early), kept as it fills
            self._refresh_every = max(1, min(self.window, self.min_history) // 5)
            self._explosions = 0
            self._nonfinite = 0
            self._consumed = 0  # norms written to the device buffer at the last read (wrapped)
            self._missed = 0
        self._snapshot_lock = threading.Lock()
        self._snapshot = None
        self._read_batch = 0
        self._read_every = self.window * self.every_n_steps  # steps between two buffer reads
        self._loss_scaled = isinstance(self._model.optimizer, LossScaleOptimizer)
        adapter = get_adapter()
        self._adapter = adapter
        self._feature = GradientNormFeature(
            per_layer=self.top_k_layers > 0,
            squared_norms=getattr(adapter, "squared_norms", None),
            global_norm=getattr(adapter, "global_norm", None),
            write_slot=getattr(adapter, "write_slot", None),
            every_n_steps=self.every_n_steps,
            steps_on_host=getattr(adapter, "SCHEDULES_STEPS_ON_HOST", False),
        )
        eager = getattr(adapter, "step_runs_eagerly", None)
        if eager is not None and eager(self._model):
            self._feature.host_count = 0
        self._buffer_variables = None
        if adapter.has_default_train_step(self._model) and not adapter.unsupported_reason(
            self._model
        ):
            # Room for two reads' worth of steps, whatever steps_per_execution adds per call.
            per_call = max(1, int(getattr(self._model, "steps_per_execution", 1) or 1))
            capacity = 1 << max(4, (2 * self.window + 2 * per_call).bit_length())
            scope = getattr(adapter, "variable_scope", None)
            with scope(self._model) if scope else contextlib.nullcontext():
                self._feature.build(self._model.trainable_variables, capacity)
            buffer = self._feature.buffer
            self._buffer_variables = [buffer.norms] + (
                [buffer.layer_norms] if buffer.layer_norms is not None else []
            )
            add_state_metric(self._model, buffer)
            self._start_reads(capacity, self.every_n_steps, per_call)
        self._hub = InstrumentedTrainStep.attach(
            self._model, self, gradient_feature=self._feature
        )
        reason = self._hub.adapter.unsupported_reason(self._model)
        if self._hub.custom_train_step or reason:
            self._emit(
                BSGuardWarning,
                "GradientNormMonitor is inactive for this fit: "
                + (reason or "the model overrides train_step, so the gradients are not visible")
                + ". Try: log the norm from your own train_step.",
            )
        self._start_run(window=self.window, explode_factor=self.explode_factor,
                        every_n_steps=self.every_n_steps)

    def on_train_end(self, logs=None):
        self._read_now()
        with self._lock:
            if self._window_norms:
                self._close_window(partial=True)
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None
        if self._feature is not None and self._feature.buffer is not None:
            remove_state_metric(self._model, self._feature.buffer)
            self._buffer_variables = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin_epoch_steps()  # global step numbers of the norms that come as logs
        self._read_batch = 0
        with self._lock:
            self._epoch_norms = []

    def on_epoch_end(self, epoch, logs=None):
        # Main thread, after Keras has waited for the batch-end callbacks (and, on JAX, put the
        # state back into the variables): the steps since the last read are read now.
        self._read_now()
        if logs is None:
            return
        logs.pop(LAYER_NORMS_KEY, None)
        with self._lock:
            finite = [n for n in self._epoch_norms if math.isfinite(n)]
            logs["grad_norm"] = median(finite) if finite else (math.nan if not self._epoch_norms
                                                               else math.inf)
            logs["grad_norm_max"] = max(self._epoch_norms) if self._epoch_norms else math.nan

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending_lr_cut:
            self._pending_lr_cut = False
            self._reduce_learning_rate()
        # Main thread, between steps: every ``window`` norms, copy the device buffer (without
        # waiting for the device); the next batch-end callback converts and checks it.
        if self._buffer_variables is None or self.per_step_log:
            return
        step = self._epoch_first_step + batch
        if self._reads_fell_behind(batch):
            self._read_batch = batch
            self._read_now(step)
        elif batch - self._read_batch >= self._read_every:
            self._read_batch = batch
            snapshot = self._adapter.snapshot_variables(self._model, self._buffer_variables)
            with self._snapshot_lock:
                self._snapshot = (step, snapshot)

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_step(batch)
        if logs is not None and "grad_norm" in logs:
            # A step that returns its norm as a log (BatchSizeGuard's micro-batched step).
            layer_norms = logs.pop(LAYER_NORMS_KEY, None)
            with self._lock:
                self._note_read(step)  # this step's norm is here, not in the device buffer
            if self.every_n_steps == 1:
                self._observe_many([float(logs["grad_norm"])], [layer_norms])
            elif step % self.every_n_steps == 0:
                with self._lock:
                    self._step = step - self.every_n_steps  # _observe_many adds every_n_steps
                self._observe_many([float(logs["grad_norm"])], [layer_norms])
            else:
                del logs["grad_norm"]  # not a measured step
            return
        if self._snapshot is None:
            if self.per_step_log and self._buffer_variables is not None:
                # The training thread, right after the step (async dispatch is off for this
                # monitor): read the buffer now; its newest norm is this step's.
                latest = self._consume((self._last_step, self._adapter.snapshot_variables(
                    self._model, self._buffer_variables)))
                if latest is not None and logs is not None:
                    logs["grad_norm"] = latest
            return
        with self._snapshot_lock:
            snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            self._consume(snapshot)

    # ------------------------------------------------------------------- device buffer reads
    def _read_now(self, step: int | None = None) -> None:
        """Read the device buffer on this (the training) thread: at epoch and fit end, and when
        the reads on Keras's worker threads fell behind."""
        if self._buffer_variables is None:
            return
        with self._snapshot_lock:
            self._snapshot = None
        self._consume((self._last_step if step is None else step,
                       self._adapter.snapshot_variables(self._model, self._buffer_variables)))

    def _consume(self, snapshot) -> float | None:
        """Check the norms a buffer snapshot (the global steps run when it was taken, and the
        device copies) holds beyond the last read; returns the latest."""
        from keras import ops

        step, copies = snapshot
        arrays = [ops.convert_to_numpy(a) for a in copies]  # waits for the device, off-thread
        ring = arrays[0]
        capacity = len(ring) - 1
        # The next slot to write (the norms written so far, wrapped at a turn of the ring).
        # Reads come at least every ``window`` norms and the ring holds twice that and more, so
        # fewer than half a turn is new; more means an older snapshot read late on another thread.
        written = int(ring[capacity]) // self._feature.counted_every
        layers = arrays[1] if len(arrays) > 1 else None
        with self._lock:
            new = (written - self._consumed) % capacity
            # An older snapshot, converted late on another thread than a newer one.
            if step < self._read_step or new > capacity // 2:
                return None
            self._note_read(step)
            if new == 0:
                return None
            first = self._consumed
            self._consumed = written
            slots = [(first + k) % capacity for k in range(new)]
            values = ring.tolist()
            norms = [values[slot] for slot in slots]
            self._observe_many(norms, None if layers is None else [layers[slot] for slot in slots])
            return norms[-1]

    # -------------------------------------------------------------------------- per step
    def _observe_many(self, norms: list, layer_rows=None) -> None:
        """The checks of consecutive measured steps' norms, in step order (one lock for all of
        them: they arrive a window at a time). ``layer_rows``: their per-layer norms, or None."""
        isfinite = math.isfinite
        every, window, factor = self.every_n_steps, self.window, self.explode_factor
        with self._lock:
            history, early = self._history, self._early
            for index, norm in enumerate(norms):
                layer_norms = None if layer_rows is None else layer_rows[index]
                self._step += every
                step = self._step
                # The reference median is refreshed every few steps, not every step: sorting a
                # window per step would cost more than the rest of the monitor.
                if self._running is None or (step // every) % self._refresh_every == 0:
                    self._running = median(history[-window:])
                running, enough = self._running, len(history) >= self.min_history
                finite = isfinite(norm)
                if finite and len(early) < window:
                    early.append(norm)
                    self._early_max = max(self._early_max, norm)
                early_max = self._early_max if early else math.inf
                history.append(norm)
                if len(history) > 4 * window:
                    del history[:-window]
                self._window_norms.append(norm)
                self._epoch_norms.append(norm)
                if layer_norms is not None and finite:
                    values = np.asarray(layer_norms, dtype="float64").reshape(-1)
                    self._window_layers = (values if self._window_layers is None
                                           else np.maximum(self._window_layers, values))
                if not finite:
                    self._on_nonfinite(step, norm, layer_norms)
                elif enough and isfinite(running) and running > 0:
                    # An explosion is ``explode_patience`` consecutive steps above both
                    # ``explode_factor`` x the running median (as it was when the streak began)
                    # and the largest norm of the first window. One spiky batch is not an
                    # explosion; late in a converging run the median is tiny and benign spikes
                    # reach 10x of it, while a real explosion leaves the early scale behind.
                    reference = self._streak_reference if self._streak else running
                    if norm > factor * reference and norm > early_max:
                        self._streak += 1
                        self._streak_reference = reference
                        if self._streak == self.explode_patience:
                            self._on_explosion(step, norm, reference, layer_norms)
                    else:
                        self._streak = 0
                if len(self._window_norms) >= window:
                    self._close_window()

    def _observe(self, norm: float, layer_norms) -> None:
        """The checks of one measured step's norm."""
        self._observe_many([norm], [layer_norms])

    # --------------------------------------------------------------------------- checks
    def _steps(self, count: int) -> str:
        """``"50 steps"``, or with ``every_n_steps > 1`` ``"50 measured steps (every 4th)"``."""
        if self.every_n_steps == 1:
            return f"{count} steps"
        return f"{count} measured steps (every {_ordinal(self.every_n_steps)})"

    def _top_layers(self, layer_norms, smallest: bool = False) -> dict:
        if layer_norms is None or not self._feature.layer_names:
            return {}
        values = [float(v) for v in np.asarray(layer_norms, dtype="float64").reshape(-1)]
        return ranked_layers(self._feature.layer_names, values, self.top_k_layers, smallest)

    def _on_nonfinite(self, step, norm, layer_norms) -> None:
        with self._lock:
            self._nonfinite += 1
        if self._loss_scaled:
            return  # judged per window: skipped steps are normal under dynamic loss scaling
        layers = self._top_layers(layer_norms)
        self._warn_once(
            "nonfinite", GradientNormWarning, step, f"The gradient norm is {norm}.",
            f"grad_norm={norm} at step {step}; median of the previous steps "
            f"{median(self._history[-self.window - 1 : -1]):.4g}"
            + (f"; largest layers {_fmt_layers(layers)}" if layers else ""),
            ["log/exp/sqrt/division of a value reaching 0 or overflowing in the loss or a layer",
             "a learning rate too high for this batch size", "float16 without loss scaling",
             "NaN or inf in the input data"],
            ["run `bsguard lint` on the loss", "check the inputs with np.isfinite",
             "lower the learning rate or clip gradients (clipnorm=1.0)",
             "use mixed_bfloat16 or a LossScaleOptimizer"],
            grad_norm=norm, layers=layers,
        )

    def _on_explosion(self, step, norm, running, layer_norms) -> None:
        with self._lock:
            self._explosions += 1
        layers = self._top_layers(layer_norms)
        action = {"warn": "none", "stop": "training stopped",
                  "reduce_lr": f"learning rate x{self.lr_factor} before the next step"}
        self._warn_once(
            "explosion", GradientNormWarning, step,
            f"The gradient norm exploded: {norm:.4g} is {norm / running:.1f}x the running median.",
            f"grad_norm={norm:.4g} at step {step}, median of the previous "
            f"{self._steps(min(self.window, len(self._history) - 1))} {running:.4g}, explode factor "
            f"{self.explode_factor}; action: {action[self.on_explode]}"
            + (f"; largest layers {_fmt_layers(layers)}" if layers else ""),
            ["a loss whose scale grows (a weight or term that increases during training)",
             "a learning rate too high (or warm-up ending)", "outliers or a bad batch in the data",
             "an unstable op in the loss (exp, pow, division)"],
            ["clip gradients (optimizer clipnorm=1.0 or global_clipnorm)",
             "lower the learning rate or lengthen warm-up", "inspect the batch at this step",
             "GradientNormMonitor(on_explode='reduce_lr' or 'stop')"],
            grad_norm=norm, running_median=running, layers=layers,
        )
        self._act()

    def _act(self) -> None:
        """``on_explode``'s action (explosion or sustained growth)."""
        if self.on_explode == "stop":
            self._model.stop_training = True
        elif self.on_explode == "reduce_lr":
            self._pending_lr_cut = True

    def _reduce_learning_rate(self) -> None:
        # Main thread, between steps. ``self.model`` (not ``_model``) on purpose: on JAX it syncs
        # the training state into the variables so the new value is read by the next step.
        optimizer = self.model.optimizer
        try:
            current = float(optimizer.learning_rate)
            optimizer.learning_rate = current * self.lr_factor
        except (TypeError, ValueError, AttributeError) as error:
            self._emit(GradientNormWarning, f"on_explode='reduce_lr' could not change the learning "
                 f"rate ({error}); it is probably a schedule. Try: on_explode='stop'.")
            return
        self._event("reduce_lr", self._step, f"learning rate {current:.4g} -> "
                    f"{current * self.lr_factor:.4g}", learning_rate=current * self.lr_factor)

    def _close_window(self, partial: bool = False) -> None:
        norms = self._window_norms
        finite = [n for n in norms if math.isfinite(n)]
        nonfinite = len(norms) - len(finite)
        window_layers = self._window_layers
        layers = self._top_layers(window_layers)
        self._window_record(
            self._step, steps=len(norms), partial=partial,
            grad_norm=median(finite) if finite else math.nan,
            grad_norm_max=max(finite) if finite else math.nan,
            grad_norm_min=min(finite) if finite else math.nan,
            nonfinite=nonfinite, layers=layers,
            layers_smallest=self._top_layers(window_layers, smallest=True), grad_norms=list(norms),
        )
        self._window_norms, self._window_layers = [], None
        if partial:
            return
        self._window_medians.append(median(finite) if finite else math.nan)
        self._check_growth(layers)
        if finite and len(finite) == len(norms) and window_layers is not None:
            self._check_layer_vanishing(len(norms), window_layers)
        if self._loss_scaled and nonfinite * 2 > len(norms):
            self._warn_once(
                "nonfinite", GradientNormWarning, self._step,
                "Most gradient norms of a window are non-finite despite loss scaling.",
                f"{nonfinite} of {self._steps(len(norms))} non-finite (each is a skipped update)",
                ["the loss itself overflows or is NaN, not only its float16 gradients"],
                ["check the loss for log(0)/division by zero", "try mixed_bfloat16"],
                nonfinite=nonfinite,
            )
        if finite and len(finite) == len(norms) and max(finite) < self.vanish_threshold:
            self._warn_once(
                "vanishing", GradientNormWarning, self._step,
                "The gradients vanished: the model has stopped learning.",
                f"every gradient norm of the last {self._steps(len(norms))} is below "
                f"{self.vanish_threshold:g} (max {max(finite):.3g})"
                + (f"; largest layers {_fmt_layers(layers)}" if layers else ""),
                ["saturated activations (sigmoid/tanh) or dead ReLUs",
                 "a loss with a zero-gradient region (clip, round, argmax: `bsguard lint`)",
                 "a learning rate that drove weights into a flat region"],
                ["check which layers are near zero (top_k_layers)", "use ReLU variants or "
                 "normalization", "run `bsguard lint` on the loss"],
            )

    # ----------------------------------------------------------------------- window checks
    def _check_growth(self, layers: dict) -> None:
        """Sustained growth of the window medians, past the early-training scale."""
        found = sustained_growth(self._window_medians, self.explode_factor)
        early_max = max(self._early) if self._early else math.inf
        if found is None or not self._window_medians[-1] > early_max:
            return
        span, growth = found
        medians = ", ".join(f"{m:.3g}" for m in self._window_medians[-span - 1:])
        action = {"warn": "none", "stop": "training stopped",
                  "reduce_lr": f"learning rate x{self.lr_factor} before the next step"}
        if self._warn_once(
            "growth", GradientNormWarning, self._step,
            f"The gradient norm grows steadily: x{growth:.3g} over the last {span} windows "
            f"({span * self.window * self.every_n_steps} steps).",
            f"window medians {medians} (windows of {self._steps(self.window)}), above the largest norm "
            f"of the first window ({early_max:.4g}); growth factor {self.explode_factor}; action: "
            f"{action[self.on_explode]}" + (f"; largest layers {_fmt_layers(layers)}" if layers else ""),
            ["a loss weight or term that grows during training (a schedule, a weight multiplied "
             "each epoch)", "a learning rate too high for the current loss scale: divergence in "
             "slow motion", "inputs or labels whose scale drifts (unnormalized data)"],
            ["clip gradients (optimizer clipnorm=1.0 or global_clipnorm)",
             "check schedules that change loss weights or the learning rate",
             "GradientNormMonitor(on_explode='reduce_lr' or 'stop')"],
            growth=growth, windows=span, medians=self._window_medians[-span - 1:], layers=layers,
        ):
            self._act()

    def _check_layer_vanishing(self, steps: int, window_layers) -> None:
        names = self._feature.layer_names
        values = [float(v) for v in window_layers]
        vanished = vanished_layers(names, values, self.vanish_threshold)
        if not vanished:
            return
        alive = {n: v for n, v in ranked_layers(names, values, max(1, self.top_k_layers)).items()
                 if n not in vanished}
        self._warn_once(
            "layer_vanishing", GradientNormWarning, self._step,
            f"The gradients vanished in {len(vanished)} of {len(names)} layers while the others "
            f"still learn.",
            f"largest norm of each over the last {self._steps(steps)}: "
            + _fmt_layers({n: v for n, v in zip(names, values) if n in vanished})
            + f"; learning layers {_fmt_layers(alive)}",
            ["saturated sigmoid/tanh units (their gradient is exactly 0 once saturated)",
             "dead ReLUs (every unit's input negative)",
             "a layer cut off from the loss (stop_gradient, an unused branch, an integer cast)"],
            ["check the activation ranges of those layers", "use ReLU variants, or normalization "
             "before saturating activations", "lower the learning rate that drove them into "
             "saturation", "check that the layer's output reaches the loss"],
            layers=vanished,
        )


def _ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fmt_layers(layers: dict) -> str:
    return ", ".join(f"{name}={value:.3g}" for name, value in layers.items())
