"""Reproduce a real out-of-memory on a GPU and show what BatchSizeGuard does (not a test).

    KERAS_BACKEND=jax   python benchmarks/gpu_real_oom.py --batch 131072
    KERAS_BACKEND=torch python benchmarks/gpu_real_oom.py --batch 131072

The loss builds a batch x batch similarity matrix: at batch 131072 that is 64 GiB of float32 in
one step (plus its gradient), more than an 80 GB H100 holds. Without the guard the step fails;
with it, the same batch is retried as micro-batches until it fits. Prints what happened.
"""

from __future__ import annotations

import argparse
import time
import warnings

import keras
import numpy as np

from keras_bsguard import BatchSizeGuard, BatchSizeWarning


def pairwise_loss(y_true, y_pred):
    similarity = keras.ops.matmul(y_pred, keras.ops.transpose(y_pred))  # B x B
    return keras.ops.mean(keras.ops.square(similarity), axis=-1) + keras.ops.mean(
        keras.ops.square(y_pred - y_true), axis=-1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=131072)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-guard", action="store_true")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="tanh"), keras.layers.Dense(16)])
    model.compile(optimizer="adam", loss=pairwise_loss)
    x = np.random.default_rng(0).normal(size=(args.batch * args.steps, 32)).astype("float32")
    y = np.zeros((args.batch * args.steps, 16), "float32")
    guard = BatchSizeGuard(on_pressure=None)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            history = model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0,
                                callbacks=[] if args.no_guard else [guard])
        except Exception as error:  # noqa: BLE001 - the point is to show what happens
            print(f"fit raised {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            return 1
    seconds = time.perf_counter() - start
    weights_finite = all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    print(f"backend={keras.backend.backend()} batch={args.batch} steps={args.steps} seconds={seconds:.1f}")
    print(f"optimizer iterations={int(model.optimizer.iterations)} weights finite={weights_finite}")
    print(f"history micro_batches={history.history.get('micro_batches')} batch_size={history.history.get('batch_size')}")
    for warning in caught:
        if issubclass(warning.category, BatchSizeWarning):
            print("WARNING:", str(warning.message).replace("\n", " | ")[:600])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
