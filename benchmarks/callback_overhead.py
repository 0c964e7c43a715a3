"""Wall-time overhead of StepTimeMonitor + GradientNormMonitor + MemoryMonitor on ``model.fit``.

Trains a small MLP on each backend (each in its own subprocess: Keras picks its backend at
import time) with and without the three monitors (and, unless ``--no-breakdown``, with each alone),
interleaved over several rounds, and prints the median ratio of steady-state epoch time
(monitored / plain). A second plain variant ("plain again") is timed the same way: its ratio to
plain is the noise floor of the machine, against which the overhead should be read. The ratio
of the fastest round of each variant is printed too (noise only ever adds time). Steady state:
the first epoch of each ``fit`` is left out, because the monitors install their instrumented
train step per ``fit`` and so trace/compile it once per ``fit`` (a one-time cost, reported
separately).

    python benchmarks/callback_overhead.py                       # jax, tensorflow, torch
    python benchmarks/callback_overhead.py --backends jax,torch --rounds 7 --steps 400

Not a test: numbers depend on the machine. Targets: <= 3% on a 2-core CPU, <= 2% on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _worker(args) -> dict:
    import keras
    import numpy as np

    from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    class EpochClock(keras.callbacks.Callback):
        async_safe = True  # epoch hooks only: Keras keeps async dispatch

        def __init__(self):
            super().__init__()
            self.epoch_seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_seconds.append(time.perf_counter() - self._start)

    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, args.features)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((args.features,)),
        keras.layers.Dense(args.hidden, activation="relu"),
        keras.layers.Dense(args.hidden, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    variants = {
        "plain": lambda: [],
        "all": lambda: [StepTimeMonitor(), GradientNormMonitor(), MemoryMonitor()],
        "plain_again": lambda: [],
    }
    if args.breakdown:
        variants.update(step_time=lambda: [StepTimeMonitor()],
                        gradient_norm=lambda: [GradientNormMonitor()],
                        memory=lambda: [MemoryMonitor()])

    def run(variant: str) -> tuple[float, float]:
        clock = EpochClock()
        callbacks = variants[variant]() + [clock]
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                  shuffle=False, callbacks=callbacks)
        total = time.perf_counter() - start
        return sum(clock.epoch_seconds[1:]), total - sum(clock.epoch_seconds[1:])

    for variant in variants:  # warm-up: compile every variant once
        run(variant)
    ratios, plain_s, monitored_s, first_epoch_extra, noise = [], [], [], [], []
    alone: dict[str, list[float]] = {
        v: [] for v in variants if v not in ("plain", "all", "plain_again")
    }
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        timings = {v: run(v) for v in order}
        plain_s.append(timings["plain"][0])
        noise.append(timings["plain_again"][0] / timings["plain"][0])
        monitored_s.append(timings["all"][0])
        ratios.append(timings["all"][0] / timings["plain"][0])
        first_epoch_extra.append(timings["all"][1] - timings["plain"][1])
        for variant in alone:
            alone[variant].append(timings[variant][0] / timings["plain"][0])
    return {
        "alone_ratio_median": {v: round(statistics.median(r), 4) for v, r in alone.items()},
        "backend": keras.backend.backend(),
        "device": _device_name(),
        "steps_per_epoch": args.steps,
        "timed_epochs": args.epochs - 1,
        "ratio_median": statistics.median(ratios),
        "noise_ratio_median": statistics.median(noise),
        "ratio_of_fastest": min(monitored_s) / min(plain_s),
        "ratios": [round(r, 4) for r in ratios],
        "plain_s_median": statistics.median(plain_s),
        "monitored_s_median": statistics.median(monitored_s),
        "per_fit_extra_s_median": statistics.median(first_epoch_extra),
    }


def _device_name() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (first not timed)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="time only plain vs all three (not each monitor alone)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    results = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker"]
        for option in ("rounds", "steps", "epochs", "batch_size", "features", "hidden"):
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
        if not args.breakdown:
            command.append("--no-breakdown")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{backend}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{backend:<11} {result['device']:<22} monitored/plain = {result['ratio_median']:.4f} "
            f"(+{(result['ratio_median'] - 1) * 100:.1f}%; rounds {result['ratios']}); "
            f"plain {result['plain_s_median']:.3f}s / {result['timed_epochs']} epochs of "
            f"{result['steps_per_epoch']} steps ({result['plain_s_median'] / result['timed_epochs'] / result['steps_per_epoch'] * 1e3:.2f} ms/step); "
            f"one-time per fit +{result['per_fit_extra_s_median']:.2f}s",
            flush=True,
        )
        print(f"{'':<11} fastest rounds: monitored/plain = {result['ratio_of_fastest']:.4f}; "
              f"noise floor (plain again / plain) = {result['noise_ratio_median']:.4f}")
        if result["alone_ratio_median"]:
            print(f"{'':<11} each alone: " + ", ".join(
                f"{name} {ratio:.3f}" for name, ratio in result["alone_ratio_median"].items()))
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
