"""Measure the gradient noise scale of a small classifier, then plot it with ``bsguard report``.

The data set is generated (three interleaved spirals, 6000 points, see ``train_with_guards.py``).
The script trains the same MLP twice, at batch 8 and at batch 512, with ``GradientNoiseScale``
writing an event log, prints ``gns`` (B_simple) and ``gns_ratio`` (batch / B_simple) per epoch and
any ``BatchSizeAdvice``, and renders the report of the batch-8 run.

    pip install ".[jax]"         # from the repository root
    KERAS_BACKEND=jax python examples/noise_scale.py
    bsguard report runs/noise_scale/batch_8/bsguard_events.jsonl -o report.html --png report.png

Works with KERAS_BACKEND=jax, tensorflow or torch (set it to the backend you installed).
"""

from __future__ import annotations

import argparse
import os
import warnings

import keras
import numpy as np

from keras_bsguard import BatchSizeAdvice, GradientNoiseScale
from keras_bsguard.report import main as report_main

from train_with_guards import spirals


def train(x, y, batch_size: int, epochs: int, out: str) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3)])
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    log_dir = os.path.join(out, f"batch_{batch_size}")
    gns = GradientNoiseScale(window=max(5, 2000 // batch_size), log_dir=log_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BatchSizeAdvice)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[gns])
    print(f"batch {batch_size}:")
    for epoch, (value, ratio, accuracy) in enumerate(zip(history.history["gns"], history.history["gns_ratio"],
                                                          history.history["accuracy"]), start=1):
        print(f"  epoch {epoch}: gns {value:8.1f}  gns_ratio {ratio:6.3f}  accuracy {accuracy:.3f}")
    for warning in caught:
        if issubclass(warning.category, BatchSizeAdvice):
            print("  " + str(warning.message).replace("\n", "\n  "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/noise_scale")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    x, y = spirals()
    for batch_size in (8, 512):
        train(x, y, batch_size, args.epochs, args.out)
    events = os.path.join(args.out, "batch_8", "bsguard_events.jsonl")
    return report_main([events, "-o", os.path.join(args.out, "report.html"),
                        "--png", os.path.join(args.out, "report.png")])


if __name__ == "__main__":
    raise SystemExit(main())
