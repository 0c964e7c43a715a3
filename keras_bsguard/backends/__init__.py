"""Backend adapters and the one instrumented step that every runtime feature shares.

Why one shared step: several features need to see inside the compiled step (the gradient norm;
splitting a batch into micro-batches in ``BatchSizeGuard``). Two callbacks each overriding
``train_step`` would fight; instead each model gets one :class:`InstrumentedTrainStep` (created on
the first :meth:`InstrumentedTrainStep.attach` and kept on the model for its lifetime), and
features register into it:

* **gradient features** (``compute(grads, variables, loss_scale) -> dict``) run inside the
  compiled step between the gradient computation and ``optimizer.apply``; their tensors leave the
  step through the step's ``logs`` (or, with ``record``, through device-side state metrics);
* **step observers** (``before_call``, ``data_ready``, ``after_call``) are told, on the host, when
  each call of ``model.train_function`` starts, when its batch arrived and when it returned, and
  how many compilations happened inside it;
* **one call guard** (``BatchSizeGuard``) is asked, when a call of the train, test or predict
  function raises, whether to run the same batches again (split into micro-batches).

**Splits.** The train step runs its batch as micro-batches (the adapters' ``_micro_batched_step``)
when the guard splits it (to save memory) or when a measuring feature asks for slices
(``wanted_split()``: ``GradientNoiseScale``, whose small batch they are; the guard's split wins
when both want one). A feature with ``record_split`` then also gets the slices' squared gradient
norms, weighted by their share of the batch and summed (:meth:`InstrumentedTrainStep.split_records`).

**Compiled once per model and configuration.** The hub builds each function it needs (train, and
with a guard test and predict) through the adapter and keeps it in a cache keyed by the
configuration: the function kind, the gradient features' signatures (type, options, shapes of
their state variables), the split, whether a guard needs the state kept (JAX: no donation), and
the model's compile generation. A later ``fit`` of the same configuration, with new monitor
objects too, takes the cached function, whose compiled step (JAX trace and executable, TF
concrete function) is reused as is. Keras's own functions are saved when the first owner attaches
and put back when the last one detaches, so a plain ``fit`` afterwards reuses Keras's compiled step.

**Never half attached.** When an exception other than the end of the data leaves a wrapped
function (``fit`` is then aborted by Keras, which skips ``on_train_end``), the guard's adapter
puts the state of the last completed step back into the variables, and the hub detaches every
owner, restoring Keras's functions.

Every private Keras attribute is touched only in the three adapter modules
(``jax_adapter``, ``tensorflow_adapter``, ``torch_adapter``), each checked against keras 3.15.1.
"""

from __future__ import annotations

import contextlib
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

KINDS = ("train", "test", "predict")
_FUNCTION_ATTRIBUTE = {kind: f"{kind}_function" for kind in KINDS}


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


def feature_state_variables(feature) -> list:
    """The device-side state variables a gradient feature writes (its buffer metric's)."""
    explicit = getattr(feature, "state_variables", None)
    if callable(explicit):
        return list(explicit())
    buffer = getattr(feature, "buffer", None)
    return list(getattr(buffer, "variables", None) or [])


def feature_signature(feature) -> tuple:
    """What a gradient feature's trace depends on: its ``cache_key()`` if it has one, else its
    type, ``per_layer`` and ``every_n_steps`` options, whether it counts on the host, and its
    state's shapes."""
    explicit = getattr(feature, "cache_key", None)
    if callable(explicit):
        return (type(feature).__qualname__, explicit())
    shapes = tuple((tuple(v.shape), str(v.dtype)) for v in feature_state_variables(feature))
    return (type(feature).__module__, type(feature).__qualname__, getattr(feature, "per_layer", None),
            getattr(feature, "every_n_steps", 1), getattr(feature, "host_count", None) is not None,
            shapes)


class _CacheEntry:
    """A built function and the feature state it was traced with (objects and positions)."""

    def __init__(self, function, state_variables, positions):
        self.function = function
        self.state_variables = state_variables
        self.positions = positions


class InstrumentedTrainStep:
    """The per-model hub: one train-step override, the wrappers of the train/test/predict
    functions, and the cache of the functions it built. Use :meth:`attach` / :meth:`detach`."""

    def __init__(self, model):
        self.model = model
        self.adapter = get_adapter()
        self._lock = threading.RLock()
        self._owners: dict[int, dict] = {}
        # Snapshots of the owners' features and observers, rebuilt when an owner comes or goes:
        # the per-call path reads them without taking the lock or building a list.
        self._features: tuple = ()
        self._observers: tuple = ()
        # One entry per trace of the train step in the current fit: the input shapes it was
        # traced for.
        self.trace_signatures: list[tuple] = []
        self._wrappers: dict[str, object] = {}  # kind -> our wrapper, as set on the model
        self._inner: dict[str, object] = {}  # kind -> the function that wrapper calls
        self._keras: dict[str, object] = {}  # kind -> Keras's own function, saved at attach
        self._keras_generation: dict[str, tuple] = {}
        self._cache: dict[tuple, _CacheEntry] = {}
        self._generation = None
        self.builds = 0  # functions built (a cache hit builds nothing)
        self._compile_counter = None
        self._installed = False
        # BatchSizeGuard's controls: how many micro-batches the train step splits its batch into,
        # and whether they accumulate one update ("accumulate") or each make their own
        # ("sequential").
        self.micro_batches = 1
        self.micro_mode = "accumulate"
        self._call_guard = None
        self._fit_token = None  # the History of the fit the train owners belong to
        # Train steps run in the current fit (counted where the adapter picks, per step, which
        # compiled step runs: JAX with ``every_n_steps > 1``), and the features a step being
        # traced measures (None: all of them).
        self.steps_run = 0
        self._measuring = None

    # ----------------------------------------------------------------------------- lifecycle
    @classmethod
    def attach(cls, model, owner, gradient_feature=None, observer=None, call_guard=None,
               kinds=("train",)) -> InstrumentedTrainStep:
        """Register ``owner`` (its feature, observer, guard) for the function ``kinds``.

        Attaching the same owner again adds to what it registered. ``call_guard`` (one per
        model: ``BatchSizeGuard``) is asked, when an exception leaves a wrapped function, whether
        to re-run the same batch (``on_step_error(error, call, kind)``); while one is attached,
        JAX builds the functions without donating the state.
        """
        hub = model.__dict__.get(_HUB_ATTRIBUTE)
        if hub is None:
            hub = cls(model)
            object.__setattr__(model, _HUB_ATTRIBUTE, hub)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown function kinds {sorted(unknown)}; expected some of {KINDS}")
        if "train" in kinds:
            token = _fit_token(model)
            if token is not hub._fit_token:
                if any("train" in r["kinds"] for r in hub._owners.values()):
                    hub.abort()  # owners of an earlier fit that an exception aborted (no on_train_end)
                hub.steps_run = 0
            hub._fit_token = token
        with hub._lock:
            first = not hub._owners
            record = hub._owners.setdefault(id(owner), {"owner": owner, "gradient_feature": None,
                                                         "observer": None, "kinds": set()})
            if gradient_feature is not None:
                record["gradient_feature"] = gradient_feature
            if observer is not None:
                record["observer"] = observer
            record["kinds"] |= set(kinds)
            if call_guard is not None:
                hub._call_guard = call_guard
            hub._refresh_owners()
        if first:
            hub._begin()
        hub._sync_functions()
        return hub

    def detach(self, owner, kinds=None) -> None:
        """Remove ``owner`` (or only its ``kinds``); the last one out restores the model exactly
        as it was, Keras's own compiled functions included."""
        with self._lock:
            record = self._owners.get(id(owner))
            if record is None:
                return
            if kinds is not None:
                record["kinds"] -= set(kinds)
            if kinds is None or not record["kinds"]:
                del self._owners[id(owner)]
                if self._call_guard is owner:
                    self._call_guard = None
                    self.micro_batches, self.micro_mode = 1, "accumulate"
            self._refresh_owners()
            last = not self._owners
        self._sync_functions()
        if last:
            self._end()

    def abort(self) -> None:
        """Detach every owner (a fit was aborted by an exception; Keras skips on_train_end)."""
        with self._lock:
            self._owners.clear()
            self._call_guard = None
            self.micro_batches, self.micro_mode = 1, "accumulate"
            self._refresh_owners()
        self._sync_functions()
        self._end()

    @property
    def owners(self) -> list:
        return [record["owner"] for record in self._owners.values()]

    def _refresh_owners(self) -> None:
        """Recompute the feature and observer snapshots (call with the lock held)."""
        owners = list(self._owners.values())
        self._features = tuple(o["gradient_feature"] for o in owners if o["gradient_feature"])
        self._observers = tuple(o["observer"] for o in owners if o["observer"])

    def _begin(self) -> None:
        """The first owner arrived: install the step override and the compile counter."""
        self.trace_signatures = []
        if not self._installed:
            self.adapter.install_train_step(self.model, self)
            self._installed = True
        if self._compile_counter is None:
            self._compile_counter = self.adapter.start_compile_counter(self.model, self)

    def _end(self) -> None:
        with self._lock:
            if self._owners:
                return
        if self._compile_counter is not None:
            self.adapter.stop_compile_counter(self._compile_counter)
            self._compile_counter = None
        if self._installed:
            self.adapter.uninstall_train_step(self.model)
            self._installed = False

    @property
    def custom_train_step(self) -> bool:
        """Whether the model overrides ``train_step`` (its gradients are then not visible)."""
        return not self.adapter.has_default_train_step(self.model)

    @property
    def can_split_train_step(self) -> bool:
        """Whether the train step can run a batch as micro-batches (the default step of a
        backend that supports it; otherwise a guard can only retry the whole batch)."""
        return self.adapter.split_unsupported_reason(self.model) is None

    # ---------------------------------------------------------------- functions and the cache
    def _wanted_kinds(self) -> set:
        wanted = set()
        for record in self._owners.values():
            wanted |= record["kinds"]
        return wanted

    def _sync_functions(self) -> None:
        """Install the right (cached or new) function for every kind an owner wants; put Keras's
        own back for the kinds no owner wants any more."""
        wanted = self._wanted_kinds()
        for kind in KINDS:
            if kind in wanted:
                self._install(kind)
            elif kind in self._wrappers:
                self._restore(kind)

    def _install(self, kind: str, force: bool = False) -> None:
        attribute = _FUNCTION_ATTRIBUTE[kind]
        current = getattr(self.model, attribute, None)
        wrapper = self._wrappers.get(kind)
        ours = wrapper is not None and current is wrapper
        if not ours:
            # Keras's own function (or None): put back when the last owner of this kind leaves.
            self._keras[kind] = current
            self._keras_generation[kind] = self._compile_generation()
        function = self._select(kind)
        if ours and not force and self._inner.get(kind) is function:
            return
        self._inner[kind] = function
        wrapper = self._wrap(kind, function)
        self._wrappers[kind] = wrapper
        setattr(self.model, attribute, wrapper)

    def _restore(self, kind: str) -> None:
        attribute = _FUNCTION_ATTRIBUTE[kind]
        wrapper = self._wrappers.pop(kind, None)
        self._inner.pop(kind, None)
        saved = self._keras.pop(kind, None)
        generation = self._keras_generation.pop(kind, None)
        if getattr(self.model, attribute, None) is wrapper:
            # A model recompiled in the meantime gets None: Keras builds its new function lazily.
            setattr(self.model, attribute, saved if generation == self._compile_generation() else None)

    def _compile_generation(self) -> tuple:
        """What every built function depends on beyond the hub's settings: the model's compile
        call (a new ``_compile_config`` object each time), its execution options, the
        distribution."""
        model = self.model
        return (id(getattr(model, "_compile_config", None)), id(getattr(model, "optimizer", None)),
                model.steps_per_execution, bool(model.jit_compile), bool(model.run_eagerly),
                self.adapter.distribution_key(model))

    def _key(self, kind: str) -> tuple:
        guarded = self._call_guard is not None
        variant = self.adapter.function_variant(self, kind)
        if kind != "train":
            return (kind, guarded, variant)
        features = tuple(feature_signature(f) for f in self._features)
        return ("train", guarded, variant, self.micro_batches, self.micro_mode, features)

    @property
    def observers(self) -> tuple:
        return self._observers

    def _select(self, kind: str):
        """The cached function for the current configuration, or a new one."""
        generation = self._compile_generation()
        if generation != self._generation:
            self._cache.clear()
            # Keep the objects the generation names alive (an id is only unique among them).
            self._generation = generation
            self._generation_objects = (getattr(self.model, "_compile_config", None),
                                        getattr(self.model, "optimizer", None))
        key = self._key(kind)
        state = [v for f in self._features for v in feature_state_variables(f)] if kind == "train" else []
        positions = self._positions(state)
        entry = self._cache.get(key)
        if entry is not None and entry.positions == positions:
            if any(a is not b for a, b in zip(state, entry.state_variables)):
                # New feature objects of the same configuration: the cached step writes the state
                # it was traced with; let the new variables share that storage (a no-op where the
                # state travels by position, as on JAX).
                self.adapter.share_state(state, entry.state_variables)
            return entry.function
        function = self.adapter.build_function(self.model, self, kind, keep_state=self._call_guard is not None)
        self.builds += 1
        self._cache[key] = _CacheEntry(function, state, positions)
        return function

    def _positions(self, state) -> tuple:
        if not state:
            return ()
        index = {id(v): i for i, v in enumerate(self.model.metrics_variables)}
        return tuple(index.get(id(v), -1) for v in state)

    def rebuild(self) -> None:
        """Re-select the train function for the current settings (cached if seen before)."""
        if "train" in self._wrappers or "train" in self._wanted_kinds():
            self._install("train")

    @property
    def needs_instrumented_step(self) -> bool:
        """Whether the default step must be replaced by the adapter's instrumented one."""
        return self.micro_batches > 1 or bool(self.gradient_features)

    def split_count(self) -> int:
        """How many micro-batches the step being traced splits its batch into: the guard's split,
        else the largest split a measuring feature asks for (``GradientNoiseScale``: the small
        batch of its estimate), else 1."""
        if self.micro_batches > 1:
            return self.micro_batches
        return max([getattr(f, "wanted_split", _one)() for f in self.gradient_features], default=1)

    @property
    def wants_split_norms(self) -> bool:
        """Whether the micro-batched step being traced must sum its slices' squared gradient
        norms (a feature measuring this step reads them; only when the slices accumulate one
        update). An eager step that a feature does not measure (torch, ``every_n_steps``) skips
        them, also under BatchSizeGuard's split."""
        return self.micro_mode == "accumulate" and any(
            getattr(f, "record_split", None) is not None and f.wanted_split() > 1
            for f in self.gradient_features)

    def split_records(self, grads, variables, loss_scale, split) -> dict:
        """Called by the micro-batched step with the accumulated gradients and ``split``:
        ``(slice_squares, count, batch)``, the slices' squared gradient norms weighted by their
        share of the batch and summed, the slice count and the batch size (``None`` when the
        slices made their own updates). A feature with ``record_split`` gets them; the others
        write their device records as in the default step (when the split is only there for a
        measurement) or return step logs (under BatchSizeGuard's split, as they always did)."""
        guard_split = self.micro_batches > 1
        logs = {}
        for feature in self.gradient_features:
            record_split = getattr(feature, "record_split", None)
            record = getattr(feature, "record", None)
            if record_split is not None:
                logs.update(record_split(grads, variables, loss_scale, split))
            elif record is not None and not guard_split:
                logs.update(record(grads, variables, loss_scale))
            else:
                logs.update(feature.compute(grads, variables, loss_scale))
        return logs

    def set_micro_batches(self, count: int, mode: str = "accumulate", rebuild: bool = True) -> None:
        """Split each train batch into ``count`` micro-batches from the next call on."""
        changed = (count, mode) != (self.micro_batches, self.micro_mode)
        self.micro_batches, self.micro_mode = int(count), mode
        if changed and rebuild:
            self.rebuild()

    # ------------------------------------------------------------------- calls of a function
    def _call_guarded(self, kind: str, function, args):
        """Call ``function``; on an error the guard accepts, run the same batches again (the
        train step re-selected for the guard's new split; test and predict split on the host)."""
        guard = self._call_guard
        adapter = self.adapter
        call = adapter.record_call(self.model, kind, args)
        steps_before = self.steps_run
        while True:
            count = 1 if kind == "train" else guard.micro_batches_for(kind)
            try:
                if count > 1:
                    outputs = adapter.run_split(self.model, kind, function, call, count)
                else:
                    outputs = function(*call.args)
                # Surface an asynchronous failure here, while the call can still be re-run.
                adapter.wait_for(outputs)
                guard.observe_batch(call.batch_size(), kind)
                return outputs
            except BaseException as error:  # noqa: BLE001 - the guard decides; the rest re-raises
                if adapter.is_end_of_data(error):
                    raise
                retry = isinstance(error, Exception) and guard.on_step_error(error, call, kind)
                if not retry:
                    self._escape(call)
                    raise
                adapter.release_memory(self.model)
                if kind == "train":
                    function = self._inner.get("train", function)
                    self.steps_run = steps_before  # the same steps run again
                call.args = call.replay()

    def _escape(self, call) -> None:
        """An exception leaves the call for good: the state of the last completed step goes
        back into the variables, and every owner is detached (Keras skips ``on_train_end``)."""
        try:
            if call is not None:
                self.adapter.restore_after_failure(self.model, call)
        finally:
            self.abort()

    def _call(self, kind: str, function, args):
        if kind == "train" and _fit_token(self.model) is not self._fit_token:
            # A new fit without our owners: an earlier one was aborted by an exception outside
            # the train function (a callback), so Keras never called their on_train_end.
            self.abort()
            if self.model.train_function is None:
                self.model.make_train_function()
            return self.model.train_function(*args)
        if self._call_guard is not None:
            return self._call_guarded(kind, function, args)
        try:
            return function(*args)
        except BaseException as error:
            if not self.adapter.is_end_of_data(error):
                self.abort()
            raise

    # ----------------------------------------------------------------------- inside the step
    @property
    def gradient_features(self) -> tuple:
        """The features the step being traced computes: all of them, or those that
        :meth:`measuring` names."""
        return self._features if self._measuring is None else self._measuring

    @contextlib.contextmanager
    def measuring(self, features):
        """Trace a step that computes only ``features`` (``None``: every attached one). Used by
        an adapter that compiles one step per set of measuring features and picks among them on
        the host at every step (JAX, with ``every_n_steps > 1``)."""
        previous, self._measuring = self._measuring, None if features is None else tuple(features)
        try:
            yield
        finally:
            self._measuring = previous

    def measure_periods(self) -> list[int]:
        """Each attached feature's ``every_n_steps`` where the adapter picks the steps on the
        host (1 for a feature measured at every step)."""
        return [getattr(f, "every_n_steps", 1) if getattr(f, "steps_on_host", False) else 1
                for f in self._features]

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
        """Put our train function back if someone replaced ``model.train_function`` (a
        ``make_train_function(force=True)`` or ``compile()`` mid-fit); True when that happened."""
        wrapper = self._wrappers.get("train")
        if wrapper is None or self.model.train_function is wrapper:
            return False
        # Whoever rebuilt it wants a new trace (a Python value the step reads may have changed):
        # the cached train functions are dropped, not reinstalled.
        for key in [key for key in self._cache if key[0] == "train"]:
            del self._cache[key]
        self._install("train", force=True)
        return True

    def _wrap(self, kind: str, function):
        hub = self
        adapter = self.adapter
        model = self.model

        if kind != "train":
            def bsguard_function(*args):
                return hub._call(kind, function, args)

            bsguard_function.__wrapped__ = function
            return bsguard_function

        def on_data(wait_seconds, ready_time):
            for observer in hub._observers:
                observer.data_ready(wait_seconds, ready_time)

        wrap_data_source = adapter.wrap_data_source

        def bsguard_train_function(*args):
            # Runs at every step on the fit thread: locals, few frames.
            observers = hub._observers
            if not observers:
                return hub._call("train", function, args)
            start = time.perf_counter()
            counter = hub._compile_counter
            compiles_before = counter.count if counter is not None else 0
            for observer in observers:
                observer.before_call(start)
            finished = False
            try:
                args = wrap_data_source(model, args, observers[0].data_ready if len(observers) == 1
                                        else on_data)
                outputs = hub._call("train", function, args)
                finished = True
                return outputs
            finally:
                end = time.perf_counter()
                compiles = (counter.count if counter is not None else 0) - compiles_before
                for observer in observers:
                    observer.after_call(end, compiles, finished)

        bsguard_train_function.__wrapped__ = function
        return bsguard_train_function


def _one() -> int:
    return 1


def _fit_token(model):
    """Which ``fit`` is running: Keras gives every ``fit`` a new ``History`` (``model.history``,
    set when the fit's ``CallbackList`` is made, before ``on_train_begin``); ``evaluate`` and
    ``predict`` leave it alone."""
    return getattr(model, "history", None)


def attached_hub(model) -> InstrumentedTrainStep | None:
    """The model's hub, if one was ever attached (it stays on the model with its cache)."""
    return model.__dict__.get(_HUB_ATTRIBUTE)


# ------------------------------------------------------------- device-side gradient figures

def state_buffer(name: str, shapes: dict):
    """A ``keras.metrics.Metric`` that only holds a gradient feature's device-side state: one
    float32 variable per entry of ``shapes`` (``{attribute: shape}``, zeros; an entry whose shape
    is ``None`` is set to ``None``), an empty ``result()`` (nothing added to the step's logs) and
    a ``reset_state`` that keeps everything (Keras resets metrics at each epoch and before
    validation; the feature's figures must survive both). A metric because its variables then
    travel in the training state of every backend (on JAX the ``metrics_variables`` of the
    jitted step). Under ``tf.distribute`` every replica writes the same value and reading takes
    the first replica's copy (``only_first_replica``).
    """
    import keras

    class _StateBuffer(keras.metrics.Metric):
        def __init__(self):
            super().__init__(name=name, dtype="float32")
            for attribute, shape in shapes.items():
                variable = None if shape is None else self.add_variable(
                    shape=tuple(shape), name=attribute, initializer="zeros", dtype="float32",
                    aggregation="only_first_replica")
                setattr(self, attribute, variable)

        def update_state(self, *args, **kwargs):
            pass

        def result(self):
            return {}

        def reset_state(self):
            pass

    return _StateBuffer()


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


def batch_pieces(batch, count: int) -> list:
    """``batch`` (a structure of arrays with one leading batch dimension) cut into ``count``
    contiguous pieces (:func:`micro_batch_bounds`); leaves without that dimension are shared.

    >>> import numpy as np
    >>> [p[0].shape for p in batch_pieces((np.zeros((5, 2)), None), 2)]
    [(2, 2), (3, 2)]
    """
    import keras

    size = leading_dim(batch)
    if not size:
        return [batch]

    def cut(leaf, start, stop):
        shape = getattr(leaf, "shape", None)
        if shape is None or len(shape) == 0 or _static_dim(shape[0]) != size:
            return leaf
        return leaf[start:stop]

    return [keras.tree.map_structure(lambda leaf, a=start, b=stop: cut(leaf, a, b), batch)
            for start, stop in micro_batch_bounds(size, count)]


class CallRecord:
    """One call of a train/test/predict function, kept so that it can be re-run exactly.

    ``args`` are the arguments to call with (batches recorded as they are pulled), ``replay()``
    the arguments for a re-run (also putting back any state the failed call may have changed),
    ``batch_size()`` the size of the call's first batch, ``scale_variable(variable, factor)``
    multiplies a model/optimizer variable in the state the re-run will use (on JAX the live
    values travel in the call's state, not in the variables), ``batches()`` the call's batches
    (pulled now if the function has not pulled them), ``state`` whatever the adapter needs to
    restore the last completed step (see ``restore_after_failure``).
    """

    def __init__(self, kind, args, replay, batch_size, scale_variable=None, batches=None, state=None):
        self.kind = kind
        self.args = args
        self.replay = replay
        self.batch_size = batch_size
        self.scale_variable = scale_variable
        self.batches = batches
        self.state = state
        self.retries = 0


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

    def pull(self, count: int) -> list:
        """Pull up to ``count`` batches now (StopIteration if there is none)."""
        pulled = [next(self)]
        for _ in range(count - 1):
            try:
                pulled.append(next(self))
            except StopIteration:
                break
        return pulled


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
