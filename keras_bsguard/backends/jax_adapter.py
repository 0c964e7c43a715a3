"""JAX adapter: every private Keras/JAX detail the monitors rely on, in one place.

Checked against keras 3.15.1 (``keras/src/backend/jax/trainer.py``) with jax 0.10.2.

What it relies on:

* ``JAXTrainer.train_step(state, data)`` with ``state = (trainable, non_trainable, optimizer,
  metrics)`` variables, ``compute_loss_and_updates`` (public, stateless, used with ``jax.grad``),
  ``optimizer.stateless_apply`` (public) and ``_update_metrics_variables`` (private).
* ``make_train_function(force=True)`` jits ``self.train_step`` (bound at make time, so an
  instance attribute overrides it) unless NNX is enabled; ``train_function(state, iterator)``
  pulls its batch with ``next(iterator)`` outside the jit.
* ``jax.monitoring`` reports ``/jax/core/compile/backend_compile_duration`` with ``fun_name``.
* ``Device.memory_stats()`` (``bytes_in_use``, ``peak_bytes_in_use``, ``bytes_limit``); ``None`` on
  CPU.
"""

from __future__ import annotations

import math
import threading
import time

KERAS_CHECKED_AGAINST = "3.15.1"
# Whether the batch a step sees is the global batch (sharded by the backend) or one replica's.
BATCH_IS_GLOBAL = True
BACKEND = "jax"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _trainer_class():
    from keras.src.backend.jax.trainer import JAXTrainer

    return JAXTrainer


def has_default_train_step(model) -> bool:
    return getattr(type(model), "train_step", None) is _trainer_class().train_step


def is_compiled(model) -> bool:
    return not model.run_eagerly and bool(model.jit_compile)


def unsupported_reason(model) -> str | None:
    from keras.src.backend.config import is_nnx_enabled

    if is_nnx_enabled():
        return "Keras NNX mode jits type(model).train_step, which an instance cannot override"
    return None


def install_train_step(model, hub) -> None:
    original = model.train_step  # bound: the class's step (default or user-defined)
    use_default_step = has_default_train_step(model) and unsupported_reason(model) is None
    compiled = is_compiled(model)

    def bsguard_train_step(state, data):
        if compiled:
            hub.record_trace(data)  # runs once per trace: the jitted body is Python only then
        if not use_default_step or not hub.needs_instrumented_step:
            return original(state, data)
        if hub.split_count() > 1:
            return _micro_batched_step(model, hub, state, data)
        return _instrumented_default_step(model, hub, state, data)

    object.__setattr__(model, "train_step", bsguard_train_step)


def uninstall_train_step(model) -> None:
    model.__dict__.pop("train_step", None)


def _instrumented_default_step(model, hub, state, data):
    """``JAXTrainer.train_step`` of keras 3.15.1, with the gradient features between grad and apply."""
    import jax
    from keras.src.trainers.data_adapters import data_adapter_utils

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    grad_fn = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)
    (_, aux), grads = grad_fn(
        trainable,
        non_trainable,
        metrics_vars,
        x,
        y,
        sample_weight,
        training=True,
        optimizer_variables=optimizer_vars,
    )
    unscaled_loss, y_pred, non_trainable, metrics_vars = aux
    loss_scale = _loss_scale(model.optimizer, optimizer_vars)
    extra_logs, metrics_vars = _in_metrics_state(
        model, metrics_vars, lambda: hub.gradient_records(grads, model.trainable_variables, loss_scale))
    trainable, optimizer_vars = model.optimizer.stateless_apply(optimizer_vars, grads, trainable)
    logs, metrics_vars = model._update_metrics_variables(
        metrics_vars, unscaled_loss, x, y, y_pred, sample_weight
    )
    logs = dict(logs)
    logs.update(extra_logs)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def _in_metrics_state(model, metrics_vars, records):
    """``records()`` (gradient features writing their per-step figures into metric variables, a
    device-side buffer carried in the state) run against the traced ``metrics_vars``; returns its
    logs and the metrics state with the features' writes. One more output per step costs about
    10% of a small step on CPU, while the buffer is read by the host once per window."""
    from keras.src.backend.common.stateless_scope import StatelessScope

    metrics_variables = model.metrics_variables
    with StatelessScope(state_mapping=list(zip(metrics_variables, metrics_vars))) as scope:
        logs = records()
    return logs, [value if (new := scope.get_current_value(ref)) is None else new
                  for ref, value in zip(metrics_variables, metrics_vars)]


# The train step is Python that Keras calls at every step (a jitted function inside): the hub
# can pick, per step, which compiled step runs (GradientNormMonitor's every_n_steps).
SCHEDULES_STEPS_ON_HOST = True

# Gradients with at most this many elements have their squares summed in one reduction.
_SMALL = 1 << 14


def global_norm(grads):
    """The global L2 norm of ``grads`` in float32, in few kernels.

    Behind an ``optimization_barrier`` (see :func:`squared_norms`), each large gradient gets one
    fused square-and-sum; the small ones (biases, norm scales, small kernels) are flattened into
    one vector and reduced once. On XLA CPU every reduction is a kernel launch or two of its own
    and the small ones cost as much as the large ones (seeds' MLP, batch 128: 5 kernels for the
    four gradients, 3 this way; one extra read of 0.4 MB of gradients costs about 5 us alone).
    """
    import jax
    import jax.numpy as jnp

    grads = jax.lax.optimization_barrier(list(grads))
    squares = [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in grads if g.size > _SMALL]
    small = [jnp.ravel(g).astype(jnp.float32) for g in grads if g.size <= _SMALL]
    if small:
        flat = jnp.concatenate(small) if len(small) > 1 else small[0]
        squares.append(jnp.sum(jnp.square(flat)))
    return jnp.sqrt(sum(squares[1:], squares[0]))


def squared_norms(grads) -> list:
    """Per-tensor squared L2 norms in float32.

    The gradients pass through an ``optimization_barrier`` first. Without it XLA merges our
    ``g * g`` with the optimizer's own ``square(g)`` (Adam's second moment) by common
    subexpression elimination; the square then has two users, so it is written to memory as a
    separate array instead of staying inside the optimizer's fused update (measured on a 2-core
    CPU, the monitor alone: about +7% of a 2 ms step before, +3% to +6% after). Behind the barrier
    the norm is one extra read of each gradient (an elementwise square and a sum: no matmul
    unit, so no TF32 on a GPU).
    """
    import jax
    import jax.numpy as jnp

    grads = jax.lax.optimization_barrier(list(grads))
    return [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in grads]


def _loss_scale(optimizer, optimizer_vars):
    """The dynamic loss scale as traced in this step, or None without a LossScaleOptimizer."""
    from keras.optimizers import LossScaleOptimizer
    from keras.src.backend.common.stateless_scope import StatelessScope

    if not isinstance(optimizer, LossScaleOptimizer):
        return None
    if not optimizer.built:  # as LossScaleOptimizer.scale_loss does
        return optimizer.initial_scale
    mapping = list(zip(optimizer.variables, optimizer_vars))
    with StatelessScope(state_mapping=mapping):
        return optimizer.dynamic_scale.value


def snapshot_variables(model, variables) -> list:
    """Device-side copies of the live values of some ``model.metrics_variables``, without waiting.

    Call on the main thread between steps: mid-fit the live values are in ``model._jax_state``
    (the variables are purged) and the next step donates them, so they are copied now (an
    asynchronous device op) and converted to numpy later, off the main thread.
    """
    state = getattr(model, "_jax_state", None)
    live = None
    if state and not getattr(model, "_jax_state_synced", True):
        live = state.get("metrics_variables")
    if live:
        position = {id(v): i for i, v in enumerate(model.metrics_variables)}
        return _copy_arrays([live[position[id(v)]] for v in variables])
    return _copy_arrays([v.value for v in variables])


_COPY = []


def _copy_arrays(arrays: list) -> list:
    """Fresh device copies of ``arrays`` in one jitted call (compiled once per buffer shape).

    ``jnp.copy`` per array goes through ``jnp.array``'s Python path: about 0.25 ms of the main
    thread per array, against 0.01 ms for the dispatch of one compiled copy of all of them
    (2-core CPU, device busy). Inside ``fit`` either one may still wait for a free slot in the
    device's queue of pending computations, as the next step's dispatch does anyway."""
    if not _COPY:
        import jax
        import jax.numpy as jnp

        _COPY.append(jax.jit(lambda xs: [jnp.copy(x) for x in xs]))
    return _COPY[0](arrays)


def build_function(model, hub, kind: str, keep_state: bool):
    """A new ``train``/``test``/``predict`` function, as Keras's ``make_*_function`` builds it,
    with two differences: the train step is the hub's installed one, and with ``keep_state`` the
    step is jitted without donating its state.

    Keras jits every step with ``donate_argnums=0``: when a step fails (an OOM), the weights,
    optimizer slots and metrics it was given have already been deleted, and a later
    ``jax_state_sync`` leaves the model unreadable. BatchSizeGuard needs them to retry, and to
    put them back when it gives up.
    """
    import jax
    from keras.src.distribution import distribution_lib

    if unsupported_reason(model) is not None:  # NNX: Keras's own function, donation included
        return _keras_function(model, kind)
    compiled = is_compiled(model)
    jit_options = {"donate_argnums": () if keep_state else 0}
    if compiled and distribution_lib.distribution() is not None:
        # The state shardings as Keras computes them, remembered from before Keras purged the
        # variables' values mid-fit (Keras reads them from the values).
        jit_options["out_shardings"] = (None, _state_shardings(model, kind))
    if kind == "train":
        installed = model.train_step

        def traced(features):
            # A fresh function object per build: jax caches traces by function identity, and the
            # installed step reads the hub's settings (features, micro-batches) only when traced.
            # Named *train_step*: the compile counter tells train-step compiles by that name.
            def bsguard_train_step(state, data):
                with hub.measuring(features):
                    return installed(state, data)

            return jax.jit(bsguard_train_step, **jit_options) if compiled else bsguard_train_step

        periods = hub.measure_periods()
        if all(period == 1 for period in periods):
            return model._make_function(traced(None))
        return model._make_function(_scheduled_step(hub, periods, traced))
    if kind == "test":
        test_step = model.test_step

        def bsguard_test_step(state, data):
            return test_step(state, data)

        step = bsguard_test_step
    else:
        predict_step = model.predict_step

        def bsguard_predict_step(state, data):
            outputs, non_trainable = predict_step(state, data)
            return outputs, (state[0], non_trainable)

        step = bsguard_predict_step

    if compiled:
        step = jax.jit(step, **jit_options)
    return model._make_function(step, concatenate_outputs=kind == "predict")


def _scheduled_step(hub, periods: list[int], traced):
    """``step(state, data)`` that runs, at the fit's k-th train step, a step compiled with the
    features whose period divides k (``traced(features)``, built and compiled on first use, once
    per set). With one feature measured every n-th step: its step at steps n, 2n, ... and Keras's
    own step (the features measure nothing) at the others, so those cost what a plain fit's do.

    Counted per step, not per call: with ``steps_per_execution > 1`` Keras calls it once per step
    of a call. ``variants`` holds the compiled steps by which features measure.

    Every variant is compiled at the first step (ahead of time, ``lower().compile()``, which
    fills the cache the later calls use), not at its own first step: a compile at step n, with
    asynchronous dispatch, drains the device queue, and for a while after it the host's step
    times read as short as a dispatch (StepTimeMonitor then took a baseline of 0.06 ms for a
    0.6 ms step and reported a x10 drift)."""
    features = hub.gradient_features
    variants: dict[tuple, object] = {}
    pending = [True]  # every variant still to compile, at the first step of the first fit

    def variant(key: tuple):
        function = variants.get(key)
        if function is None:
            function = variants[key] = traced([f for f, measures in zip(features, key) if measures])
        return function

    def compile_all(state, data):
        pending.clear()
        cycle = min(math.lcm(*periods), 64)
        for key in {tuple(step % period == 0 for period in periods) for step in range(1, cycle + 1)}:
            lower = getattr(variant(key), "lower", None)  # absent when the step is not jitted
            if lower is not None:
                lower(state, data).compile()

    if len(periods) == 1:
        (period,) = periods
        variant((True,)), variant((False,))

        def bsguard_scheduled_step(state, data):
            if pending:
                compile_all(state, data)
            step = hub.steps_run = hub.steps_run + 1
            return variants[(step % period == 0,)](state, data)
    else:
        def bsguard_scheduled_step(state, data):
            if pending:
                compile_all(state, data)
            step = hub.steps_run = hub.steps_run + 1
            return variant(tuple(step % period == 0 for period in periods))(state, data)

    bsguard_scheduled_step.variants = variants
    return bsguard_scheduled_step


def _keras_function(model, kind: str):
    attribute = f"{kind}_function"
    saved = getattr(model, attribute)
    getattr(model, f"make_{kind}_function")(force=True)
    function = getattr(model, attribute)
    setattr(model, attribute, saved)
    return function


def _state_shardings(model, kind: str):
    try:
        spec = model._get_state_sharding_spec()
    except (AttributeError, TypeError):  # values purged mid-fit (JAXTrainer._purge_model_variables)
        spec = model.__dict__["_bsguard_state_shardings"]
    model.__dict__["_bsguard_state_shardings"] = spec
    trainable, non_trainable, optimizer, metrics = spec
    if kind == "train":
        return spec
    if kind == "test":
        return trainable, non_trainable, metrics
    return trainable, non_trainable


def function_variant(hub, kind: str):
    """One kind of function serves every caller here."""
    return None


def distribution_key(model):
    """The active ``keras.distribution`` (functions are built for one)."""
    from keras.src.distribution import distribution_lib

    return id(distribution_lib.distribution())


def share_state(new_variables, traced_variables) -> None:
    """The state travels through the jitted step by position: nothing to share."""


def split_unsupported_reason(model) -> str | None:
    """Why the train step cannot be split into micro-batches here (None: it can)."""
    if not has_default_train_step(model):
        return "the model overrides train_step, so its batch cannot be split into micro-batches"
    return unsupported_reason(model)


def stateless_split_unsupported_reason(model) -> str | None:
    """Why a test or predict batch cannot be run as pieces here (None: it can)."""
    return None


def is_end_of_data(error: BaseException) -> bool:
    return isinstance(error, StopIteration)


def replica_count(model) -> int:
    """How many ways ``keras.distribution`` shards the batch (1 without a distribution)."""
    from keras.src.distribution import distribution_lib

    distribution = distribution_lib.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    name = getattr(distribution, "batch_dim_name", None)
    if name in tuple(mesh.axis_names):
        return int(mesh.shape[tuple(mesh.axis_names).index(name)])
    return 1


_STATE_PARTS = {"train": ("trainable", "non_trainable", "optimizer", "metrics"),
                "test": ("trainable", "non_trainable", "metrics"),
                "predict": ("trainable", "non_trainable")}


def record_call(model, kind: str, args):
    """The call ``function(state, iterator)`` with its pulled batches kept for a replay.

    The state the call was given stays valid (the guard's functions do not donate it): it is the
    state of the last completed step, used for a re-run and put back if the call fails for good.
    """
    from keras_bsguard.backends import CallRecord, RecordingIterator, ReplayIterator, leading_dim

    state, iterator = args
    holder = {"state": state, "recording": RecordingIterator(iterator)}

    def replay():
        # Re-recorded: a re-run that fails again is replayed with every batch it pulled.
        holder["recording"] = RecordingIterator(ReplayIterator(holder["recording"].batches, iterator))
        return holder["state"], holder["recording"]

    def batch_size():
        batches = holder["recording"].batches
        return leading_dim(batches[0]) if batches else None

    def scale_variable(variable, factor):
        # Mid-fit the live values are in the state tuple (trainable, non_trainable, optimizer,
        # metrics); the Keras variables are stale until Keras syncs the state back.
        import numpy as np

        trainable, non_trainable, optimizer_vars, metrics_vars = holder["state"]
        for index, candidate in enumerate(model.optimizer.variables):
            if candidate is variable:
                old = float(np.asarray(optimizer_vars[index]))
                optimizer_vars = list(optimizer_vars)
                optimizer_vars[index] = optimizer_vars[index] * factor
                holder["state"] = (trainable, non_trainable, optimizer_vars, metrics_vars)
                return old, old * factor
        raise LookupError("variable is not one of the optimizer's variables")

    return CallRecord(kind, (state, holder["recording"]), replay, batch_size, scale_variable,
                      state=holder)


def run_split(model, kind: str, function, call, count: int):
    """A test or predict call with each of its batches run as ``count`` pieces, one call of
    ``function`` per piece (the state, metrics included, threaded through them); returns what
    the whole call returns: the last logs (metrics accumulate over the pieces, as over the
    batches of an epoch) or the concatenated predictions, and the final state."""
    import jax.numpy as jnp
    from keras import tree

    from keras_bsguard.backends import batch_pieces

    state, recording = call.args
    outputs = []
    for batch in recording.pull(model.steps_per_execution):
        for piece in batch_pieces(batch, count):
            piece_outputs, state = function(state, iter([piece]))
            outputs.append(piece_outputs)
    if kind == "test":
        return outputs[-1], state
    return tree.map_structure(lambda *parts: jnp.concatenate(parts, axis=0), *outputs), state


def restore_after_failure(model, call) -> None:
    """Put the state the failed call was given (the last completed step's) into the variables:
    Keras purges them during ``fit``/``evaluate``/``predict``, and only ``fit`` syncs them back
    when an exception leaves it."""
    state = call.state["state"] if call.state else None
    if state is None:
        return
    variables = {"trainable": model.trainable_variables, "non_trainable": model.non_trainable_variables,
                 "optimizer": model.optimizer.variables if model.optimizer is not None else [],
                 "metrics": model.metrics_variables}
    for part, values in zip(_STATE_PARTS[call.kind], state):
        for variable, value in zip(variables[part], values):
            variable.assign(value)
    object.__setattr__(model, "_jax_state_synced", True)


def make_trial_step(model):
    """``step(x, y, sample_weight) -> logs`` for ``find_batch_size``: ``train_on_batch`` (Keras's
    own train function, which compiles once per trial size)."""

    def step(x, y=None, sample_weight=None):
        return model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)

    return step


def wait_for(outputs) -> None:
    """Block until the step has run: JAX reports an allocation failure asynchronously, and a
    step whose outputs are never waited for leaves error arrays in place of the weights."""
    import jax

    jax.block_until_ready(outputs)


def predict_step_bytes(model, x, y, sample_weight) -> int:
    """XLA's estimate of one train step's memory (arguments + outputs + temporaries) for a batch.

    A floor, not the peak (measured on an H100: 4.6 GB estimated for a step that peaked at
    8.75 GB), so ``find_batch_size`` verifies its prediction with real steps.
    """
    import jax
    import jax.numpy as jnp
    import keras

    floatx = keras.backend.floatx()

    def as_array(t):
        array = jnp.asarray(t)
        return array.astype(floatx) if jnp.issubdtype(array.dtype, jnp.floating) else array

    model.optimizer.build(model.trainable_variables) if not model.optimizer.built else None
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables])
    data = keras.tree.map_structure(as_array, (x, y) if sample_weight is None else (x, y, sample_weight))
    step = getattr(model.train_step, "__wrapped__", model.train_step)
    analysis = jax.jit(step).lower(state, data).compile().memory_analysis()
    return int(analysis.temp_size_in_bytes + analysis.argument_size_in_bytes + analysis.output_size_in_bytes)


def release_memory(model) -> None:
    import gc

    gc.collect()


def _micro_batched_step(model, hub, state, data):
    """The default step over ``hub.split_count()`` slices of the batch.

    ``accumulate``: gradients of each slice weighted by its share of the batch and summed, one
    optimizer update (the same update as the whole batch for a mean-reduced loss). ``sequential``:
    one update per slice. Equal slices run under ``lax.scan`` so that only one slice's
    activations are alive at a time.
    """
    import jax
    import jax.numpy as jnp
    from keras import tree
    from keras.src.trainers.data_adapters import data_adapter_utils

    from keras_bsguard.backends import leading_dim, micro_batch_bounds

    trainable, non_trainable, optimizer_vars, metrics_vars = (list(part) for part in state)
    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    batch = leading_dim((x, y, sample_weight))
    bounds = micro_batch_bounds(batch, hub.split_count())
    accumulate = hub.micro_mode == "accumulate"
    split_norms = hub.wants_split_norms
    # BatchSizeGuard's split saves memory: one slice alive at a time. A split only for a
    # measurement (GradientNoiseScale) lets XLA schedule the slices freely.
    memory_split = hub.micro_batches > 1
    grad_fn = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)

    def one_slice(carry, piece):
        # The barrier keeps XLA from overlapping slices (it may unroll a short scan): each slice
        # starts once the previous one is finished, so one slice's activations are alive at a time.
        if memory_split:
            carry = jax.lax.optimization_barrier(carry)
        trainable, non_trainable, optimizer_vars, metrics_vars, grads_sum, squares = carry
        xs, ys, sws, weight = piece
        (_, aux), grads = grad_fn(trainable, non_trainable, metrics_vars, xs, ys, sws, training=True,
                                  optimizer_variables=optimizer_vars)
        unscaled, y_pred, non_trainable, metrics_vars = aux
        if accumulate:
            grads_sum = jax.tree_util.tree_map(lambda total, g: total + g * weight, grads_sum, grads)
        else:
            trainable, optimizer_vars = model.optimizer.stateless_apply(optimizer_vars, grads, trainable)
            grads_sum = grads
        if split_norms:  # the slice's squared gradient norm, weighted by its share of the batch
            squares = squares + weight * sum(jnp.sum(jnp.square(g.astype(jnp.float32)))
                                             for g in jax.tree_util.tree_leaves(grads))
        carry = (trainable, non_trainable, optimizer_vars, metrics_vars, grads_sum, squares)
        return carry, (unscaled * weight, y_pred)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, trainable)
    carry = (trainable, non_trainable, optimizer_vars, metrics_vars, zeros, jnp.zeros((), jnp.float32))
    sizes = {stop - start for start, stop in bounds}
    if len(sizes) == 1 and memory_split:  # equal slices: one traced body, run sequentially by lax.scan
        count, size = len(bounds), sizes.pop()

        def stacked(t):
            return None if t is None else t.reshape((count, size) + tuple(t.shape[1:]))

        pieces = (tree.map_structure(stacked, x), tree.map_structure(stacked, y),
                  None if sample_weight is None else tree.map_structure(stacked, sample_weight),
                  jnp.full((count,), size / batch, dtype="float32"))
        carry, (losses, y_preds) = jax.lax.scan(one_slice, carry, pieces)
        unscaled_loss = jnp.sum(losses)
        y_pred = tree.map_structure(lambda t: t.reshape((batch,) + tuple(t.shape[2:])), y_preds)
    else:
        losses, y_preds = [], []
        for start, stop in bounds:
            def cut(t, start=start, stop=stop):
                return None if t is None else t[start:stop]

            piece = (tree.map_structure(cut, x), tree.map_structure(cut, y),
                     None if sample_weight is None else tree.map_structure(cut, sample_weight),
                     (stop - start) / batch)
            carry, (loss, y_pred) = one_slice(carry, piece)
            losses.append(loss)
            y_preds.append(y_pred)
        unscaled_loss = sum(losses)
        y_pred = tree.map_structure(lambda *parts: jnp.concatenate(parts, axis=0), *y_preds)
    trainable, non_trainable, optimizer_vars, metrics_vars, grads, squares = carry
    split = (squares, len(bounds), batch) if accumulate else None
    loss_scale = _loss_scale(model.optimizer, optimizer_vars)
    extra_logs, metrics_vars = _in_metrics_state(
        model, metrics_vars,
        lambda: hub.split_records(grads, model.trainable_variables, loss_scale, split))
    if accumulate:
        trainable, optimizer_vars = model.optimizer.stateless_apply(optimizer_vars, grads, trainable)
    logs, metrics_vars = model._update_metrics_variables(metrics_vars, unscaled_loss, x, y, y_pred, sample_weight)
    logs = dict(logs)
    logs.update(extra_logs)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


class _TimedIterator:
    """Stands in for the batch iterator; times each ``next`` (the JAX step pulls its own batch)."""

    def __init__(self, iterator, on_data):
        self._iterator = iterator
        self._on_data = on_data

    def __iter__(self):
        return self

    def __next__(self):
        start = time.perf_counter()
        batch = next(self._iterator)
        ready = time.perf_counter()
        self._on_data(ready - start, ready)
        return batch


def wrap_data_source(model, args, on_data):
    state, iterator = args
    return state, _TimedIterator(iterator, on_data)


# With the iterator timed, input wait is measured inside the call.
DATA_WAIT_INSIDE_CALL = True


class _CompileCounter:
    """Counts XLA compilations of train steps through ``jax.monitoring``."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, event, duration_secs, **kwargs):
        if event != _COMPILE_EVENT:
            return
        if "train_step" not in str(kwargs.get("fun_name", "train_step")):
            return
        with self._lock:
            self.count += 1


def start_compile_counter(model, hub):
    import jax

    counter = _CompileCounter()
    jax.monitoring.register_event_duration_secs_listener(counter)
    return counter


def stop_compile_counter(counter) -> None:
    import jax

    if counter is None:
        return
    try:
        jax.monitoring.unregister_event_duration_listener(counter)
    except (AssertionError, ValueError):
        pass


def device_memory(include_limit: bool = True) -> dict | None:
    """``{"in_use", "peak", "limit", "device"}`` in bytes for the first local device, or None."""
    device = _first_device()
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - some PJRT plugins raise instead of returning None
        stats = None
    if not stats:
        return None
    return {
        "in_use": stats.get("bytes_in_use"),
        "peak": stats.get("peak_bytes_in_use"),
        "limit": stats.get("bytes_limit"),
        "device": f"{device.platform}:{device.id}",
        "peak_resettable": False,
    }


_DEVICE = []


def _first_device():
    if not _DEVICE:  # jax.local_devices() walks the backends; look it up once
        import jax

        _DEVICE.append(jax.local_devices()[0])
    return _DEVICE[0]


def reset_device_peak() -> None:
    """JAX has no public reset of ``peak_bytes_in_use``; windows use sampled ``bytes_in_use``."""
