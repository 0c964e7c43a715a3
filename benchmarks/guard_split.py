"""Split k=2 and k=4 against k=1 at the same effective batch: throughput and peak memory.

    python benchmarks/guard_split.py                       # every installed backend, CPU-sized
    python benchmarks/guard_split.py --backends jax --size gpu

Each (backend, k) runs in its own process (peak-memory counters cannot be reset on every
backend), interleaved over ``--rounds`` rounds; medians are reported, and ratios against k=1.
Peak memory: the device's peak bytes where the backend reports them (GPU), else the process's
peak resident set on the host (coarse: it includes the framework itself, the weights, the
optimizer slots and the gradient accumulator, none of which a split can shrink).

Activation memory, what a split is meant to halve, is measured on its own:

* torch: the peak, during the real guarded steps, of the bytes autograd holds for the backward
  pass (``torch.autograd.graph.saved_tensors_hooks``: every tensor saved for backward counted
  once per storage while it is alive, the weights themselves left out);
* JAX: the residuals ``jax.vjp`` keeps for the backward pass of one micro-batch (the guarded
  step runs its micro-batches under ``lax.scan`` behind an optimization barrier: one micro-batch's
  residuals are alive at a time); XLA's own ``memory_analysis`` of the compiled guarded step
  (temporary bytes: activations, gradients and the accumulator) is printed beside it;
* TensorFlow: not measured ("-").

Target (issue #4): k=2 keeps at least 85% of the throughput while its activation memory halves.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys

SIZES = {  # batch, input width, hidden width, depth
    "cpu": (1024, 256, 1024, 3),
    "gpu": (16384, 1024, 4096, 4),
}

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import keras
from keras_bsguard import BatchSizeGuard
k, batch, width, hidden, depth, steps = (int(v) for v in sys.argv[1:7])
backend = keras.backend.backend()
keras.utils.set_random_seed(0)
layers = [keras.Input((width,))] + [keras.layers.Dense(hidden, activation="relu") for _ in range(depth)]
layers.append(keras.layers.Dense(1))
model = keras.Sequential(layers)
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).normal(size=(batch * (steps + 2), width)).astype("float32")
y = x[:, :1].copy()
guard = BatchSizeGuard(micro_batches=k, max_micro_batches=max(k, 1), on_pressure=None)
timings = []
activation_peak = None
hooks = None
if backend == "torch":
    import torch

    parameter_storages = {v.value.untyped_storage().data_ptr() for v in model.weights}
    live = {}  # storage pointer -> [bytes, how many saved references]
    counter = {"now": 0, "peak": 0}

    class _Saved:
        __slots__ = ("tensor", "key")

        def __init__(self, tensor):
            self.tensor = tensor
            storage = tensor.untyped_storage()
            self.key = storage.data_ptr()
            if self.key in parameter_storages:
                self.key = None
                return
            entry = live.setdefault(self.key, [storage.nbytes(), 0])
            if entry[1] == 0:
                counter["now"] += entry[0]
                counter["peak"] = max(counter["peak"], counter["now"])
            entry[1] += 1

        def __del__(self):
            if self.key is None:
                return
            entry = live[self.key]
            entry[1] -= 1
            if entry[1] == 0:
                counter["now"] -= entry[0]
                del live[self.key]

    hooks = torch.autograd.graph.saved_tensors_hooks(_Saved, lambda saved: saved.tensor)
    hooks.__enter__()
class Clock(keras.callbacks.Callback):
    async_safe = True
    def on_train_batch_end(self, batch, logs=None):
        timings.append(time.perf_counter())
model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[guard, Clock()])
seconds = (timings[-1] - timings[1]) / (len(timings) - 2)  # steps after the compile/warm-up step
if hooks is not None:
    hooks.__exit__(None, None, None)
    activation_peak = counter["peak"]
peak, estimate = None, None
if backend == "jax":
    import jax
    stats = jax.local_devices()[0].memory_stats()
    peak = stats.get("peak_bytes_in_use") if stats else None
elif backend == "torch":
    import torch
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated()
elif backend == "tensorflow":
    import tensorflow as tf
    if tf.config.list_logical_devices("GPU"):
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
source = "device"
if peak is None:
    peak, source = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "host RSS"
print("RESULT " + json.dumps({"seconds": seconds, "samples_per_s": batch / seconds, "peak": peak,
                             "source": source, "activations": activation_peak}))
"""


def _run(backend: str, k: int, size: tuple, steps: int) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    args = [sys.executable, "-c", CHILD, str(k), *map(str, size), str(steps)]
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{backend} k={k} failed:\n{result.stderr[-3000:]}")


def _jax_activation_bytes(k: int, size: tuple) -> int | None:
    """Bytes JAX's autodiff keeps for the backward pass of one micro-batch (``batch // k``
    samples): the residuals held by ``jax.vjp``'s backward function, the weights left out. The
    guarded step runs its micro-batches under ``lax.scan`` behind an optimization barrier, so
    one micro-batch's residuals are alive at a time."""
    code = CHILD.split("timings = []")[0] + r"""
import jax
model.optimizer.build(model.trainable_variables)
trainable = [v.value for v in model.trainable_variables]
non_trainable = [v.value for v in model.non_trainable_variables]
metrics = [v.value for v in model.metrics_variables]
optimizer_variables = [v.value for v in model.optimizer.variables]
n = batch // k
xs, ys = jax.numpy.asarray(x[:n]), jax.numpy.asarray(y[:n])

def loss(trainable):
    return model.compute_loss_and_updates(trainable, non_trainable, metrics, xs, ys, None,
                                          training=True,
                                          optimizer_variables=optimizer_variables)[0]

_, backward = jax.vjp(loss, trainable)
weights = {id(w) for w in trainable + non_trainable}
seen, total = set(), 0
for leaf in jax.tree_util.tree_leaves(backward):
    if hasattr(leaf, "nbytes") and id(leaf) not in weights and id(leaf) not in seen:
        seen.add(id(leaf))
        total += int(leaf.nbytes)
print("RESULT " + json.dumps({"residuals": total}))
"""
    return _jax_child_figure(code, "residuals", k, size)


def _jax_temp_bytes(k: int, size: tuple) -> int | None:
    """XLA's estimate of the compiled step's temporary buffers (activations, gradients)."""
    code = CHILD.split("timings = []")[0] + r"""
from keras_bsguard.backends import InstrumentedTrainStep
import jax
hub = InstrumentedTrainStep.attach(model, guard, call_guard=guard)
hub.set_micro_batches(k, "accumulate")
model.optimizer.build(model.trainable_variables)
state = (tuple(v.value for v in model.trainable_variables), tuple(v.value for v in model.non_trainable_variables),
         tuple(v.value for v in model.optimizer.variables), tuple(v.value for v in model.metrics_variables))
data = (x[:batch], y[:batch])
compiled = jax.jit(model.train_step).lower(state, data).compile()
print("RESULT " + json.dumps({"temp": compiled.memory_analysis().temp_size_in_bytes}))
"""
    return _jax_child_figure(code, "temp", k, size)


def _jax_child_figure(code: str, key: str, k: int, size: tuple) -> int | None:
    """Run a JAX measurement child for split ``k`` at ``size``; its ``RESULT`` figure ``key``."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    result = subprocess.run([sys.executable, "-c", code, str(k), *map(str, size), "1"], env=env,
                            capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])[key]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    size = SIZES[args.size]
    backends = [b for b in args.backends.split(",") if importlib.util.find_spec({"tensorflow": "tensorflow"}.get(b, b))]
    print(f"batch {size[0]}, MLP {size[1]}->{size[2]}x{size[3]}->1, {args.rounds} rounds x {args.steps} steps, medians")
    for backend in backends:
        samples: dict[int, list[dict]] = {1: [], 2: [], 4: []}
        for _ in range(args.rounds):
            for k in samples:
                samples[k].append(_run(backend, k, size, args.steps))
        base_speed = statistics.median(s["samples_per_s"] for s in samples[1])
        base_peak = statistics.median(s["peak"] for s in samples[1])
        print(f"\n{backend} ({samples[1][0]['source']} peak)")
        print(f"{'k':>3} {'samples/s':>12} {'vs k=1':>8} {'peak MiB':>10} {'vs k=1':>8} "
              f"{'activations MiB':>16} {'vs k=1':>8}"
              + (f" {'XLA temp MiB':>13}" if backend == "jax" else ""))
        base_activations = None
        for k, runs in samples.items():
            speed = statistics.median(s["samples_per_s"] for s in runs)
            peak = statistics.median(s["peak"] for s in runs)
            if backend == "jax":
                activations = _jax_activation_bytes(k, size)
            else:
                measured = [s["activations"] for s in runs if s.get("activations") is not None]
                activations = statistics.median(measured) if measured else None
            if k == 1:
                base_activations = activations
            if activations:
                share = f"{activations / base_activations:8.2f}" if base_activations else f"{'-':>8}"
                activation_text = f"{activations / 2**20:16.1f} {share}"
            else:
                activation_text = f"{'-':>16} {'-':>8}"
            temp = _jax_temp_bytes(k, size) if backend == "jax" else None
            print(f"{k:>3} {speed:12.0f} {speed / base_speed:8.2f} {peak / 2**20:10.1f} "
                  f"{peak / base_peak:8.2f} {activation_text}"
                  + (f" {temp / 2**20:13.1f}" if temp else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
