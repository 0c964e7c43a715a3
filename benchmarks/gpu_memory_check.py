"""Prints what MemoryMonitor reads on this machine's accelerator (run once per backend).

    KERAS_BACKEND=jax python benchmarks/gpu_memory_check.py
"""

import json
import os
import tempfile

import keras
import numpy as np

from keras_bsguard import MemoryMonitor

log_dir = tempfile.mkdtemp()
model = keras.Sequential([keras.Input((256,)), keras.layers.Dense(4096, activation="relu"),
                          keras.layers.Dense(10)])
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.rand(8192, 256).astype("float32")
y = np.random.randint(0, 10, 8192).astype("int32")
history = model.fit(x, y, batch_size=512, epochs=2, verbose=0,
                    callbacks=[MemoryMonitor(window=8, sample_every=2, log_dir=log_dir)])
records = [json.loads(line) for line in open(os.path.join(log_dir, "bsguard_events.jsonl"))]
run = next(r for r in records if r["type"] == "run")
window = next(r for r in records if r["type"] == "window")
print(json.dumps({
    "backend": keras.backend.backend(),
    "source": run["source"],
    "device_limit_bytes": run["device_limit"],
    "epoch_memory_peak_mib": history.history["memory_peak"],
    "epoch_memory_fraction": history.history["memory_fraction"],
    "first_window_readings": window["readings"],
}, indent=1))
