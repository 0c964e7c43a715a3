"""``bsguard probe`` on every loss of ``examples/probe_losses.py``, on each backend, side by side.

For each backend (a fresh process each: Keras picks its backend at import time) and each example
loss, at batch sizes 64, 128, 256, 512 and 1024: the fitted time and memory exponents and the
verdict on each lint finding; then the wall time of one default probe (``bsguard probe
examples/probe_losses.py::mean_squared_error``, doubling sizes until the budget) against the 30 s
target of issue #12.

    python benchmarks/probe_examples.py                         # jax, tensorflow, torch
    python benchmarks/probe_examples.py --backends jax --losses similarity_loss,per_sample_loop

Not a test: the numbers depend on the machine (exponents much less than times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _workers import run_worker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "probe_losses.py"
LOSSES = ("mean_squared_error", "summed_squared_error", "pairwise_distance_loss", "per_sample_loop",
          "similarity_loss", "repeated_prediction_loss", "epsilon_insensitive", "noisy_mse",
          "unseeded_keras_noise", "exponential_penalty")


def _worker(args) -> dict:
    from keras_bsguard.probe.runner import probe

    out = {}
    for name in args.losses.split(","):
        result = probe(f"{EXAMPLES}::{name}", batch_sizes=[64, 128, 256, 512, 1024])
        exponents = result["exponents"]
        out[name] = {
            "time": exponents["time"] and exponents["time"]["value"],
            "memory": exponents["memory"] and exponents["memory"]["value"],
            "compile": exponents["compile"] and exponents["compile"]["value"],
            "verdicts": sorted({f"{v['code']} {v['verdict']}" for v in result["verdicts"]}),
            "unflagged": [item["check"] for item in result["unflagged"]], "mode": result["mode"],
        }
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "keras_bsguard.cli", "probe", f"{EXAMPLES}::mean_squared_error"],
                   env=env, capture_output=True, check=False)
    out["_default_probe_seconds"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return
    backends = args.backends.split(",")
    results = {backend: run_worker(__file__, backend, ["--losses", args.losses]) for backend in backends}
    print("exponents over batch 64..1024 (time / memory / first call), and the verdicts on the lint findings\n")
    for name in args.losses.split(","):
        print(name)
        for backend in backends:
            row = (results[backend] or {}).get(name)
            if row is None:
                print(f"  {backend:<11} failed")
                continue
            figures = " / ".join("-" if row[k] is None else f"B^{row[k]:.2f}" for k in ("time", "memory", "compile"))
            extra = f"; measured, not flagged: {', '.join(row['unflagged'])}" if row["unflagged"] else ""
            mode = " (eager)" if row["mode"] == "eager" and backend != "torch" else ""
            print(f"  {backend:<11} {figures:<28} {', '.join(row['verdicts']) or 'no finding'}{extra}{mode}")
    print("\nwall time of one default probe of mean_squared_error (target < 30 s):")
    for backend in backends:
        seconds = (results[backend] or {}).get("_default_probe_seconds")
        print(f"  {backend:<11} {'failed' if seconds is None else f'{seconds:.1f} s'}")


if __name__ == "__main__":
    main()
