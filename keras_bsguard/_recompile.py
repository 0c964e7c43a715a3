"""Why the train step was compiled again: the cause named by a ``RecompileWarning``.

Input shapes are recorded at each trace of the step (``InstrumentedTrainStep.trace_signatures``).
A smaller batch (on TensorFlow: a batch dimension relaxed to ``None`` by the retrace) is "the last
partial batch" only when the call that compiled covers the epoch's last batch index; a smaller
batch anywhere else is a changing batch shape.

    >>> full, small = (((32, 8), (32, 1)), ((5, 8), (5, 1)))
    >>> compile_cause([full, small], rebuilt=False, batch=31, last_batch=31)[0]
    'partial'
    >>> compile_cause([full, small], rebuilt=False, batch=7, last_batch=31)[0]
    'shape'
"""

from __future__ import annotations

TRY = {
    "shape": [
        "pad or bucket inputs to a few fixed shapes",
        "on JAX, keep sequence lengths from a small set so each compiles once",
    ],
    "partial": [
        "drop the last partial batch (tf.data .batch(..., drop_remainder=True), "
        "PyDataset/DataLoader drop_last)",
        "or choose steps_per_epoch so every batch is full",
    ],
    "python": [
        "pass changing numbers as tensors/Variables, not Python values",
        "keep Python objects the step reads constant during fit",
    ],
    "rebuilt": [
        "do not call compile() or make_train_function(force=True) inside a callback; "
        "change a keras.Variable (loss weight, learning rate) instead",
    ],
    "unknown": ["log the input shapes of each batch", "set jax_log_compiles / "
                "TORCH_LOGS=recompiles to see what changed"],
}


def compile_cause(signatures: list, rebuilt: bool, batch: int | None = None,
                  last_batch: int | None = None) -> tuple[str, str]:
    """``(key, explanation)`` for the latest compile. ``batch``: the index (in its epoch) of the
    last batch the compiling call ran; ``last_batch``: the epoch's last index, if known."""
    if rebuilt:
        return "rebuilt", (
            "the train function was rebuilt during fit (compile(), "
            "make_train_function(force=True) or a changed jit_compile in a callback)"
        )
    if len(signatures) < 2:
        return "unknown", "input shapes or guarded Python values changed"
    new, earlier = signatures[-1], signatures[:-1]
    if new in earlier:
        return "python", (
            "the step was retraced for input shapes it had already seen: Python values in "
            "the step (a Python number or object read by the loss or a layer) changed"
        )
    reference = earlier[-1]
    if _only_leading_dim_smaller(new, reference):
        where = _where(batch, last_batch)
        if batch is not None and last_batch is not None and batch >= last_batch:
            return "partial", (
                f"the last partial batch: batch dimension {_lead(new)} instead of "
                f"{_lead(reference)} at the epoch's last batch{where}"
            )
        return "shape", (
            f"changing batch shape: a smaller batch ({_lead(new)} instead of {_lead(reference)})"
            f"{where}, which is not the epoch's last batch"
            if last_batch is not None else
            f"changing batch shape: a smaller batch ({_lead(new)} instead of {_lead(reference)})"
            f"{where}; the epoch's length is not known yet"
        )
    return "shape", f"changing batch shape: {_shapes(new)} after {_shapes(reference)}"


def _where(batch, last_batch) -> str:
    if batch is None:
        return ""
    return f" (batch {batch + 1} of {last_batch + 1})" if last_batch is not None else f" (batch {batch + 1})"


def _only_leading_dim_smaller(new, reference) -> bool:
    if len(new) != len(reference):
        return False
    smaller = False
    for a, b in zip(new, reference):
        if len(a) != len(b) or not a or a[0] == "py":
            return False
        if tuple(a[1:]) != tuple(b[1:]):
            return False
        if a[0] is not None and b[0] is not None and a[0] < b[0]:
            smaller = True
        elif a[0] is None and b[0] is not None:
            smaller = True  # TF retraces a new batch size with the dimension relaxed to None
        elif a[0] != b[0]:
            return False
    return smaller


def _lead(signature) -> object:
    return signature[0][0] if signature and signature[0] else None


def _shapes(signature) -> str:
    return ", ".join(str(tuple(s)) for s in signature[:3])
