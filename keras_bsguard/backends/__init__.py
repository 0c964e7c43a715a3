"""Backend adapters and the one instrumented train step that every runtime feature shares.

Why one shared step: several features need to see inside the compiled train step (the gradient
norm now; splitting a batch into micro-batches in ``BatchSizeGuard`` next). Two callbacks each
overriding ``train_step`` would fight; instead each model gets one :class:`InstrumentedTrainStep`
(created on first :meth:`InstrumentedTrainStep.attach`, removed on the last ``detach``), and
features register into it:

* **gradient features** (``compute(grads, variables, loss_scale) -> dict``) run inside the
  compiled step between the gradient computation and ``optimizer.apply``; their tensors leave the
  step through the step's ``logs``. (A future *gradient source*, e.g. micro-batching, would replace
  the gradient computation stage of the same step; the adapters keep that stage in one place.)
* **step observers** (``before_call``, ``data_ready``, ``after_call``) are told, on the host, when
  each call of ``model.train_function`` starts, when its batch arrived and when it returned, and
  how many compilations happened inside it. The hub wraps ``model.train_function`` (a public
  attribute of every Keras trainer) once, and re-wraps it if something rebuilds it mid-fit.

Every private Keras attribute is touched only in the three adapter modules
(``jax_adapter``, ``tensorflow_adapter``, ``torch_adapter``), each checked against keras 3.15.1.
"""

from __future__ import annotations

import importlib
import threading
import time
from types import ModuleType

_ADAPTER_MODULES = {
    "jax": "keras_bsguard.backends.jax_adapter",
    "tensorflow": "keras_bsguard.backends.tensorflow_adapter",
    "torch": "keras_bsguard.backends.torch_adapter",
}

# Name of the attribute that holds a model's hub (set with object.__setattr__ so Keras's attribute
# tracking never sees it).
_HUB_ATTRIBUTE = "_bsguard_instrumented_step"


def get_adapter(backend_name: str | None = None) -> ModuleType:
    """The adapter module for ``backend_name`` (default: ``keras.backend.backend()``)."""
    if backend_name is None:
        import keras

        backend_name = keras.backend.backend()
    module_name = _ADAPTER_MODULES.get(backend_name)
    if module_name is None:
        raise NotImplementedError(
            f"keras-bsguard's runtime monitors support the jax, tensorflow and torch backends, "
            f"not {backend_name!r}."
        )
    return importlib.import_module(module_name)


def shape_signature(data) -> tuple:
    """Shapes (as tuples, ``None`` for unknown dims) of every array in a batch structure."""
    import keras

    shapes = []
    for leaf in keras.tree.flatten(data):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            shapes.append(("py", type(leaf).__name__))
            continue
        shapes.append(tuple(d if isinstance(d, int) or d is None else _static_dim(d) for d in shape))
    return tuple(shapes)


def _static_dim(dim):
    try:
        return int(dim)
    except (TypeError, ValueError):
        return None


class InstrumentedTrainStep:
    """The per-model hub: one train-step override and one ``train_function`` wrapper.

    Use :meth:`attach` / :meth:`detach`; never construct directly.
    """

    def __init__(self, model):
        self.model = model
        self.adapter = get_adapter()
        self._lock = threading.Lock()
        self._owners: dict[int, dict] = {}
        # Snapshots of the owners' features and observers, rebuilt when an owner comes or goes:
        # the per-call path reads them without taking the lock or building a list.
        self._features: tuple = ()
        self._observers: tuple = ()
        # One entry per trace of the train step: the input shapes it was traced for.
        self.trace_signatures: list[tuple] = []
        self._wrapper = None
        self._compile_counter = None
        self.custom_train_step = not self.adapter.has_default_train_step(model)
        # BatchSizeGuard's controls: how many micro-batches the step splits its batch into, and
        # whether they accumulate one update ("accumulate") or each make their own ("sequential").
        self.micro_batches = 1
        self.micro_mode = "accumulate"
        self._call_guard = None

    # ----------------------------------------------------------------------------- lifecycle
    @classmethod
    def attach(cls, model, owner, gradient_feature=None, observer=None, call_guard=None) -> InstrumentedTrainStep:
        """Register ``owner``'s feature and/or observer on ``model``; rebuild the train function.

        ``call_guard`` (one per model: ``BatchSizeGuard``) is asked, when an exception leaves the
        train function, whether to re-run the same batch (``on_step_error(error, batch_size)``);
        while one is attached, JAX builds the step without donating the training state.
        """
        hub = model.__dict__.get(_HUB_ATTRIBUTE)
        if hub is None:
            hub = cls(model)
            object.__setattr__(model, _HUB_ATTRIBUTE, hub)
            hub.adapter.install_train_step(model, hub)
            hub._compile_counter = hub.adapter.start_compile_counter(model, hub)
        with hub._lock:
            hub._owners[id(owner)] = {"gradient_feature": gradient_feature, "observer": observer}
            hub._refresh_owners()
            if call_guard is not None:
                hub._call_guard = call_guard
        hub.rebuild()
        return hub

    def detach(self, owner) -> None:
        """Remove ``owner``; the last one out restores the model exactly as it was."""
        with self._lock:
            self._owners.pop(id(owner), None)
            self._refresh_owners()
            remaining = bool(self._owners)
            guard_left = self._call_guard is owner
            if guard_left:
                self._call_guard = None
                self.micro_batches, self.micro_mode = 1, "accumulate"
        if remaining:
            if guard_left:
                self.rebuild()  # back to the plain (donating) step for the monitors that remain
            return
        self.adapter.stop_compile_counter(self._compile_counter)
        self.adapter.uninstall_train_step(self.model)
        # Keras rebuilds its own train function on the next fit (make_train_function is lazy).
        self.adapter.reset_train_function(self.model)
        self.model.__dict__.pop(_HUB_ATTRIBUTE, None)

    def _refresh_owners(self) -> None:
        """Recompute the feature and observer snapshots (call with the lock held)."""
        owners = list(self._owners.values())
        self._features = tuple(o["gradient_feature"] for o in owners if o["gradient_feature"])
        self._observers = tuple(o["observer"] for o in owners if o["observer"])

    def rebuild(self) -> None:
        """Rebuild ``model.train_function`` so that it traces the current set of features."""
        self._wrapper = None
        self.adapter.rebuild_train_function(self.model, keep_state=self._call_guard is not None)
        self.ensure_wrapped()

    @property
    def needs_instrumented_step(self) -> bool:
        """Whether the default step must be replaced by the adapter's instrumented one."""
        return self.micro_batches > 1 or bool(self.gradient_features)

    def set_micro_batches(self, count: int, mode: str = "accumulate", rebuild: bool = True) -> None:
        """Split each batch into ``count`` micro-batches from the next call on (retraces the step)."""
        changed = (count, mode) != (self.micro_batches, self.micro_mode)
        self.micro_batches, self.micro_mode = int(count), mode
        if changed and rebuild:
            self.rebuild()

    def _call_guarded(self, train_function, args):
        """Call the train function; on an error the guard accepts, re-run the same batch."""
        guard = self._call_guard
        if guard is None:
            return train_function(*args)
        call = self.adapter.record_call(self.model, args)
        args = call.args
        while True:
            try:
                outputs = train_function(*args)
                # Surface an asynchronous failure here, while the call can still be re-run.
                self.adapter.wait_for(outputs)
                guard.observe_batch(call.batch_size())
                return outputs
            except StopIteration:
                raise
            except Exception as error:  # noqa: BLE001 - the guard decides; anything else re-raises
                if not guard.on_step_error(error, call):
                    raise
                self.adapter.release_memory(self.model)
                if self._wrapper is None or getattr(self._wrapper, "__wrapped__", None) is None:
                    self.rebuild()
                train_function = self._wrapper.__wrapped__
                args = call.replay()

    # ----------------------------------------------------------------------- inside the step
    @property
    def gradient_features(self) -> tuple:
        return self._features

    def gradient_logs(self, grads, variables, loss_scale) -> dict:
        """Called by the adapter inside the traced step with the (scaled) gradients; every
        feature returns its figures as step logs (``compute``)."""
        logs = {}
        for feature in self.gradient_features:
            logs.update(feature.compute(grads, variables, loss_scale))
        return logs

    def gradient_records(self, grads, variables, loss_scale) -> dict:
        """Like :meth:`gradient_logs`, for the default instrumented step: a feature with a
        ``record`` method writes its figures into its own device-side variables (a metric
        registered with :func:`add_state_metric`, so they travel in the step's state) instead of
        returning a step log per step. On JAX the adapter calls this inside a ``StatelessScope``
        over the metrics variables. Returns the logs of the features without ``record``."""
        logs = {}
        for feature in self.gradient_features:
            record = getattr(feature, "record", None)
            logs.update(record(grads, variables, loss_scale) if record is not None
                        else feature.compute(grads, variables, loss_scale))
        return logs

    def record_trace(self, data) -> None:
        """Called by the adapter when the step's Python body runs under a tracer."""
        with self._lock:
            self.trace_signatures.append(shape_signature(data))

    def compile_count(self) -> int:
        return self._compile_counter.count if self._compile_counter is not None else 0

    # ------------------------------------------------------------------ around each call
    def ensure_wrapped(self) -> bool:
        """(Re)wrap ``model.train_function``; True when it had been rebuilt by someone else."""
        current = self.model.train_function
        if current is not None and current is self._wrapper:
            return False
        was_rebuilt = self._wrapper is not None
        if current is None:
            self.adapter.rebuild_train_function(self.model)
            current = self.model.train_function
        self._wrapper = self._wrap(current)
        self.model.train_function = self._wrapper
        return was_rebuilt

    def _wrap(self, train_function):
        hub = self
        adapter = self.adapter
        model = self.model

        def on_data(wait_seconds, ready_time):
            for observer in hub._observers:
                observer.data_ready(wait_seconds, ready_time)

        def bsguard_train_function(*args):
            observers = hub._observers
            if not observers:
                return hub._call_guarded(train_function, args)
            start = time.perf_counter()
            compiles_before = hub.compile_count()
            for observer in observers:
                observer.before_call(start)
            args = adapter.wrap_data_source(model, args, on_data)
            finished = False
            try:
                outputs = hub._call_guarded(train_function, args)
                finished = True
                return outputs
            finally:
                end = time.perf_counter()
                compiles = hub.compile_count() - compiles_before
                for observer in observers:
                    observer.after_call(end, compiles, finished)

        bsguard_train_function.__wrapped__ = train_function
        return bsguard_train_function


# ------------------------------------------------------------- device-side gradient figures

def add_state_metric(model, metric) -> None:
    """Make ``metric``'s variables part of the training state (``model.metrics_variables``).

    Keras carries every metric variable through the train step (on JAX, as the state's
    ``metrics_variables``), so a metric is how a gradient feature keeps figures on the device
    between steps. It is appended to the model's private metric list (never serialized: the
    saving code skips ``_metrics``); its ``result()`` must be ``{}`` so it adds nothing to logs.
    """
    if all(existing is not metric for existing in model._metrics):
        model._metrics.append(metric)


def remove_state_metric(model, metric) -> None:
    model._metrics[:] = [existing for existing in model._metrics if existing is not metric]


# ---------------------------------------------------------------------- micro-batching helpers

def leading_dim(structure) -> int | None:
    """The batch size of a batch structure: the first dimension of its first array."""
    import keras

    for leaf in keras.tree.flatten(structure):
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) > 0:
            return _static_dim(shape[0])
    return None


def micro_batch_bounds(batch_size: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous, balanced, non-empty slices of ``range(batch_size)``.

    >>> micro_batch_bounds(10, 4)
    [(0, 2), (2, 5), (5, 7), (7, 10)]
    """
    count = max(1, min(count, batch_size))
    return [((i * batch_size) // count, ((i + 1) * batch_size) // count) for i in range(count)]


class CallRecord:
    """One call of the train function, kept so that it can be re-run exactly.

    ``args`` are the arguments to call with (batches recorded as they are pulled), ``replay()``
    the arguments for a re-run, ``batch_size()`` the size of the call's first batch, and
    ``scale_variable(variable, factor)`` multiplies a model/optimizer variable in the state the
    re-run will use (on JAX the live values travel in the call's state, not in the variables).
    """

    def __init__(self, args, replay, batch_size, scale_variable):
        self.args = args
        self.replay = replay
        self.batch_size = batch_size
        self.scale_variable = scale_variable


def scale_variable_in_place(variable, factor: float):
    """``variable *= factor`` for backends whose variables hold the live value (TF, torch)."""
    import keras

    old = float(keras.ops.convert_to_numpy(variable.value))
    variable.assign(old * factor)
    return old, old * factor


class RecordingIterator:
    """Passes batches through and keeps them, so that a failed call can be replayed exactly."""

    def __init__(self, iterator):
        self._iterator = iterator
        self.batches: list = []

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self.batches.append(batch)
        return batch


class ReplayIterator:
    """Yields the recorded batches again, then continues with the original iterator."""

    def __init__(self, batches, iterator):
        self._pending = list(batches)
        self._iterator = iterator

    def __iter__(self):
        return self

    def __next__(self):
        if self._pending:
            return self._pending.pop(0)
        return next(self._iterator)
