"""Child process of ``test_real_memory_ceiling.py``: training under a real memory ceiling.

Run as ``python ceiling_child.py BATCH MARGIN_MIB [--no-guard]`` with ``KERAS_BACKEND`` set. It
builds a small model whose loss holds a ``BATCH x BATCH`` matrix (as a contrastive loss does; its
term is multiplied by zero so that the weights do not depend on how the batch is split), warms
the process up (threads, allocator pools), then lowers the soft ``RLIMIT_DATA`` (private writable
memory: every heap and anonymous mapping) to what the process uses plus ``MARGIN_MIB``: a train or
validation step at ``BATCH`` does not fit, at ``BATCH / 2`` it does. Under that ceiling it runs
``fit`` with ``BatchSizeGuard`` (validation at the training batch size), ``evaluate``,
``predict`` and ``find_batch_size``; then it lifts the ceiling and trains an unconstrained
reference from the same weights. It prints one ``RESULT {json}`` line.

A process that crashes (TensorFlow's SIGSEGV was the reason for this test) prints no result and
exits with a signal.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import warnings

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()


def pairwise_mse(y_true, y_pred):
    """Per-sample squared error plus zero times a contrastive batch x batch term: the B x B
    similarity matrix is materialised (two reductions read it) in the train and test steps,
    while the weights do not depend on how the batch is split."""
    similarity = ops.matmul(y_pred, ops.transpose(y_pred))
    contrastive = ops.logsumexp(similarity, axis=-1)
    return ops.mean(ops.square(y_true - y_pred), axis=-1) + 0.0 * contrastive


def build(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=pairwise_mse, metrics=["mae"])
    return model


def data(n: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, np.tanh(x[:, :4]).astype("float32")


def data_mib() -> float:
    """Private writable memory of this process (``VmData``: what ``RLIMIT_DATA`` limits)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmData")


def set_ceiling(mib: float | None) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = hard if mib is None else int(mib * 2**20)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def weights(model) -> list:
    return [np.asarray(w) for w in model.get_weights()]


def main() -> None:
    batch, margin = int(sys.argv[1]), float(sys.argv[2])
    guarded = "--no-guard" not in sys.argv
    warnings.simplefilter("ignore")
    from keras_bsguard import BatchSizeGuard, find_batch_size

    x, y = data(2 * batch)
    x_val, y_val = x[:batch], y[:batch]
    # Warm-up at a small batch on a throwaway model: thread pools and allocator arenas exist
    # before the ceiling (a thread that cannot get its stack is not what this test is about).
    warm = build(1)
    warm.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0, validation_data=(x[:128], y[:128]),
             callbacks=[BatchSizeGuard()])
    warm.predict(x[:128], batch_size=64, verbose=0)
    model = build()
    start = weights(model)
    model.predict(x[:8], verbose=0)
    baseline = data_mib()
    set_ceiling(baseline + margin)
    result = {"baseline_mib": baseline, "ceiling_mib": baseline + margin}
    guard = BatchSizeGuard(max_micro_batches=8)
    callbacks = [guard] if guarded else []
    try:
        history = model.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0,
                            validation_data=(x_val, y_val), callbacks=callbacks)
        result["fit"] = "finished"
        result["history"] = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    except Exception as error:  # noqa: BLE001 - the outcome is the result
        result["fit"] = f"raised {type(error).__name__}"
    result["train_micro_batches"] = guard.micro_batches
    result["eval_micro_batches"] = dict(guard.eval_micro_batches)
    try:
        result["iterations"] = int(ops.convert_to_numpy(model.optimizer.iterations))
        trained = weights(model)
        result["readable"] = all(np.all(np.isfinite(w)) for w in trained)
    except Exception as error:  # noqa: BLE001
        trained = None
        result["readable"] = f"raised {type(error).__name__}"
    if guarded:
        result["evaluate"] = [float(v) for v in model.evaluate(x_val, y_val, batch_size=batch, verbose=0,
                                                                 callbacks=[guard])]
        predictions = model.predict(x_val, batch_size=batch, verbose=0, callbacks=[guard])
        result["predict_shape"] = list(predictions.shape)
        before = weights(model)
        search = find_batch_size(model, x, y, start_batch_size=batch // 8, max_batch_size=4 * batch,
                                 max_trials=6)
        result["find_batch_size"] = search.batch_size
        result["find_batch_size_failed"] = [t.batch_size for t in search.trials if not t.fits]
        result["find_batch_size_restored"] = all(np.array_equal(a, b) for a, b in zip(before, weights(model)))
    set_ceiling(None)
    reference = build()
    reference.set_weights(start)
    reference_history = reference.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0,
                                      validation_data=(x_val, y_val))
    result["reference_iterations"] = int(ops.convert_to_numpy(reference.optimizer.iterations))
    result["reference_history"] = {k: [float(v) for v in vs] for k, vs in reference_history.history.items()}
    if trained is not None:
        result["max_weight_error"] = max(
            float(np.max(np.abs(a - b) / (np.abs(b) + 1e-3))) for a, b in zip(trained, weights(reference)))
        if guarded:
            result["evaluate_reference"] = [float(v) for v in reference.evaluate(x_val, y_val, batch_size=batch,
                                                                                 verbose=0)]
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # no interpreter teardown under an odd heap


if __name__ == "__main__":
    main()
