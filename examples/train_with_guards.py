"""Train a small classifier with the three runtime monitors, then render the report.

The data set is generated (no download): three interleaved spirals, 6000 points in 2-D, a
classic non-linear classification task. The script trains an MLP with ``StepTimeMonitor``,
``GradientNormMonitor`` and ``MemoryMonitor`` writing one event log, a ``CSVLogger`` after them,
and renders ``report.html`` (and ``report.png``) from the event log.

    pip install ".[jax]"         # from the repository root
    KERAS_BACKEND=jax python examples/train_with_guards.py
    # plant a fault to see what a warning looks like: the input pipeline slows from epoch 4
    KERAS_BACKEND=jax python examples/train_with_guards.py --slow-input-from-epoch 4
    # with torch instead: the torch build you want, then pip install ".[torch]"
    KERAS_BACKEND=torch python examples/train_with_guards.py --out runs/torch

Works with KERAS_BACKEND=jax, tensorflow or torch; set it to the backend you installed (without
it Keras imports TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np

from keras_bsguard import EventLog, GradientNormMonitor, MemoryMonitor, StepTimeMonitor
from keras_bsguard.report import main as report_main


def spirals(n_per_class: int = 2000, classes: int = 3, noise: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label in range(classes):
        radius = np.linspace(0.05, 1.0, n_per_class)
        angle = radius * 4.0 + label * 2.0 * np.pi / classes + rng.normal(0, noise, n_per_class)
        xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        ys.append(np.full(n_per_class, label))
    x = np.concatenate(xs).astype("float32")
    y = np.concatenate(ys).astype("int32")
    order = rng.permutation(len(x))
    return x[order], y[order]


class Batches(keras.utils.PyDataset):
    """Serves the training batches; can be told to slow down (a planted input fault)."""

    def __init__(self, x, y, batch_size, slow_from_epoch=None):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.slow_from_epoch = slow_from_epoch
        self.epoch = 0

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        if self.slow_from_epoch is not None and self.epoch >= self.slow_from_epoch:
            time.sleep(0.004 * (self.epoch - self.slow_from_epoch + 1))  # e.g. a slower disk
        s = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[s], self.y[s]


class TellEpoch(keras.callbacks.Callback):
    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.epoch = epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/train_with_guards")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--slow-input-from-epoch", type=int, default=None)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    events_path = os.path.join(args.out, "events.jsonl")
    if os.path.exists(events_path):
        os.remove(events_path)

    keras.utils.set_random_seed(0)
    x, y = spirals()
    split = int(0.85 * len(x))
    train = Batches(x[:split], y[:split], batch_size=64, slow_from_epoch=args.slow_input_from_epoch)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(3),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    log = EventLog(events_path)
    callbacks = [
        TellEpoch(train),
        StepTimeMonitor(window=20, event_log=log),
        GradientNormMonitor(window=20, top_k_layers=3, event_log=log),
        MemoryMonitor(window=20, event_log=log),
        keras.callbacks.CSVLogger(os.path.join(args.out, "history.csv")),  # after the monitors
    ]
    history = model.fit(train, validation_data=(x[split:], y[split:]), epochs=args.epochs,
                        verbose=2, callbacks=callbacks)
    last = {k: v[-1] for k, v in history.history.items()}
    print(
        f"\nbackend {keras.backend.backend()}: val_accuracy {last['val_accuracy']:.3f}, "
        f"step_time {last['step_time'] * 1e3:.2f} ms, data_time {last['data_time'] * 1e3:.2f} ms, "
        f"grad_norm {last['grad_norm']:.3f}, memory_peak {last['memory_peak']:.0f} MiB "
        f"({last['memory_fraction']:.1%} of the limit)\n"
    )
    report_main([events_path, "-o", os.path.join(args.out, "report.html"),
                 "--png", os.path.join(args.out, "report.png")])


if __name__ == "__main__":
    main()
