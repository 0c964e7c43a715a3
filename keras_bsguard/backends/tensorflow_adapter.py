"""TensorFlow adapter: every private Keras/TF detail the monitors rely on, in one place.

Checked against keras 3.15.1 (``keras/src/backend/tensorflow/trainer.py``) with tensorflow 2.21.

What it relies on:

* ``TensorFlowTrainer.train_step(data)``: ``_call_has_training_arg``, ``_compute_loss`` and
  ``_loss_tracker`` (private), ``optimizer.scale_loss`` / ``apply_gradients`` and
  ``compute_metrics`` (public); under ``tf.distribute`` the step runs once per replica with the
  loss divided by the replica count, and the optimizer sums the replicas' gradients.
* ``make_train_function(force=True)`` wraps ``self.train_step`` (bound at make time, so an
  instance attribute overrides it). ``train_function(iterator)`` takes a ``tf.data`` iterator
  (then the batch is pulled inside the graph) or any Python iterator (then it loops over
  ``steps_per_execution`` batches in Python, calling the compiled one-step function).
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
        if hub.micro_batches > 1:
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


def rebuild_train_function(model, keep_state: bool = False) -> None:
    model.make_train_function(force=True)  # TF variables are never donated: nothing to keep


def record_call(model, args):
    """The call with its batches pulled on the host, so that a replay is exact.

    Keras's train function runs any Python iterator through its compiled one-step function
    (the in-graph ``tf.data`` loop could not be replayed once it has consumed a batch).
    """
    from keras_bsguard.backends import CallRecord, leading_dim, scale_variable_in_place

    (iterator,) = args
    batches = [next(iterator)]  # StopIteration ends the epoch exactly as Keras's own function does
    for _ in range(model.steps_per_execution - 1):
        try:
            batches.append(next(iterator))
        except StopIteration:
            break

    # TF runs a step's stateful ops as soon as their inputs are ready: the optimizer's step
    # counters can have been incremented before the failing op ran. Keep their values (a
    # device-side copy, no host sync) and put them back before a re-run.
    counters = [v for v in getattr(model.optimizer, "variables", []) if "int" in str(v.dtype)]
    saved = [v.value.read_value() if hasattr(v.value, "read_value") else v.value for v in counters]

    def replay():
        for variable, value in zip(counters, saved):
            variable.assign(value)
        return (iter(list(batches)),)

    def batch_size():
        try:
            return leading_dim(batches[0])
        except (TypeError, ValueError):
            return None

    return CallRecord((iter(list(batches)),), replay, batch_size, scale_variable_in_place)


def wait_for(outputs) -> None:
    """Errors of a step surface when its function returns: nothing to wait for."""


def replica_count(model) -> int:
    """Replicas of the model's ``tf.distribute`` strategy; each slices its own per-replica batch."""
    return int(model.distribute_strategy.num_replicas_in_sync)


def release_memory(model) -> None:
    import gc

    gc.collect()


def _micro_batched_step(model, hub, data):
    """The default step over ``hub.micro_batches`` slices of the batch (see the JAX adapter).

    Each slice waits for the previous slice's gradients (control dependencies), so TF does not
    run the slices side by side and only one slice's activations are alive at a time.
    """
    import tensorflow as tf
    from keras import tree
    from keras.src.losses import loss as loss_module
    from keras.src.trainers.data_adapters import data_adapter_utils

    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    first = next(i for i in tree.flatten(x) if i is not None)
    # Static slice bounds when the batch size is known at trace time (static shapes downstream).
    batch = first.shape[0] if first.shape[0] is not None else tf.shape(first)[0]
    count = hub.micro_batches
    accumulate = hub.micro_mode == "accumulate"
    trainable_weights = model.trainable_weights
    totals = None
    unscaled_total = 0.0
    y_preds = []
    previous = []
    gradients = []
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
            unscaled_total = unscaled_total + tf.cast(loss, "float32") * weight
            y_preds.append(y_pred)
    model._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(unscaled_total),
                                     sample_weight=batch)
    extra_logs = {}
    if trainable_weights:
        final = totals if accumulate else gradients
        extra_logs = hub.gradient_logs(_sum_over_replicas(final), trainable_weights, _loss_scale(model.optimizer))
        if accumulate:
            model.optimizer.apply_gradients(zip(totals, trainable_weights))
    y_pred = tree.map_structure(lambda *parts: tf.concat(parts, axis=0), *y_preds)
    logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
    logs.update(extra_logs)
    return logs


def reset_train_function(model) -> None:
    model.train_function = None


class _OneBatch:
    """An iterator over exactly one batch, already pulled (and timed) on the host."""

    def __init__(self, batch):
        self._batch = [batch]

    def __iter__(self):
        return self

    def __next__(self):
        if not self._batch:
            raise StopIteration
        return self._batch.pop()


def wrap_data_source(model, args, on_data):
    """With ``steps_per_execution == 1``, pull the batch on the host to time the input wait.

    Keras's train function accepts any Python iterator and then calls its compiled one-step
    function on the batch, which is what the in-graph path does for one step. With
    ``steps_per_execution > 1`` the batches are pulled inside the graph loop and are left alone
    (input wait is then counted as step time).
    """
    (iterator,) = args
    if model.steps_per_execution != 1:
        return args
    start = time.perf_counter()
    batch = next(iterator)  # StopIteration ends the epoch exactly as Keras's own function does
    ready = time.perf_counter()
    on_data(ready - start, ready)
    return (_OneBatch(batch),)


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
