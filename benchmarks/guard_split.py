"""Split k=2 and k=4 against k=1 at the same effective batch: throughput and peak memory.

    python benchmarks/guard_split.py                       # every installed backend, CPU-sized
    python benchmarks/guard_split.py --backends jax --size gpu

Each (backend, k) runs in its own process (peak-memory counters cannot be reset on every
backend), interleaved over ``--rounds`` rounds; medians are reported, and ratios against k=1.
Peak memory: the device's peak bytes where the backend reports them (GPU), else the process's
peak resident set on the host (coarse: it includes the framework itself). On JAX the compiled
step's own temporary-buffer estimate (XLA ``memory_analysis``: activations and gradients) is
printed too: it is what micro-batching shrinks.

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
class Clock(keras.callbacks.Callback):
    async_safe = True
    def on_train_batch_end(self, batch, logs=None):
        timings.append(time.perf_counter())
model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[guard, Clock()])
seconds = (timings[-1] - timings[1]) / (len(timings) - 2)  # steps after the compile/warm-up step
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
                             "source": source}))
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
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    result = subprocess.run([sys.executable, "-c", code, str(k), *map(str, size), "1"], env=env,
                            capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])["temp"]
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
        print(f"{'k':>3} {'samples/s':>12} {'vs k=1':>8} {'peak MiB':>10} {'vs k=1':>8} {'XLA temp MiB':>13}")
        for k, runs in samples.items():
            speed = statistics.median(s["samples_per_s"] for s in runs)
            peak = statistics.median(s["peak"] for s in runs)
            temp = _jax_temp_bytes(k, size) if backend == "jax" else None
            temp_text = f"{temp / 2**20:13.1f}" if temp else f"{'-':>13}"
            print(f"{k:>3} {speed:12.0f} {speed / base_speed:8.2f} {peak / 2**20:10.1f} {peak / base_peak:8.2f} {temp_text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
