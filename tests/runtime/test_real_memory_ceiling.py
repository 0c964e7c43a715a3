"""BatchSizeGuard and find_batch_size under a real memory ceiling (slow: run by .ci/run).

A child process (``ceiling_child.py``) lowers its own ``RLIMIT_DATA`` so that a train or
validation step of 8192 samples with a B x B loss term does not fit and half of it does, then
trains two epochs with validation at the training batch size, evaluates, predicts and searches
the batch size, and finally trains an unconstrained reference from the same weights. The process
must not crash, every step must be there, the weights must match the reference and stay readable.

TensorFlow runs with ``TF_ENABLE_ONEDNN_OPTS=0``. With oneDNN on, TF's CPU allocator (``mklcpu``,
a BFC pool) grows a region to whatever still fits under the ceiling and then throws
``std::bad_alloc`` from the region's own bookkeeping, which terminates the process: measured here
with plain Keras and no guard at all (batch 8192 to 12288 under a 700 MiB ceiling: SIGABRT; 16384:
a clean ``ResourceExhaustedError``). That is TensorFlow's, and no callback can catch it. What the
guard did wrong (a SIGSEGV in TF's constant folding of a step traced for the static shape of a
host batch) is what this test pins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_helpers import BACKEND

BATCH = 8192
# MiB above the warmed-up process: the full step needs two or more B x B float32 matrices
# (2 x 256 MiB), half of it a quarter of that; TF also needs room for tf.data's threads.
MARGIN = {"jax": 250, "torch": 250, "tensorflow": 300}


@pytest.mark.slow
def test_the_guard_survives_a_real_memory_ceiling_with_validation_at_the_training_batch_size():
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    child = Path(__file__).with_name("ceiling_child.py")
    done = subprocess.run([sys.executable, str(child), str(BATCH), str(MARGIN[BACKEND])], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["fit"] == "finished", result
    # The ceiling really bit: the train step and the validation step were both split.
    assert result["train_micro_batches"] >= 2 and result["eval_micro_batches"]["test"] >= 2, result
    assert result["iterations"] == result["reference_iterations"] == 4
    assert result["readable"] is True
    assert result["max_weight_error"] < 1e-4, result
    for key in ("loss", "val_loss"):
        assert result["history"][key] == pytest.approx(result["reference_history"][key], rel=1e-4)
    assert result["evaluate"] == pytest.approx(result["evaluate_reference"], rel=1e-4)
    assert result["predict_shape"] == [BATCH, 4]
    # find_batch_size under the same ceiling: a size that fits below one that really failed, the
    # model exactly as before the search.
    failed = result["find_batch_size_failed"]
    assert failed and 0 < result["find_batch_size"] < min(failed) <= BATCH, result
    assert result["find_batch_size_restored"] is True
