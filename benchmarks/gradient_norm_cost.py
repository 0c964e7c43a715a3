"""Where GradientNormMonitor's per-step cost goes: the norm itself, alone and inside ``fit``.

For each backend (one subprocess each), on the MLP of ``callback_overhead.py``:

* **alone**: the backend's norm function (``squared_norms`` summed; jitted on JAX, eager on torch,
  not measured on TensorFlow) on random gradients of the MLP's shapes, best of several loops,
  less the cost of calling the same jitted function that returns one element;
* **inside fit**, interleaved over many short rounds, median ratio of steady-state epoch time to a
  plain fit: GradientNormMonitor as shipped, and GradientNormMonitor with its per-step record
  replaced by nothing (the instrumented train step, the buffer and its periodic reads all stay;
  only the norm and its write go). The difference of the two is the norm's cost in ``fit``.

    python benchmarks/gradient_norm_cost.py                    # jax, tensorflow, torch
    python benchmarks/gradient_norm_cost.py --backends jax --rounds 31

Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from _workers import run_worker

SHAPES = [(64, 512), (512,), (512, 512), (512,), (512, 10), (10,)]


def _norm_alone_seconds(backend: str) -> float | None:
    """Best time of the norm over gradients of the MLP's shapes, less the same call returning
    one element (the jit dispatch, which a train step does not pay again); None on TensorFlow."""
    if backend == "tensorflow":
        # A jit-compiled tf.function called on its own pays for its arguments on every call
        # (hundreds of microseconds here), which the train step does not: no honest figure.
        return None
    import numpy as np

    from keras_bsguard.backends import get_adapter

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype("float32") for s in SHAPES]
    if backend == "torch":
        import torch

        grads = [torch.as_tensor(a) for a in arrays]
        norm, empty = get_adapter(backend).global_norm, lambda gs: gs[1][0]
        wait = bool
    else:
        import jax

        grads = [jax.numpy.asarray(a) for a in arrays]
        squares = get_adapter(backend).squared_norms
        norm = jax.jit(lambda gs: sum(squares(gs)))
        empty = jax.jit(lambda gs: gs[1][0])
        wait = jax.block_until_ready

    def best(fn) -> float:
        wait(fn(grads))
        fastest = float("inf")
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(200):
                result = fn(grads)
            wait(result)
            fastest = min(fastest, (time.perf_counter() - start) / 200)
        return fastest

    return max(0.0, best(norm) - best(empty))


def _worker(args) -> dict:
    import keras
    import numpy as np
    from _fit_timing import EpochClock, benchmark_mlp

    from keras_bsguard import GradientNormMonitor
    from keras_bsguard import gradient_norm_monitor as module

    backend = keras.backend.backend()
    alone = _norm_alone_seconds(backend)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, 64)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    model = benchmark_mlp()
    shipped_record = module.GradientNormFeature.record

    def run(variant: str) -> float:
        gc.collect()
        module.GradientNormFeature.record = (
            (lambda self, grads, variables, loss_scale: {}) if variant == "without_norm"
            else shipped_record)
        clock = EpochClock()
        callbacks = [] if variant == "plain" else [GradientNormMonitor()]
        try:
            model.fit(x, y, batch_size=args.batch_size, epochs=2, verbose=0, shuffle=False,
                      callbacks=[*callbacks, clock])
        finally:
            module.GradientNormFeature.record = shipped_record
        return clock.epoch_seconds[1]

    variants = ["plain", "monitor", "without_norm"]
    for variant in variants:
        run(variant)
    seconds = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in variants if round_ % 2 == 0 else variants[::-1]:
            seconds[variant].append(run(variant))
    step = statistics.median(seconds["plain"]) / args.steps

    def extra(variant):
        ratio = statistics.median(a / b for a, b in zip(seconds[variant], seconds["plain"]))
        return ratio - 1.0

    return {"backend": backend, "step_s": step, "alone_s": alone,
            "monitor": extra("monitor"), "without_norm": extra("without_norm")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=150, help="timed steps per fit")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    failed = False
    for backend in args.backends.split(","):
        r = run_worker(__file__, backend, ["--rounds", str(args.rounds), "--steps", str(args.steps),
                                           "--batch-size", str(args.batch_size)])
        if r is None:
            failed = True
            continue
        norm_in_fit = (r["monitor"] - r["without_norm"]) * r["step_s"]
        alone = ("n/a" if r["alone_s"] is None else
                 f"{r['alone_s'] * 1e6:.0f} us ({r['alone_s'] / r['step_s'] * 100:.1f}% of a step)")
        print(f"{backend}: step {r['step_s'] * 1e3:.2f} ms; norm alone {alone}; in fit: monitor "
              f"{r['monitor'] * 100:+.1f}%, monitor without the norm {r['without_norm'] * 100:+.1f}%"
              f" -> the norm {norm_in_fit * 1e6:.0f} us per step", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
