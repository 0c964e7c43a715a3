"""``GradientNormMonitor``: the global gradient norm of every step, computed inside the step."""

from __future__ import annotations

import math

from keras_bsguard._monitor_base import MonitorBase, median
from keras_bsguard.backends import InstrumentedTrainStep, get_adapter
from keras_bsguard.warnings import BSGuardWarning, GradientNormWarning, emit

# Private logs key carrying the per-layer norms out of the step; popped by the monitor.
LAYER_NORMS_KEY = "_bsguard_layer_grad_norms"


def _layer_name(variable) -> str:
    path = getattr(variable, "path", None) or getattr(variable, "name", "?")
    return path.rsplit("/", 1)[0] if "/" in path else path


def _squared_norms(grads) -> list:
    from keras import ops

    return [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]


class GradientNormFeature:
    """Gradient feature of the instrumented train step: global (and per-layer) gradient norms.

    ``compute`` runs inside the traced step on the gradients the optimizer is about to apply.
    Under a ``LossScaleOptimizer`` those are scaled by the dynamic loss scale; the norm is divided
    by it. Squares are summed in float32 whatever the gradients' dtype.
    """

    def __init__(self, per_layer: bool, squared_norms=None):
        self.per_layer = per_layer
        # Backend fast path (torch eager: one fused call instead of three ops per variable).
        self.squared_norms = squared_norms or _squared_norms
        self.layer_names: list[str] = []

    def compute(self, grads, variables, loss_scale) -> dict:
        from keras import ops

        present = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not present:
            return {}
        squares = self.squared_norms([g for g, _ in present])
        names = [_layer_name(v) for _, v in present]
        scale = None if loss_scale is None else ops.cast(loss_scale, "float32")
        total = ops.sqrt(ops.sum(ops.stack(squares)))
        logs = {"grad_norm": total if scale is None else total / scale}
        if self.per_layer:
            order = list(dict.fromkeys(names))
            self.layer_names = order
            per_layer = ops.sqrt(
                ops.stack(
                    [ops.sum(ops.stack([s for s, n in zip(squares, names) if n == layer]))
                     for layer in order]
                )
            )
            logs[LAYER_NORMS_KEY] = per_layer if scale is None else per_layer / scale
        return logs


class GradientNormMonitor(MonitorBase):
    """Records the global gradient norm of every training step and warns when it goes wrong.

    The norm is computed inside the compiled train step, on the gradients handed to the
    optimizer: the monitor registers a gradient feature into the model's shared instrumented
    train step (see ``keras_bsguard.backends``) at ``on_train_begin`` and removes it at
    ``on_train_end``, leaving the model and its ``compile`` call untouched. It is:

    * unscaled under ``keras.optimizers.LossScaleOptimizer`` (divided by the dynamic scale);
    * under ``tf.distribute``, the norm of the gradient summed over replicas (what is applied);
    * with ``steps_per_execution > 1``, the norm of the *last* step of each execution (Keras hands
      callbacks one set of logs per execution).

    A model with its own ``train_step`` is left alone (one :class:`BSGuardWarning` says so).

    Warnings (:class:`GradientNormWarning`): a non-finite norm (under a ``LossScaleOptimizer``
    only when more than half of a window is non-finite, since skipped steps are how dynamic loss
    scaling works); an explosion, ``explode_patience`` consecutive norms above ``explode_factor`` x
    the median of the previous ``window`` steps and above the largest norm of the first
    ``window`` steps (late in a converging run the median is tiny and one spiky batch can reach
    10x of it; a real explosion persists and leaves the early-training scale behind); vanishing, every norm of a window below ``vanish_threshold``. With
    ``top_k_layers > 0`` the per-layer norms are computed too and the warnings and event log name
    the ``top_k_layers`` largest.

    On an explosion, ``on_explode`` chooses the action: ``"warn"`` (only), ``"stop"``
    (``model.stop_training = True``) or ``"reduce_lr"`` (multiply the learning rate by
    ``lr_factor`` before the next step; not possible with a schedule, which is then reported).

    Logs: per batch ``grad_norm`` (from the step); per epoch ``grad_norm`` (median over the
    epoch) and ``grad_norm_max``. List it before ``CSVLogger``/``TensorBoard``.

    Args:
        explode_factor: a norm above this multiple of the running median is an explosion.
        on_explode: ``"warn"``, ``"stop"`` or ``"reduce_lr"``.
        lr_factor: learning-rate multiplier for ``on_explode="reduce_lr"``.
        vanish_threshold: a window whose every norm is below this is vanishing.
        window: steps in the running median and in each event-log window.
        min_history: steps needed before explosions are judged.
        explode_patience: consecutive exploding steps needed for the warning (and action).
        top_k_layers: how many layers to name (0: no per-layer norms).
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
        log_dir: str | None = None,
        event_log=None,
    ):
        super().__init__(log_dir=log_dir, event_log=event_log)
        if on_explode not in ("warn", "stop", "reduce_lr"):
            raise ValueError(f"on_explode must be 'warn', 'stop' or 'reduce_lr', got {on_explode!r}")
        if explode_factor <= 1.0:
            raise ValueError(f"explode_factor must be > 1, got {explode_factor}")
        self.explode_factor = float(explode_factor)
        self.on_explode = on_explode
        self.lr_factor = float(lr_factor)
        self.vanish_threshold = float(vanish_threshold)
        self.window = int(window)
        self.min_history = int(min_history)
        self.explode_patience = max(1, int(explode_patience))
        self.top_k_layers = int(top_k_layers)
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
            **self._base_config(),
        }

    # ------------------------------------------------------------------------- lifecycle
    def on_train_begin(self, logs=None):
        from keras.optimizers import LossScaleOptimizer

        with self._lock:
            self._step = 0
            self._history: list[float] = []
            self._window_norms: list[float] = []
            self._window_layers = None
            self._epoch_norms: list[float] = []
            self._pending_lr_cut = False
            self._running = None
            self._early: list[float] = []
            self._streak = 0
            self._streak_reference = math.nan
            self._refresh_every = max(1, min(self.window, self.min_history) // 5)
            self._explosions = 0
            self._nonfinite = 0
        self._loss_scaled = isinstance(self._model.optimizer, LossScaleOptimizer)
        adapter = get_adapter()
        self._feature = GradientNormFeature(
            per_layer=self.top_k_layers > 0,
            squared_norms=getattr(adapter, "squared_norms", None),
        )
        self._hub = InstrumentedTrainStep.attach(
            self._model, self, gradient_feature=self._feature
        )
        reason = self._hub.adapter.unsupported_reason(self._model)
        if self._hub.custom_train_step or reason:
            emit(
                BSGuardWarning,
                "GradientNormMonitor is inactive for this fit: "
                + (reason or "the model overrides train_step, so the gradients are not visible")
                + ". Try: log the norm from your own train_step.",
            )
        self._start_run(window=self.window, explode_factor=self.explode_factor)

    def on_train_end(self, logs=None):
        with self._lock:
            if self._window_norms:
                self._close_window(partial=True)
        if self._hub is not None:
            self._hub.detach(self)
            self._hub = None

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            self._epoch_norms = []

    def on_epoch_end(self, epoch, logs=None):
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

    def on_train_batch_end(self, batch, logs=None):
        if logs is None or "grad_norm" not in logs:
            return
        layer_norms = logs.pop(LAYER_NORMS_KEY, None)
        norm = float(logs["grad_norm"])
        with self._lock:
            self._step += 1
            step = self._step
            # The reference median is refreshed every few steps, not every step: sorting a
            # window per step would cost more than the rest of the monitor.
            if self._running is None or step % self._refresh_every == 0:
                self._running = median(self._history[-self.window :])
            running, enough = self._running, len(self._history) >= self.min_history
            if len(self._early) < self.window and math.isfinite(norm):
                self._early.append(norm)
            early_max = max(self._early) if self._early else math.inf
            self._history.append(norm)
            if len(self._history) > 4 * self.window:
                del self._history[: -self.window]
            self._window_norms.append(norm)
            self._epoch_norms.append(norm)
            if layer_norms is not None:
                self._window_layers = layer_norms
        if not math.isfinite(norm):
            self._on_nonfinite(step, norm, layer_norms)
        elif enough and math.isfinite(running) and running > 0:
            self._check_explosion(step, norm, running, early_max, layer_norms)
        with self._lock:
            if len(self._window_norms) >= self.window:
                self._close_window()

    # --------------------------------------------------------------------------- checks
    def _check_explosion(self, step, norm, running, early_max, layer_norms) -> None:
        """An explosion is ``explode_patience`` consecutive steps above both ``explode_factor`` x
        the running median (as it was when the streak began) and the largest norm of the first
        window. One spiky batch is not an explosion; late in a converging run the median is tiny
        and benign spikes reach 10x of it, while a real explosion leaves the early scale behind."""
        with self._lock:
            reference = self._streak_reference if self._streak else running
            if norm > self.explode_factor * reference and norm > early_max:
                self._streak += 1
                self._streak_reference = reference
            else:
                self._streak = 0
            exploded = self._streak == self.explode_patience
        if exploded:
            self._on_explosion(step, norm, reference, layer_norms)

    def _top_layers(self, layer_norms) -> dict:
        if layer_norms is None or not self._feature.layer_names:
            return {}
        values = [float(v) for v in list(layer_norms)]
        pairs = sorted(zip(self._feature.layer_names, values), key=lambda p: -_sort_key(p[1]))
        return dict(pairs[: self.top_k_layers])

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
            f"{min(self.window, len(self._history) - 1)} steps {running:.4g}, explode factor "
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
            emit(GradientNormWarning, f"on_explode='reduce_lr' could not change the learning "
                 f"rate ({error}); it is probably a schedule. Try: on_explode='stop'.")
            return
        self._event("reduce_lr", self._step, f"learning rate {current:.4g} -> "
                    f"{current * self.lr_factor:.4g}", learning_rate=current * self.lr_factor)

    def _close_window(self, partial: bool = False) -> None:
        norms = self._window_norms
        finite = [n for n in norms if math.isfinite(n)]
        nonfinite = len(norms) - len(finite)
        layers = self._top_layers(self._window_layers)
        self._window_record(
            self._step, steps=len(norms), partial=partial,
            grad_norm=median(finite) if finite else math.nan,
            grad_norm_max=max(finite) if finite else math.nan,
            grad_norm_min=min(finite) if finite else math.nan,
            nonfinite=nonfinite, layers=layers,
        )
        self._window_norms, self._window_layers = [], None
        if partial:
            return
        if self._loss_scaled and nonfinite * 2 > len(norms):
            self._warn_once(
                "nonfinite", GradientNormWarning, self._step,
                "Most gradient norms of a window are non-finite despite loss scaling.",
                f"{nonfinite} of {len(norms)} steps non-finite (each is a skipped update)",
                ["the loss itself overflows or is NaN, not only its float16 gradients"],
                ["check the loss for log(0)/division by zero", "try mixed_bfloat16"],
                nonfinite=nonfinite,
            )
        if finite and len(finite) == len(norms) and max(finite) < self.vanish_threshold:
            self._warn_once(
                "vanishing", GradientNormWarning, self._step,
                "The gradients vanished: the model has stopped learning.",
                f"every gradient norm of the last {len(norms)} steps is below "
                f"{self.vanish_threshold:g} (max {max(finite):.3g})"
                + (f"; largest layers {_fmt_layers(layers)}" if layers else ""),
                ["saturated activations (sigmoid/tanh) or dead ReLUs",
                 "a loss with a zero-gradient region (clip, round, argmax: `bsguard lint`)",
                 "a learning rate that drove weights into a flat region"],
                ["check which layers are near zero (top_k_layers)", "use ReLU variants or "
                 "normalization", "run `bsguard lint` on the loss"],
            )


def _sort_key(value: float) -> float:
    return value if math.isfinite(value) else float("inf")


def _fmt_layers(layers: dict) -> str:
    return ", ".join(f"{name}={value:.3g}" for name, value in layers.items())
