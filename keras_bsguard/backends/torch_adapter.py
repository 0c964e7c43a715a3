"""PyTorch adapter: every private Keras/torch detail the monitors rely on, in one place.

Checked against keras 3.15.1 (``keras/src/backend/torch/trainer.py``) with torch 2.13.

What it relies on:

* ``TorchTrainer.train_step(data)``: ``_call_has_training_arg``, ``_compute_loss`` and
  ``_loss_tracker`` (private), ``zero_grad``, ``optimizer.scale_loss`` / ``apply`` and
  ``compute_metrics`` (public). Gradients are read from ``variable.value.grad``.
* ``make_train_function(force=True)`` wraps ``self.train_step`` (an instance attribute overrides
  it), under ``torch.compile`` when ``jit_compile`` is on; ``train_function(data)`` takes a batch
  that the fit loop pulled *before* ``on_train_batch_begin``.
* Recompiles under ``jit_compile=True``: ``torch._dynamo.utils.counters["stats"]["unique_graphs"]``
  (private to torch; read only when the model is compiled).
* ``torch._foreach_norm`` for the per-tensor gradient norms on a GPU (one call for all tensors).
* ``torch.cuda.memory_allocated`` / ``max_memory_allocated`` / ``reset_peak_memory_stats`` /
  ``mem_get_info``.
"""

from __future__ import annotations

# Imported once here, not in the per-step functions: this module is only imported when Keras runs
# on torch (torch and keras are loaded already), and an import statement inside a function costs
# microseconds on every step.
import torch
from keras import tree
from keras.optimizers import LossScaleOptimizer
from keras.src.trainers.data_adapters import data_adapter_utils

KERAS_CHECKED_AGAINST = "3.15.1"
# Whether the batch a step sees is the global batch (sharded by the backend) or one replica's.
BATCH_IS_GLOBAL = True
BACKEND = "torch"


def _trainer_class():
    from keras.src.backend.torch.trainer import TorchTrainer

    return TorchTrainer


def has_default_train_step(model) -> bool:
    return getattr(type(model), "train_step", None) is _trainer_class().train_step


def is_compiled(model) -> bool:
    return bool(model.jit_compile) and not model.run_eagerly


def unsupported_reason(model) -> str | None:
    return None


def install_train_step(model, hub) -> None:
    original = model.train_step
    use_default_step = has_default_train_step(model)

    def bsguard_train_step(data):
        # No trace record here: in eager torch this body runs every step, and under
        # torch.compile a Python side effect would be replayed; recompiles come from dynamo.
        if not use_default_step or not hub.needs_instrumented_step:
            return original(data)
        if hub.split_count() > 1 and not is_compiled(model):
            return _micro_batched_step(model, hub, data)
        return _instrumented_default_step(model, hub, data)

    object.__setattr__(model, "train_step", bsguard_train_step)


def uninstall_train_step(model) -> None:
    model.__dict__.pop("train_step", None)


def _instrumented_default_step(model, hub, data):
    """``TorchTrainer.train_step`` of keras 3.15.1, with gradient features before apply."""
    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
    model.zero_grad()
    loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    model._loss_tracker.update_state(
        loss, sample_weight=next(i for i in tree.flatten(x) if i is not None).shape[0]
    )
    if model.optimizer is not None:
        loss = model.optimizer.scale_loss(loss)
    extra_logs = {}
    if model.trainable_weights:
        loss.backward()
        trainable_weights = model.trainable_weights[:]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            extra_logs = hub.gradient_records(
                gradients, trainable_weights, _loss_scale(model.optimizer)
            )
            model.optimizer.apply(gradients, trainable_weights)
    logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
    logs.update(extra_logs)
    return logs


def squared_norms(grads) -> list:
    """Per-tensor squared L2 norms in float32 (0-d tensors), in as few torch calls as the device
    allows: see :func:`_squares`."""
    return list(_squares(grads).unbind())


def global_norm(grads):
    """The float32 global L2 norm of the gradients (a 0-d tensor)."""
    return _squares(grads).sum().sqrt()


def _squares(grads):
    """The squared norms of ``grads`` stacked into one float32 vector.

    On a GPU, one fused ``torch._foreach_norm`` call. On a CPU, one ``torch.dot`` per tensor:
    the CPU ``_foreach_norm`` runs a parallel (OpenMP) reduction per tensor, and on a 2-core
    machine each fork/join competes with the step's own threads. Measured inside ``fit`` on
    ``benchmarks/callback_overhead.py``'s MLP (GradientNormMonitor alone, interleaved in one
    run): +5.5% of the step with ``_foreach_norm`` against +2.5% with the single-threaded BLAS
    dots; later runs of the dots gave +2.8% to +4.0%.
    """
    grads = [g if g.dtype == torch.float32 else g.float() for g in grads]
    if grads and grads[0].is_cuda:
        return torch.stack(torch._foreach_norm(grads, 2)).square()
    flat = [g.reshape(-1) for g in grads]
    return torch.stack([torch.dot(f, f) for f in flat])


def step_runs_eagerly(model) -> bool:
    """Whether the step's Python body runs at every step (no ``torch.compile``)."""
    return not is_compiled(model)


def write_slot(variable, slot, value) -> None:
    """``variable[slot] = value`` in place (``slot=None``: fill), one torch call."""
    with torch.no_grad():
        if slot is None:
            variable.value.fill_(value)
        else:
            variable.value[slot] = value


def _loss_scale(optimizer):
    if not isinstance(optimizer, LossScaleOptimizer):
        return None
    # As LossScaleOptimizer.scale_loss does: the initial scale until the optimizer is built.
    return optimizer.dynamic_scale.value if optimizer.built else optimizer.initial_scale


def snapshot_variables(model, variables) -> list:
    """Copies of the current values of some state variables (asynchronous on a GPU)."""
    return [v.value.detach().clone() for v in variables]


def build_function(model, hub, kind: str, keep_state: bool):
    """A new ``train``/``test``/``predict`` function, as Keras's ``make_*_function`` builds it
    (torch parameters are never donated: ``keep_state`` changes nothing). The step is looked up
    on the model at every call, as Keras does, so eager torch runs the hub's installed step with
    its current settings."""
    if kind == "train":
        def one_step_on_data(data):
            return model.train_step(data[0])
    elif kind == "test":
        def one_step_on_data(data):
            with torch.no_grad():
                return model.test_step(data[0])
    else:
        def one_step_on_data(data):
            with torch.no_grad():
                return model.predict_step(data[0])
    if model._should_torch_compile():
        return torch.compile(one_step_on_data)
    return one_step_on_data


def function_variant(hub, kind: str):
    """One kind of function serves every caller here."""
    return None


def distribution_key(model):
    return None


def share_state(new_variables, traced_variables) -> None:
    """Eager steps read their state at every call: nothing to share. Under ``torch.compile`` the
    graph guards on the variables it read and recompiles for new ones."""


def split_unsupported_reason(model) -> str | None:
    """Why the train step cannot be split into micro-batches here (None: it can)."""
    if not has_default_train_step(model):
        return "the model overrides train_step, so its batch cannot be split into micro-batches"
    if is_compiled(model):
        return "the step runs under torch.compile (jit_compile=True), which the split does not support"
    return None


def stateless_split_unsupported_reason(model) -> str | None:
    """Why a test or predict batch cannot be run as pieces here (None: it can)."""
    return None


def is_end_of_data(error: BaseException) -> bool:
    return isinstance(error, StopIteration)


def _metrics_snapshot(model):
    variables = list(model.metrics_variables)
    return variables, [v.value.detach().clone() for v in variables]


def record_call(model, kind: str, args):
    """The torch fit loop hands the batch in; a replay hands it in again, with the metrics as
    they were before the failed step (the loss tracker is updated before the backward pass)."""
    from keras_bsguard.backends import CallRecord, leading_dim, scale_variable_in_place

    snapshot = _metrics_snapshot(model) if kind != "predict" else ([], [])

    def replay():
        _restore(snapshot)
        return args

    def batch_size():
        try:
            return leading_dim(args[0])
        except (TypeError, ValueError):
            return None

    return CallRecord(kind, args, replay, batch_size, scale_variable_in_place,
                      batches=lambda: list(args[0]), state=snapshot)


def _restore(snapshot) -> None:
    variables, values = snapshot
    with torch.no_grad():
        for variable, value in zip(variables, values):
            variable.value.copy_(value)


def run_split(model, kind: str, function, call, count: int):
    """A test or predict call with its batch run as ``count`` pieces, one step per piece."""
    from keras_bsguard.backends import batch_pieces

    outputs = [function([piece]) for batch in call.batches() for piece in batch_pieces(batch, count)]
    if kind == "test":
        return outputs[-1]
    return tree.map_structure(lambda *parts: torch.cat(parts, dim=0), *outputs)


def restore_after_failure(model, call) -> None:
    """Metrics as before the failed step, its gradients dropped (the optimizer never ran)."""
    if call.state:
        _restore(call.state)
    model.zero_grad(set_to_none=True)


def make_trial_step(model):
    """``step(x, y, sample_weight) -> logs`` for ``find_batch_size``: ``train_on_batch`` (Keras's
    own train function, which compiles once per trial size)."""

    def step(x, y=None, sample_weight=None):
        return model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)

    return step


def wait_for(outputs) -> None:
    """Errors of a step surface when its function returns: nothing to wait for."""


def replica_count(model) -> int:
    return 1


def release_memory(model) -> None:
    """Drop the failed step's gradients and cached blocks before the retry."""
    import gc

    model.zero_grad(set_to_none=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _micro_batched_step(model, hub, data):
    """The default step over ``hub.split_count()`` slices (see the JAX adapter): backward per
    slice, so only one slice's graph is alive; gradients accumulate in ``.grad``."""
    from keras_bsguard.backends import leading_dim, micro_batch_bounds

    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
    batch = leading_dim((x, y, sample_weight))
    accumulate = hub.micro_mode == "accumulate"
    split_norms = hub.wants_split_norms
    trainable_weights = model.trainable_weights[:]
    model.zero_grad()
    unscaled_total = 0.0
    y_preds = []
    gradients = []
    totals = None  # with split_norms: the weighted sum of the slices' gradients
    squares = torch.zeros((), dtype=torch.float32)
    bounds = micro_batch_bounds(batch, hub.split_count())
    for start, stop in bounds:
        def cut(t, start=start, stop=stop):
            return None if t is None else t[start:stop]

        xs, ys = tree.map_structure(cut, x), tree.map_structure(cut, y)
        sws = None if sample_weight is None else tree.map_structure(cut, sample_weight)
        weight = (stop - start) / batch
        y_pred = model(xs, training=True) if model._call_has_training_arg else model(xs)
        loss = model._compute_loss(x=xs, y=ys, y_pred=y_pred, sample_weight=sws, training=True)
        scaled = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
        if trainable_weights and split_norms:
            # Each slice's own gradient (fresh .grad tensors), its squared norm, then the
            # weighted sum kept apart from .grad.
            model.zero_grad()
            scaled.backward()
            grads = [v.value.grad for v in trainable_weights]
            present = [g for g in grads if g is not None]
            with torch.no_grad():
                if present:
                    squares = squares.to(present[0].device) + weight * _squares(present).sum()
                if totals is None:
                    totals = [None if g is None else g * weight for g in grads]
                else:
                    totals = [t if g is None else (g * weight if t is None else t.add_(g, alpha=weight))
                              for t, g in zip(totals, grads)]
        elif trainable_weights:
            if not accumulate:
                model.zero_grad()
            (scaled * weight if accumulate else scaled).backward()
            if not accumulate:
                gradients = [v.value.grad for v in trainable_weights]
                with torch.no_grad():
                    model.optimizer.apply(gradients, trainable_weights)
        unscaled_total = unscaled_total + loss.detach() * weight
        y_preds.append(tree.map_structure(lambda t: t.detach(), y_pred))
    model._loss_tracker.update_state(unscaled_total, sample_weight=batch)
    extra_logs = {}
    if trainable_weights:
        if totals is not None:
            for variable, total in zip(trainable_weights, totals):
                variable.value.grad = total
        gradients = [v.value.grad for v in trainable_weights]
        split = (squares, len(bounds), batch) if accumulate else None
        with torch.no_grad():
            extra_logs = hub.split_records(gradients, trainable_weights, _loss_scale(model.optimizer), split)
            if accumulate:
                model.optimizer.apply(gradients, trainable_weights)
    y_pred = tree.map_structure(lambda *parts: torch.cat(parts, dim=0), *y_preds)
    logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
    logs.update(extra_logs)
    return logs


def wrap_data_source(model, args, on_data):
    """The torch fit loop pulls the batch before ``on_train_batch_begin``: nothing to wrap."""
    return args


# Input wait is the gap between one call's return and the next on_train_batch_begin.
DATA_WAIT_INSIDE_CALL = False


class _DynamoCounter:
    def __init__(self, model):
        self._compiled = is_compiled(model)

    @property
    def count(self) -> int:
        if not self._compiled:
            return 0
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])


def start_compile_counter(model, hub):
    return _DynamoCounter(model)


def stop_compile_counter(counter) -> None:
    pass


def device_memory(include_limit: bool = True) -> dict | None:
    """Allocated and peak-allocated bytes of the current CUDA device; the card's total memory as
    the limit (``mem_get_info``, a driver query, only when ``include_limit``)."""
    if not torch.cuda.is_available():
        return None
    device = torch.cuda.current_device()
    limit = torch.cuda.mem_get_info(device)[1] if include_limit else None
    return {
        "in_use": torch.cuda.memory_allocated(device),
        "peak": torch.cuda.max_memory_allocated(device),
        "limit": limit,
        "device": f"cuda:{device}",
        "peak_resettable": True,
    }


def reset_device_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
