"""How often StepTimeMonitor warns on clean fits: ``sustain_seconds=0`` against the default.

Each backend runs in its own subprocess. Clean fits of a small MLP (nothing planted: the same
model, data and batch size every fit), each with one fresh ``StepTimeMonitor`` (its defaults:
windows of 50 steps, drift factor 1.3), alternating between ``sustain_seconds=0`` and the default
``sustain_seconds=2.0``; it counts the fits that raised a ``StepTimeWarning`` and prints the first
line of each. Before and after every fit it also times a fixed numpy-and-Python workload for
0.2 s and keeps the median per call: how much the machine's own speed moved during the run, which
no model change explains.

    python benchmarks/step_time_false_alarms.py                          # jax, tensorflow, torch
    python benchmarks/step_time_false_alarms.py --backends torch --fits 8 --steps 500

Not a test: the counts depend on the machine (a quiet one should give 0 and 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

from _workers import run_worker


def _reference_workload_us(seconds: float = 0.2) -> float:
    """Median microseconds per call of a fixed small numpy-and-Python workload."""
    import numpy as np

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(8, 64)).astype("float32"), rng.normal(size=(64, 64)).astype("float32")
    x = rng.normal(size=(16, 8)).astype("float32")
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        hidden = np.maximum(np.maximum(x @ w1, 0) @ w2, 0)
        hidden.T @ hidden
        total = 0
        for i in range(300):
            total += i * i
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _worker(args) -> dict:
    import keras
    import numpy as np

    from keras_bsguard import StepTimeMonitor, StepTimeWarning

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * 16, 8)).astype("float32")
    y = rng.normal(size=(args.steps * 16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # compile outside the counted fits
    counts = {"0": {"fits": 0, "warned": []}, "2.0": {"fits": 0, "warned": []}}
    reference = [_reference_workload_us()]
    seconds = []
    for fit in range(2 * args.fits):
        sustain = 0.0 if fit % 2 == 0 else 2.0
        key = "0" if sustain == 0.0 else "2.0"
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(x, y, batch_size=16, epochs=args.epochs, verbose=0,
                      callbacks=[StepTimeMonitor(sustain_seconds=sustain)])
        seconds.append(time.perf_counter() - start)
        reference.append(_reference_workload_us())
        found = [str(w.message).splitlines()[0] for w in caught
                 if issubclass(w.category, StepTimeWarning)]
        counts[key]["fits"] += 1
        if found:
            counts[key]["warned"].append(found[0][:160])
    return {"backend": keras.backend.backend(), "counts": counts,
            "fit_seconds_median": statistics.median(seconds),
            "reference_us_min": min(reference), "reference_us_max": max(reference)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--fits", type=int, default=6, help="fits per setting (interleaved)")
    parser.add_argument("--steps", type=int, default=500, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    results = 0
    for backend in args.backends.split(","):
        result = run_worker(__file__, backend, ["--fits", str(args.fits), "--steps", str(args.steps),
                                                "--epochs", str(args.epochs)])
        if result is None:
            continue
        results += 1
        print(f"{backend}: clean fits of {args.epochs} x {args.steps} steps, median "
              f"{result['fit_seconds_median']:.1f} s each; the reference workload took "
              f"{result['reference_us_min']:.0f}-{result['reference_us_max']:.0f} us per call "
              f"between fits", flush=True)
        for key, label in (("0", "sustain_seconds=0"), ("2.0", "sustain_seconds=2.0 (default)")):
            entry = result["counts"][key]
            print(f"  {label:<31} warned in {len(entry['warned'])} of {entry['fits']} fits", flush=True)
            for line in entry["warned"]:
                print(f"    {line}", flush=True)
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
