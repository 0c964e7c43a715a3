"""TensorFlow adapter: every private Keras/TF detail the monitors rely on, in one place.

Checked against keras 3.15.1 (``keras/src/backend/tensorflow/trainer.py``) with tensorflow 2.21.

What it relies on:

* ``TensorFlowTrainer.train_step(data)``: ``_call_has_training_arg``, ``_compute_loss`` and
  ``_loss_tracker`` (private), ``optimizer.scale_loss`` / ``apply_gradients`` and
  ``compute_metrics`` (public); under ``tf.distribute`` the step runs once per replica with the
  loss divided by the replica count, and the optimizer sums the replicas' gradients.
* ``train_function(iterator)`` / ``test_function(iterator)`` take a ``tf.data`` iterator (Keras
  pulls the batch inside the graph) or any Python iterator; ``predict_function(batches)`` a list
  of batches pulled by Keras's predict loop. The hub's functions (``_HostFunction``) pull every
  batch on the host and run ``strategy.run`` + ``reduce_per_replica`` (a module function of
  ``keras/src/backend/tensorflow/trainer.py``) in a ``tf.function``, as Keras's Python path does.
* ``_make_function(step)`` (private) for a train function that pulls its batches in the graph.
* ``KerasVariable._value`` (the wrapped ``tf.Variable``): shared between a cached step's state
  variables and a new monitor's (``share_state``).
* ``_maybe_symbolic_build`` (private) before a ``find_batch_size`` trial.
* ``tf.config.experimental.get_memory_info`` / ``reset_memory_stats`` (GPU only).
"""

from __future__ import annotations

import time

KERAS_CHECKED_AGAINST = "3.15.1"
# Whether the batch a step sees is the global batch (sharded by the backend) or one replica's.
BATCH_IS_GLOBAL = False
BACKEND = "tensorflow"


def _trainer_class():
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    return TensorFlowTrainer


def has_default_train_step(model) -> bool:
    return getattr(type(model), "train_step", None) is _trainer_class().train_step


def is_compiled(model) -> bool:
    return not model.run_eagerly


def unsupported_reason(model) -> str | None:
    return None


def install_train_step(model, hub) -> None:
    original = model.train_step
    use_default_step = has_default_train_step(model)
    compiled = is_compiled(model)

    def bsguard_train_step(data):
        if compiled and _is_first_replica():
            hub.record_trace(data)  # the tf.function body runs in Python only when traced
        if not use_default_step or not hub.needs_instrumented_step:
            return original(data)
        if hub.split_count() > 1:
            return _micro_batched_step(model, hub, data)
        return _instrumented_default_step(model, hub, data)

    object.__setattr__(model, "train_step", bsguard_train_step)


def uninstall_train_step(model) -> None:
    model.__dict__.pop("train_step", None)


def _is_first_replica() -> bool:
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return True
    replica_id = tf.get_static_value(context.replica_id_in_sync_group)
    return replica_id is None or int(replica_id) == 0


def _instrumented_default_step(model, hub, data):
    """``TensorFlowTrainer.train_step`` of keras 3.15.1, with gradient features before apply."""
    import tensorflow as tf
    from keras import tree
    from keras.src.losses import loss as loss_module
    from keras.src.trainers.data_adapters import data_adapter_utils

    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        model._loss_tracker.update_state(
            loss_module.unscale_loss_for_distribution(loss),
            sample_weight=tf.shape(next(i for i in tree.flatten(x) if i is not None))[0],
        )
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
    extra_logs = {}
    trainable_weights = model.trainable_weights
    if trainable_weights:
        gradients = tape.gradient(loss, trainable_weights)
        extra_logs = hub.gradient_records(
            _sum_over_replicas(gradients), trainable_weights, _loss_scale(model.optimizer)
        )
        model.optimizer.apply_gradients(zip(gradients, trainable_weights))
    logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
    logs.update(extra_logs)
    return logs


def _sum_over_replicas(gradients):
    """Under tf.distribute each replica holds its share; the applied gradient is their sum."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return gradients
    present = [g for g in gradients if g is not None]
    summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
    return [None if g is None else next(summed) for g in gradients]


def _loss_scale(optimizer):
    from keras.optimizers import LossScaleOptimizer

    if not isinstance(optimizer, LossScaleOptimizer):
        return None
    # As LossScaleOptimizer.scale_loss does: the initial scale until the optimizer is built.
    return optimizer.dynamic_scale.value if optimizer.built else optimizer.initial_scale


def variable_scope(model):
    """The scope to create a gradient feature's state variables in (the model's strategy)."""
    import contextlib

    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def snapshot_variables(model, variables) -> list:
    """Copies of the current values of some state variables (first replica's under a strategy)."""
    import tensorflow as tf

    return [tf.identity(v.value) for v in variables]


def function_variant(hub, kind: str) -> str:
    """``"host"`` when the function must take batches pulled on the host (a guard replays them,
    an observer times their arrival), else ``"graph"``: Keras's own builder, whose step pulls its
    batch from the tf.data iterator inside the graph (no host round trip per step)."""
    if kind != "train" or hub._call_guard is not None or hub.observers:
        return "host"
    return "graph"


def build_function(model, hub, kind: str, keep_state: bool):
    """A new ``train``/``test``/``predict`` function: for batches pulled on the host
    (:class:`_HostFunction`), or Keras's own ``_make_function`` of the hub's train step when
    nothing needs the batches on the host; TF variables are never donated, so ``keep_state``
    changes nothing. With a feature measured every n-th step on the host
    (:func:`schedules_steps_on_host`), one such function per set of measuring features, picked
    at every call (:func:`_scheduled_function`)."""
    step = {"train": model.train_step, "test": model.test_step, "predict": model.predict_step}[kind]

    def make():
        if function_variant(hub, kind) == "graph":
            return model._make_function(step)
        return _HostFunction(model, kind, step)

    if kind == "train":
        periods = hub.measure_periods()
        if any(period > 1 for period in periods):
            return _scheduled_function(hub, periods, make)
    return make()


def schedules_steps_on_host(model) -> bool:
    """Whether a feature measured every n-th step can have its steps picked on the host: one
    call of the train function is one step (``steps_per_execution == 1``). Elsewhere the
    compiled step counts the steps itself."""
    return int(getattr(model, "steps_per_execution", 1) or 1) == 1


def _scheduled_function(hub, periods: list[int], make):
    """``function(*args)`` that runs, at the fit's k-th call (one step each), a function built
    by ``make()`` and traced, at its first call, with the features whose period divides k (one
    function per set of them, each traced once); see the JAX adapter's ``_scheduled_step``."""
    features = hub.gradient_features
    variants: dict[tuple, object] = {}

    def bsguard_scheduled_function(*args):
        step = hub.steps_run = hub.steps_run + 1
        key = tuple(step % period == 0 for period in periods)
        function = variants.get(key)
        if function is None:
            function = variants[key] = make()
        try:
            with hub.measuring([f for f, measures in zip(features, key) if measures]):
                return function(*args)
        except BaseException:
            hub.steps_run = step - 1  # no step ran (the end of the data, or a failure)
            raise

    bsguard_scheduled_function.variants = variants
    return bsguard_scheduled_function


def _relaxed_spec(data):
    """The type spec of a batch structure with every tensor's leading (batch) dimension unknown,
    or None when a leaf is not a plain tensor (e.g. a tf.distribute per-replica value)."""
    import tensorflow as tf
    from keras import tree

    plain = True

    def relax(leaf):
        nonlocal plain
        if leaf is None or isinstance(leaf, (int, float, bool, str)):
            return leaf
        if isinstance(leaf, tf.Tensor) and not isinstance(leaf, tf.SparseTensor):
            shape = leaf.shape
            if shape.rank:
                return tf.TensorSpec([None] + shape.as_list()[1:], leaf.dtype)
            return tf.TensorSpec(shape, leaf.dtype)
        plain = False
        return leaf

    spec = tree.map_structure(relax, data)
    return spec if plain else None


class _HostFunction:
    """``model.train_function`` (or test/predict) for batches pulled on the host.

    What Keras's ``_make_function`` does on its Python-iterator path (``strategy.run`` of the step,
    ``reduce_per_replica``, ``tf.function(reduce_retracing=True, jit_compile=model.jit_compile)``,
    ``steps_per_execution`` batches per call), with one difference: the step is traced first for
    the batch's type spec with an unknown batch dimension, as Keras's in-graph ``tf.data`` path
    traces it. Traced for the static shape of a host batch (Keras's own Python path, and
    ``train_on_batch``), TensorFlow's graph optimizer folds batch-sized constants (the gradient
    of a mean over a B x B loss matrix is a B x B constant) at the first call, and its constant
    folding does not check its copy's allocation: under a real memory ceiling the process died
    with SIGSEGV (``tensor::DeepCopy`` from ``ConstantFold``) instead of raising
    ``ResourceExhaustedError``. With the batch dimension unknown there is nothing batch-sized to
    fold, and one trace serves every batch size (the split's micro-batches included).
    """

    def __init__(self, model, kind: str, step):
        import tensorflow as tf

        from keras.src.backend.tensorflow.trainer import reduce_per_replica

        self.model = model
        self.kind = kind
        strategy = model.distribute_strategy
        reduction = "concat" if kind == "predict" else "auto"

        @tf.autograph.experimental.do_not_convert
        def one_step_on_data(data):
            outputs = strategy.run(step, args=(data,))
            return reduce_per_replica(outputs, strategy, reduction=reduction)

        self._traced = not model.run_eagerly
        if self._traced:
            one_step_on_data = tf.function(one_step_on_data, reduce_retracing=True,
                                           jit_compile=bool(model.jit_compile))
        self._one_step = one_step_on_data
        self._prepared = False

    def run_one(self, data):
        """One step on one batch (a structure of tensors)."""
        import tensorflow as tf
        from keras import tree

        data = tree.map_structure(lambda leaf: None if isinstance(leaf, tf.experimental.Optional) else leaf, data)
        if self._traced and not self._prepared:
            self._prepared = True
            spec = _relaxed_spec(data)
            if spec is not None:
                self._one_step.get_concrete_function(spec)
        return self._one_step(data)

    def __call__(self, source):
        if self.kind == "predict":  # Keras's predict loop pulls the batches and hands a list
            outputs = [self.run_one(data) for data in source]
            return outputs[0] if len(outputs) == 1 else _concat(outputs)
        outputs = None
        for _, data in zip(range(self.model.steps_per_execution), source):
            outputs = self.run_one(data)
        if outputs is None:
            raise StopIteration
        return outputs


def _concat(outputs):
    import tensorflow as tf
    from keras import tree

    return tree.map_structure(lambda *parts: tf.concat(parts, axis=0), *outputs)


def distribution_key(model):
    """The model's ``tf.distribute`` strategy (functions are built for one)."""
    return id(model.distribute_strategy)


def share_state(new_variables, traced_variables) -> None:
    """Let each new Keras variable use the ``tf.Variable`` a cached step was traced with.

    A traced ``tf.function`` captured the ``tf.Variable`` objects themselves, so a new monitor's
    buffer (same shapes) would never be written. Its initial value is copied into the captured
    variable, which the new Keras variable then wraps (``KerasVariable._value``: private).
    """
    for new, traced in zip(new_variables, traced_variables):
        if new is traced or new._value is traced._value:
            continue
        traced._value.assign(new._value)
        new._value = traced._value


def split_unsupported_reason(model) -> str | None:
    """Why the train step cannot be split into micro-batches here (None: it can)."""
    if not has_default_train_step(model):
        return "the model overrides train_step, so its batch cannot be split into micro-batches"
    return None


def stateless_split_unsupported_reason(model) -> str | None:
    """Why a test or predict batch cannot be run as pieces here (None: it can)."""
    if model.distribute_strategy.num_replicas_in_sync > 1:
        return "under tf.distribute a test or predict batch is not split (each replica holds its own share)"
    return None


def is_end_of_data(error: BaseException) -> bool:
    import tensorflow as tf

    return isinstance(error, (StopIteration, tf.errors.OutOfRangeError))


def _state_snapshot(model):
    """Device-side copies of what a failed step may already have changed: the optimizer's step
    counters (TF runs a step's stateful ops as soon as their inputs are ready, so they can be
    incremented before the failing op ran) and the metrics (the loss tracker is updated before
    the gradient is computed). Tiny; no host sync."""
    optimizer = getattr(model, "optimizer", None)
    counters = [v for v in getattr(optimizer, "variables", []) if "int" in str(v.dtype)]
    variables = counters + list(model.metrics_variables)
    return variables, [v.value.read_value() if hasattr(v.value, "read_value") else v.value
                       for v in variables]


def _restore_snapshot(snapshot) -> None:
    variables, values = snapshot
    for variable, value in zip(variables, values):
        variable.assign(value)


class _Batches:
    """An iterator over batches already pulled on the host."""

    def __init__(self, batches):
        self._batches = list(batches)

    def __iter__(self):
        return self

    def __next__(self):
        if not self._batches:
            raise StopIteration
        return self._batches.pop(0)


def record_call(model, kind: str, args):
    """The call with its batches pulled on the host, so that a replay is exact, and the state a
    failed step may have changed."""
    from keras_bsguard.backends import CallRecord, leading_dim, scale_variable_in_place

    (source,) = args
    if kind == "predict":
        batches = list(source)
    else:
        # StopIteration ends the epoch exactly as Keras's own function does.
        batches = [next(source)]
        for _ in range(model.steps_per_execution - 1):
            try:
                batches.append(next(source))
            except StopIteration:
                break
    snapshot = _state_snapshot(model) if kind != "predict" else ([], [])

    def arguments():
        return (list(batches),) if kind == "predict" else (_Batches(batches),)

    def replay():
        _restore_snapshot(snapshot)
        return arguments()

    def batch_size():
        try:
            return leading_dim(batches[0])
        except (TypeError, ValueError):
            return None

    return CallRecord(kind, arguments(), replay, batch_size, scale_variable_in_place,
                      batches=lambda: list(batches), state=snapshot)


def run_split(model, kind: str, function, call, count: int):
    """A test or predict call with each batch run as ``count`` pieces, one step per piece."""
    from keras_bsguard.backends import batch_pieces

    if model.distribute_strategy.num_replicas_in_sync > 1:
        raise NotImplementedError("splitting a test/predict batch under tf.distribute")
    outputs = []
    for batch in call.batches():
        for piece in batch_pieces(batch, count):
            outputs.append(function([piece]) if kind == "predict" else function(_Batches([piece])))
    if kind == "test":
        return outputs[-1]
    return outputs[0] if len(outputs) == 1 else _concat(outputs)


def restore_after_failure(model, call) -> None:
    """Put back the optimizer counters and metrics the failed step may have changed (weights and
    optimizer slots change only in the update, after every gradient has been computed)."""
    if call.state:
        _restore_snapshot(call.state)


def make_trial_step(model):
    """``step(x, y, sample_weight) -> logs`` for ``find_batch_size``: what ``train_on_batch`` does,
    through a :class:`_HostFunction` (traced once for an unknown batch dimension, as ``fit``'s
    in-graph path traces it). ``train_on_batch`` traces the static shape of each trial, which a
    real allocation failure under a memory ceiling turned into a SIGSEGV (see ``_HostFunction``)."""
    import tensorflow as tf
    from keras import tree

    function = _HostFunction(model, "train", model.train_step)

    def step(x, y=None, sample_weight=None):
        model._maybe_symbolic_build(data_batch=(x, y, sample_weight))
        model.reset_metrics()
        data = tree.map_structure(lambda v: None if v is None else tf.convert_to_tensor(v), (x, y, sample_weight))
        return function(_Batches([data]))

    return step


def wait_for(outputs) -> None:
    """Errors of a step surface when its function returns: nothing to wait for."""


def replica_count(model) -> int:
    """Replicas of the model's ``tf.distribute`` strategy; each slices its own per-replica batch."""
    return int(model.distribute_strategy.num_replicas_in_sync)


def release_memory(model) -> None:
    import gc

    gc.collect()


def _micro_batched_step(model, hub, data):
    """The default step over ``hub.split_count()`` slices of the batch (see the JAX adapter).

    Each slice waits for the previous slice's gradients (control dependencies), so TF does not
    run the slices side by side and only one slice's activations are alive at a time. The batch
    size is usually known only at run time here: a batch smaller than the split (the last batch
    of an epoch) runs whole instead, so that no slice is empty (a layer's batch statistics, a
    loss's plain mean, over zero samples are NaN).
    """
    import tensorflow as tf
    from keras import tree
    from keras.src.losses import loss as loss_module
    from keras.src.trainers.data_adapters import data_adapter_utils

    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    first = next(i for i in tree.flatten(x) if i is not None)
    # Static slice bounds when the batch size is known at trace time (static shapes downstream).
    batch = first.shape[0] if first.shape[0] is not None else tf.shape(first)[0]
    count = hub.split_count()
    accumulate = hub.micro_mode == "accumulate"
    trainable_weights = model.trainable_weights
    if isinstance(batch, int):
        count = max(1, min(count, batch))
        final, unscaled_total, y_pred, squares = _run_slices(model, hub, x, y, sample_weight, batch,
                                                              count, accumulate)
        slices = count
    else:
        present = {}

        def run(slice_count):
            def branch():
                outputs = _run_slices(model, hub, x, y, sample_weight, batch, slice_count, accumulate)
                indices = [i for i, g in enumerate(outputs[0]) if g is not None]
                present.setdefault("indices", indices)
                return [outputs[0][i] for i in indices], *outputs[1:]
            return branch

        gradients, unscaled_total, y_pred, squares = tf.cond(batch >= count, run(count), run(1))
        final = [None] * len(trainable_weights)
        for index, gradient in zip(present.get("indices", []), gradients):
            final[index] = gradient
        slices = tf.where(batch >= count, count, 1)  # a batch run whole measures nothing
    model._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(unscaled_total),
                                     sample_weight=batch)
    extra_logs = {}
    if trainable_weights:
        split = (squares, slices, batch) if accumulate else None
        extra_logs = hub.split_records(_sum_over_replicas(final), trainable_weights,
                                       _loss_scale(model.optimizer), split)
        if accumulate:
            model.optimizer.apply_gradients(zip(final, trainable_weights))
    logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
    logs.update(extra_logs)
    return logs


def _run_slices(model, hub, x, y, sample_weight, batch, count: int, accumulate: bool):
    """Forward and backward over ``count`` non-empty slices: the weighted sum of their gradients
    (``accumulate``; else each slice applies its own and the last one's are returned), the
    weighted loss, the predictions and, when a feature wants them, the slices' squared gradient
    norms weighted by their share of the batch."""
    import tensorflow as tf
    from keras import tree

    split_norms = hub.wants_split_norms
    trainable_weights = model.trainable_weights
    squares = tf.zeros((), "float32")
    totals = None
    unscaled_total = tf.zeros((), "float32")
    y_preds = []
    previous = []
    gradients = [None] * len(trainable_weights)
    for index in range(count):
        start, stop = (index * batch) // count, ((index + 1) * batch) // count

        def cut(t, start=start, stop=stop):
            return None if t is None else t[start:stop]

        with tf.control_dependencies(previous):
            xs, ys = tree.map_structure(cut, x), tree.map_structure(cut, y)
            sws = None if sample_weight is None else tree.map_structure(cut, sample_weight)
            weight = tf.cast(stop - start, "float32") / tf.cast(batch, "float32")  # exact for uneven slices
            with tf.GradientTape() as tape:
                y_pred = model(xs, training=True) if model._call_has_training_arg else model(xs)
                loss = model._compute_loss(x=xs, y=ys, y_pred=y_pred, sample_weight=sws, training=True)
                scaled = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
            if trainable_weights:
                gradients = tape.gradient(scaled, trainable_weights)
                if accumulate:
                    weighted = [None if g is None else g * tf.cast(weight, g.dtype) for g in gradients]
                    totals = weighted if totals is None else [
                        a if g is None else (g if a is None else a + g) for a, g in zip(totals, weighted)]
                else:
                    model.optimizer.apply_gradients(zip(gradients, trainable_weights))
                previous = [g for g in gradients if g is not None]
                if split_norms:  # the slice's squared norm, weighted by its share of the batch
                    squares = squares + weight * tf.add_n(
                        [tf.reduce_sum(tf.square(tf.cast(g, "float32"))) for g in previous])
            unscaled_total = unscaled_total + tf.cast(loss, "float32") * weight
            y_preds.append(y_pred)
    y_pred = y_preds[0] if count == 1 else tree.map_structure(lambda *parts: tf.concat(parts, axis=0), *y_preds)
    final = totals if accumulate and totals is not None else gradients
    return final, unscaled_total, y_pred, squares


class _TimedIterator:
    """Stands in for the batch iterator; times each ``next`` (the host function pulls its
    batches on the host, ``steps_per_execution`` of them per call)."""

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
    """Time the input wait: the hub's function pulls each batch on the host (``_HostFunction``)."""
    (iterator,) = args
    return (_TimedIterator(iterator, on_data),)


DATA_WAIT_INSIDE_CALL = True


class _TraceCounter:
    """TF compile events are traces of the train step, counted by the hub's trace records."""

    def __init__(self, hub):
        self._hub = hub

    @property
    def count(self) -> int:
        return len(self._hub.trace_signatures)


def start_compile_counter(model, hub):
    return _TraceCounter(hub)


def stop_compile_counter(counter) -> None:
    pass


def device_memory(include_limit: bool = True) -> dict | None:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return None
    info = tf.config.experimental.get_memory_info("GPU:0")
    limit = None
    try:
        if not include_limit:
            raise LookupError
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        limit = details.get("memory_limit")  # not always reported
    except Exception:  # noqa: BLE001 - details vary by build; no limit then
        pass
    return {
        "in_use": info.get("current"),
        "peak": info.get("peak"),
        "limit": limit,
        "device": "GPU:0",
        "peak_resettable": True,
    }


def reset_device_peak() -> None:
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")
