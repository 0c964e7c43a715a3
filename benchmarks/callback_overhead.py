"""Wall-time overhead of StepTimeMonitor + GradientNormMonitor + MemoryMonitor on ``model.fit``.

Trains a small MLP on each backend (each in its own subprocess: Keras picks its backend at
import time) with and without the three monitors (and, unless ``--no-breakdown``, with each alone),
interleaved over many short rounds, and prints per variant the median of the per-round ratios
of steady-state epoch time (monitored / plain), their quartiles, and the ratio of the fastest
rounds (noise only ever adds time). A second plain variant ("plain again") is timed the same
way: it is the noise floor of the machine, against which the overhead should be read. Short
rounds and many of them because on a shared 2-core machine one round in five or so is hit by a
burst of noise of 5-25%; the median of 21 rounds is robust to that, a mean of 5 is not. Steady
state: the first epoch of each ``fit`` is left out, because the monitors install their
instrumented train step per ``fit`` and so trace/compile it once per ``fit`` (a one-time cost,
reported separately).

    python benchmarks/callback_overhead.py                       # jax, tensorflow, torch
    python benchmarks/callback_overhead.py --backends jax,torch --rounds 31 --steps 200

Not a test: numbers depend on the machine. Targets: <= 3% on a 2-core CPU, <= 2% on a GPU.

**Repeated fits** (``--repeated``): users call ``fit`` in loops (tuners, active learning, a
notebook cell run again), each time with new callback objects. On the seeds' MLP of issue #11
(784 -> 128 -> 10, Adam, 60000 MNIST-shaped samples), whole ``fit`` calls with three fresh
monitors (their defaults) are interleaved with plain ones, and the per-round ratios of their wall
times are reported (median and quartiles; the process CPU-time ratio beside it, which other
processes on a shared machine disturb less), for two settings: 2-epoch fits at batch 32 (target
<= 1.10x) and 3-epoch fits at batch 128 (target <= 1.04x). Compiles are part of what is timed: the
first plain and the first monitored fit of each setting are timed apart (compiled once per
process), every later fit reuses the compiled steps.

    python benchmarks/callback_overhead.py --repeated                  # jax, tensorflow, torch
    python benchmarks/callback_overhead.py --repeated --backends jax --rounds 15
    python benchmarks/callback_overhead.py --repeated --backends jax --every-n-steps 4

**GradientNoiseScale** (``--gns``): plain fits against fits with ``GradientNoiseScale()`` (two
micro-batches at every step) and ``GradientNoiseScale(every_n_steps=10)``, same MLP, same
interleaved rounds. Targets: <= 8% and <= 2% on a 2-core CPU.

    python benchmarks/callback_overhead.py --gns

``--every-n-steps N`` gives GradientNormMonitor ``every_n_steps=N`` (the exact norm of every N-th
step; the other two monitors keep their defaults): what the option buys on tiny steps.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from _workers import run_worker


def _worker(args) -> dict:
    import keras
    import numpy as np
    from _fit_timing import EpochClock, benchmark_mlp

    from keras_bsguard import GradientNoiseScale, GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, args.features)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    model = benchmark_mlp(args.features, args.hidden)

    variants = {
        "plain": list,
        "all": lambda: [StepTimeMonitor(), GradientNormMonitor(), MemoryMonitor()],
        "plain_again": list,
    }
    if args.gns:
        variants = {
            "plain": list,
            "gns": lambda: [GradientNoiseScale()],
            "gns_every_10": lambda: [GradientNoiseScale(every_n_steps=10)],
            "plain_again": list,
        }
    elif args.breakdown:
        variants.update(step_time=lambda: [StepTimeMonitor()],
                        gradient_norm=lambda: [GradientNormMonitor()],
                        memory=lambda: [MemoryMonitor()])

    def run(variant: str) -> tuple[float, float]:
        gc.collect()  # each fit starts from the same heap: no collection of the last fit's garbage
        clock = EpochClock()
        callbacks = variants[variant]() + [clock]
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                  shuffle=False, callbacks=callbacks)
        total = time.perf_counter() - start
        return sum(clock.epoch_seconds[1:]), total - sum(clock.epoch_seconds[1:])

    for variant in variants:  # warm-up: compile every variant once
        run(variant)
    steady = {v: [] for v in variants}
    first_epoch_extra = []
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        timings = {v: run(v) for v in order}
        for variant, (seconds, _) in timings.items():
            steady[variant].append(seconds)
        first_epoch_extra.append(timings[list(variants)[1]][1] - timings["plain"][1])
    plain = steady["plain"]
    summary = {}
    for variant, seconds in steady.items():
        if variant == "plain":
            continue
        ratios = sorted(s / p for s, p in zip(seconds, plain))
        quartiles = (statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1
                     else [ratios[0]] * 3)
        summary[variant] = {
            "median": statistics.median(ratios),
            "q1": quartiles[0],
            "q3": quartiles[2],
            "fastest": min(seconds) / min(plain),
        }
    return {
        "backend": keras.backend.backend(),
        "device": _device_name(),
        "steps_per_epoch": args.steps,
        "timed_epochs": args.epochs - 1,
        "rounds": args.rounds,
        "plain_s_median": statistics.median(plain),
        "per_fit_extra_s_median": statistics.median(first_epoch_extra),
        "variants": summary,
    }


REPEATED_SETTINGS = ((32, 2, 1.10), (128, 3, 1.04))  # batch size, epochs per fit, target ratio


def _repeated_worker(args) -> dict:
    """Whole fits, plain and with three fresh monitors, interleaved; per-round time ratios."""
    import keras
    from _fit_timing import mnist_shaped, seeds_mlp

    from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    x, y = mnist_shaped(args.samples)
    model = seeds_mlp()
    every = args.every_n_steps
    variants = {"plain": list, "monitors": lambda: [StepTimeMonitor(), GradientNormMonitor(every_n_steps=every),
                                                    MemoryMonitor()]}

    def run(variant: str, batch_size: int, epochs: int) -> tuple[float, float]:
        gc.collect()
        callbacks = variants[variant]()  # new objects every fit
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
        return time.perf_counter() - wall, time.process_time() - cpu

    settings = []
    for batch_size, epochs, target in REPEATED_SETTINGS:
        first = {variant: run(variant, batch_size, epochs)[0] for variant in variants}  # compiles
        timings = {variant: [] for variant in variants}
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
            for variant in order:
                timings[variant].append(run(variant, batch_size, epochs))
        wall = [m[0] / p[0] for m, p in zip(timings["monitors"], timings["plain"])]
        cpu = [m[1] / p[1] for m, p in zip(timings["monitors"], timings["plain"])]
        plain_fit = statistics.median(p[0] for p in timings["plain"])
        settings.append({
            "batch_size": batch_size, "epochs": epochs, "target": target,
            "steps_per_fit": epochs * -(-len(x) // batch_size),
            "plain_fit_s": plain_fit,
            "ratio": statistics.median(wall), "quartiles": _quartiles(wall),
            "cpu_ratio": statistics.median(cpu), "cpu_quartiles": _quartiles(cpu),
            "first_plain_extra_s": first["plain"] - plain_fit,
            "first_monitored_extra_s": first["monitors"] - statistics.median(m[0] for m in timings["monitors"]),
        })
    return {"backend": keras.backend.backend(), "device": _device_name(), "rounds": args.rounds,
            "samples": len(x), "every_n_steps": every, "settings": settings}


def _quartiles(values: list[float]) -> list[float]:
    if len(values) < 2:
        return [values[0], values[0]]
    q = statistics.quantiles(sorted(values), n=4, method="inclusive")
    return [q[0], q[2]]


def _print_repeated(backend: str, result: dict) -> None:
    every = result.get("every_n_steps", 1)
    print(f"{backend} ({result['device']}): seeds' MLP 784-128-10, {result['samples']} samples, "
          f"{result['rounds']} interleaved rounds, three fresh monitors every fit"
          + (f" (GradientNormMonitor every_n_steps={every})" if every != 1 else ""), flush=True)
    for setting in result["settings"]:
        verdict = "meets" if setting["ratio"] <= setting["target"] else "misses"
        q1, q3 = setting["quartiles"]
        c1, c3 = setting["cpu_quartiles"]
        print(f"  {setting['epochs']}-epoch fits, batch {setting['batch_size']} ({setting['steps_per_fit']} steps, "
              f"plain {setting['plain_fit_s']:.2f} s): x{setting['ratio']:.3f} [{q1:.3f} .. {q3:.3f}] "
              f"({verdict} <= {setting['target']:.2f}); CPU time x{setting['cpu_ratio']:.3f} "
              f"[{c1:.3f} .. {c3:.3f}]; first fit extra: plain {setting['first_plain_extra_s']:+.2f} s, "
              f"monitored {setting['first_monitored_extra_s']:+.2f} s", flush=True)


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


LABELS = {
    "all": "all three monitors",
    "plain_again": "plain again (noise floor)",
    "step_time": "StepTimeMonitor alone",
    "gradient_norm": "GradientNormMonitor alone",
    "memory": "MemoryMonitor alone",
    "gns": "GradientNoiseScale()",
    "gns_every_10": "GradientNoiseScale(every_n_steps=10)",
}


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--rounds", type=int, default=None, help="default 21 (9 with --repeated)")
    parser.add_argument("--steps", type=int, default=150, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fit (first not timed)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="time only plain vs all three (not each monitor alone)")
    parser.add_argument("--repeated", action="store_true",
                        help="whole fits with fresh monitors vs plain, seeds' MLP (see above)")
    parser.add_argument("--samples", type=int, default=60000, help="--repeated: samples per epoch")
    parser.add_argument("--every-n-steps", type=int, default=1,
                        help="--repeated: GradientNormMonitor(every_n_steps=...) (default 1, its default)")
    parser.add_argument("--gns", action="store_true",
                        help="time GradientNoiseScale (micro_batches=2; every step and every 10th) "
                             "instead of the three monitors")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 9 if args.repeated else 21
    if args.worker:
        print(json.dumps(_repeated_worker(args) if args.repeated else _worker(args)))
        return 0
    if args.repeated:
        return _main_repeated(args)
    results = []
    for backend in args.backends.split(","):
        options = []
        for option in ("rounds", "steps", "epochs", "batch_size", "features", "hidden"):
            options += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
        if not args.breakdown:
            options.append("--no-breakdown")
        if args.gns:
            options.append("--gns")
        result = run_worker(__file__, backend, options)
        if result is None:
            continue
        results.append(result)
        per_step_ms = (result["plain_s_median"] / result["timed_epochs"]
                       / result["steps_per_epoch"] * 1e3)
        print(f"{backend} ({result['device']}): plain {per_step_ms:.2f} ms/step; "
              f"{result['rounds']} rounds of {result['timed_epochs']} x "
              f"{result['steps_per_epoch']} timed steps; one-time cost per fit "
              f"{result['per_fit_extra_s_median']:+.2f} s", flush=True)
        for variant, figures in result["variants"].items():
            label = LABELS.get(variant, variant)
            print(f"  {label:<26} {_pct(figures['median']):>7}  "
                  f"[quartiles {_pct(figures['q1'])} .. {_pct(figures['q3'])}]  "
                  f"fastest/fastest {_pct(figures['fastest'])}", flush=True)
    return 0 if results else 1


def _main_repeated(args) -> int:
    results = []
    for backend in args.backends.split(","):
        result = run_worker(__file__, backend, ["--repeated", "--rounds", str(args.rounds),
                                                "--samples", str(args.samples),
                                                "--every-n-steps", str(args.every_n_steps)])
        if result is not None:
            results.append(result)
            _print_repeated(backend, result)
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
