"""Messages: one warning, printed once, at the user's ``fit`` line (or on the logger alone); one
step numbering (1-based, across epochs) in every monitor and the guard; OOM descriptions that
keep the allocation line; advice that fits the backend and the device."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from runtime_helpers import BACKEND, mlp, regression_data
from test_batch_size_guard import OOMAbove  # the backend's real OOM type, raised in the step

from keras_bsguard import (
    BatchSizeGuard,
    BatchSizeWarning,
    GradientNormMonitor,
    GradientNormWarning,
    StepTimeMonitor,
)
from keras_bsguard.oom import describe


def _nan_data():
    x, y = regression_data(n=32)
    x[20] = np.nan  # batch 2 (0-based) of 8: the third step
    return x, y


def _step_of(message: str) -> int:
    return int(message.split("[step ")[1].split("]")[0])


def test_warning_points_at_the_fit_line_from_keras_worker_threads(record_warnings):
    x, y = _nan_data()
    model = mlp()
    model.compile("sgd", "mse")
    # window=2: the norms are read and checked on Keras's callback thread, mid-epoch.
    fit_line = sys._getframe().f_lineno + 1
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[GradientNormMonitor(window=2)])
    found = [w for w in record_warnings if issubclass(w.category, GradientNormWarning)]
    assert len(found) == 1
    assert found[0].filename == __file__ and found[0].lineno == fit_line
    assert _step_of(str(found[0].message)) == 3  # 1-based: the batch holding sample 20


def test_a_handler_on_the_keras_bsguard_logger_gets_the_warning_alone(record_warnings, caplog):
    x, y = _nan_data()
    model = mlp()
    model.compile("sgd", "mse")
    logger = logging.getLogger("keras_bsguard")
    handler = logging.Handler()
    records = []
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientNormMonitor(window=2)])
        with warnings.catch_warnings():
            warnings.simplefilter("error", GradientNormWarning)  # filters still apply
            with pytest.raises(GradientNormWarning):
                model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                          callbacks=[GradientNormMonitor(window=2)])
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage().split(":")[0] for r in records] == ["GradientNormWarning"]
    assert not [w for w in record_warnings if issubclass(w.category, GradientNormWarning)]


_SCRIPT = """
import logging, sys
import numpy as np, keras
from keras_bsguard import GradientNormMonitor

x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
x[20] = np.nan
y = np.zeros((32, 1), dtype="float32")


def new_model():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


model = new_model()
model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[GradientNormMonitor(window=2)])
print("--- logging", file=sys.stderr, flush=True)
handler = logging.StreamHandler()
handler.setFormatter(logging.Formatter("LOGGED %(message)s"))
logging.getLogger("keras_bsguard").addHandler(handler)
model = new_model()
model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[GradientNormMonitor(window=2)])
"""


def test_a_plain_script_prints_each_warning_once_with_its_fit_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT.lstrip())
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    plain, logged = result.stderr.split("--- logging")
    assert plain.count("GradientNormWarning") == 1, plain
    fit_line = _SCRIPT.lstrip().splitlines().index(
        "model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, "
        "callbacks=[GradientNormMonitor(window=2)])") + 1
    assert f"train.py:{fit_line}: GradientNormWarning: [step 3]" in plain
    assert "  model.fit(x, y" in plain  # the source line shown is the user's, not ours
    assert logged.count("GradientNormWarning") == 1 and "LOGGED GradientNormWarning: [step 3]" in logged


def test_guard_and_monitors_number_the_same_step_from_one(record_warnings, tmp_path):
    x, y = regression_data(n=128)
    model = keras.Sequential([keras.Input((8,)), OOMAbove(16), keras.layers.Dense(4),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    log = str(tmp_path)
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
              callbacks=[BatchSizeGuard(log_dir=log), GradientNormMonitor(window=2, log_dir=log),
                         StepTimeMonitor(window=2, warmup_steps=0, log_dir=log)])
    split = [w for w in record_warnings if issubclass(w.category, BatchSizeWarning)]
    assert split and _step_of(str(split[0].message)) == 1  # the first step ran out of memory
    from keras_bsguard._advice import accelerator

    # what ran out is named for this run: the host's memory on a CPU run, the device's on a GPU
    expected = "device memory" if accelerator() else "host memory (this run computes on the CPU)"
    assert f"do not fit in {expected}" in str(split[0].message)
    records = [json.loads(line) for line in (tmp_path / "bsguard_events.jsonl").open()]
    windows = {monitor: [r["step"] for r in records if r["monitor"] == monitor
                         and r["type"] == "window"] for monitor in ("gradient_norm", "step_time")}
    assert windows["gradient_norm"] == [2, 4, 6, 8]  # 4 steps per epoch, 2 epochs: steps 1..8
    assert windows["step_time"][-1] == 8 and min(windows["step_time"]) >= 2
    events = [r for r in records if r["type"] == "event" and r["monitor"] == "batch_size_guard"]
    assert events and events[0]["step"] == 1


_TF_OOM = (
    "Graph execution error:\n\nDetected at node zeros defined at (most recent call last):\n"
    '  File "train.py", line 8, in <module>\n\n'
    "OOM when allocating tensor with shape[4194304,1048576] and type float on "
    "/job:localhost/replica:0/task:0/device:CPU:0 by allocator mklcpu\n\t [[{{node zeros}}]]\n"
    "Hint: If you want to see a list of allocated tensors when OOM happens, add "
    "report_tensor_allocations_upon_oom to RunOptions for current allocation info.\n"
    " [Op:__inference_f_11]"
)


@pytest.mark.backend("tensorflow")
def test_tensorflow_oom_description_keeps_the_allocation_line():
    import tensorflow as tf

    # The text TF 2.21 gives for a failed allocation inside a tf.function on CPU (captured from
    # a real one: it takes ~10 s of allocator retries to produce).
    error = tf.errors.ResourceExhaustedError(None, None, _TF_OOM)
    assert describe(error) == (
        "ResourceExhaustedError: OOM when allocating tensor with shape[4194304,1048576] and type "
        "float on CPU:0 by allocator mklcpu")


@pytest.mark.backend("jax")
def test_jax_oom_description_is_its_first_line():
    import jax.numpy as jnp

    with pytest.raises(Exception) as caught:
        jnp.zeros((2**42,), dtype=jnp.uint8).block_until_ready()
    text = describe(caught.value)
    assert text.startswith("JaxRuntimeError: RESOURCE_EXHAUSTED") and "allocat" in text


def test_memory_advice_says_host_memory_on_a_cpu_run(record_warnings):
    from keras_bsguard import MemoryMonitor, MemoryWarning
    from keras_bsguard._advice import accelerator

    if accelerator() is not None:
        pytest.skip("an accelerator is present: the reading is the device's")
    model = mlp()
    model.compile("sgd", "mse")
    x, y = regression_data(n=64)
    # A threshold any process passes: the host's near-limit warning and its advice.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[MemoryMonitor(window=4, threshold=1e-6)])
    found = [str(w.message) for w in record_warnings if issubclass(w.category, MemoryWarning)]
    assert found and "Host memory is near its limit" in found[0]
    assert "device" not in found[0].split("Likely causes")[1]
