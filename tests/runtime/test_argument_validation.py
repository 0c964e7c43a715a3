"""Arguments and installs: every bad argument fails at construction with one line naming the
argument and its allowed range; find_batch_size stays within the data and says when it found no
limit; a runtime name without keras says what to install."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from runtime_helpers import mlp, regression_data

from keras_bsguard import (
    BatchSizeGuard,
    BatchSizeWarning,
    EventLog,
    GradientNormMonitor,
    MemoryMonitor,
    StepTimeMonitor,
    find_batch_size,
)

BAD_ARGUMENTS = [
    (GradientNormMonitor, {"window": 0}, "window must be an integer >= 1"),
    (GradientNormMonitor, {"window": -1}, "window must be an integer >= 1"),
    (GradientNormMonitor, {"window": "50"}, "window must be an integer >= 1"),
    (GradientNormMonitor, {"lr_factor": 2.0}, "lr_factor must be a finite number in (0, 1)"),
    (GradientNormMonitor, {"top_k_layers": -1}, "top_k_layers must be an integer >= 0"),
    (GradientNormMonitor, {"explode_factor": 1.0}, "explode_factor must be a finite number > 1"),
    (GradientNormMonitor, {"explode_patience": 0}, "explode_patience must be an integer >= 1"),
    (GradientNormMonitor, {"vanish_threshold": -1e-8}, "vanish_threshold must be a finite number >= 0"),
    (GradientNormMonitor, {"on_explode": "explode"}, "on_explode must be one of 'warn', 'stop', 'reduce_lr'"),
    (GradientNormMonitor, {"per_step_log": 1}, "per_step_log must be True or False"),
    (MemoryMonitor, {"window": -5}, "window must be an integer >= 1"),
    (MemoryMonitor, {"sample_every": 0}, "sample_every must be an integer >= 1"),
    (MemoryMonitor, {"threshold": 1.5}, "threshold must be a finite number in (0, 1]"),
    (MemoryMonitor, {"leak_windows": 1}, "leak_windows must be an integer >= 2"),
    (MemoryMonitor, {"leak_min_growth_mb": math.inf}, "leak_min_growth_mb must be a finite number >= 0"),
    (StepTimeMonitor, {"window": 2.5}, "window must be an integer >= 1"),
    (StepTimeMonitor, {"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
    (StepTimeMonitor, {"drift_factor": math.nan}, "drift_factor must be a finite number > 1"),
    (StepTimeMonitor, {"drift_factor": 0.9}, "drift_factor must be a finite number > 1"),
    (StepTimeMonitor, {"baseline_windows": 0}, "baseline_windows must be an integer >= 1"),
    (StepTimeMonitor, {"patience": True}, "patience must be an integer >= 1"),
    (StepTimeMonitor, {"min_drift_seconds": -0.1}, "min_drift_seconds must be a finite number >= 0"),
    (StepTimeMonitor, {"sustain_seconds": -1.0}, "sustain_seconds must be a finite number >= 0"),
    (StepTimeMonitor, {"sustain_seconds": math.nan}, "sustain_seconds must be a finite number >= 0"),
    (BatchSizeGuard, {"strategy": "halve"}, "strategy must be one of 'split', 'shrink'"),
    (BatchSizeGuard, {"lr_scaling": "cubic"}, "lr_scaling must be one of 'linear', 'sqrt', 'auto', None"),
    (BatchSizeGuard, {"on_pressure": "panic"}, "on_pressure must be one of 'warn', 'split', None"),
    (BatchSizeGuard, {"max_micro_batches": 0}, "max_micro_batches must be an integer >= 1"),
    (BatchSizeGuard, {"micro_batches": 0}, "micro_batches must be an integer in [1, 64]"),
    (BatchSizeGuard, {"micro_batches": 8, "max_micro_batches": 4}, "micro_batches must be an integer in [1, 4]"),
    (BatchSizeGuard, {"headroom": 0.0}, "headroom must be a finite number in (0, 1]"),
    (BatchSizeGuard, {"check_every": 0}, "check_every must be an integer >= 1"),
]


@pytest.mark.parametrize("cls, kwargs, says", BAD_ARGUMENTS,
                         ids=[f"{c.__name__}-{next(iter(k))}={k[next(iter(k))]!r}" for c, k, _ in BAD_ARGUMENTS])
def test_a_bad_argument_fails_at_construction_naming_it(cls, kwargs, says):
    with pytest.raises((ValueError, TypeError)) as caught:
        cls(**kwargs)
    message = str(caught.value)
    name, value = next(iter(kwargs.items()))
    assert message == f"{cls.__name__}({name}={value!r}): {says}"
    assert "\n" not in message


def test_good_arguments_round_trip_through_get_config():
    for monitor in (StepTimeMonitor(window=7, drift_factor=1.5, baseline_windows=5),
                    GradientNormMonitor(window=3, lr_factor=0.25, top_k_layers=2, per_step_log=True),
                    MemoryMonitor(window=20, sample_every=5, threshold=0.8)):
        assert type(monitor)(**monitor.get_config()).get_config() == monitor.get_config()


def test_an_event_log_that_cannot_be_written_fails_at_construction():
    with pytest.raises(OSError, match=r"EventLog\('/proc/x.jsonl'\): cannot write the event log"):
        EventLog("/proc/x.jsonl")
    with pytest.raises(OSError, match="cannot write the event log"):
        StepTimeMonitor(log_dir="/proc/bsguard-runs")
    with pytest.raises(TypeError, match="event_log must be a keras_bsguard.EventLog"):
        MemoryMonitor(event_log="runs/events.jsonl")


def test_find_batch_size_stays_within_the_data_and_says_no_limit_was_found(record_warnings):
    model = mlp()
    model.compile("adam", "mse")
    x, y = regression_data(n=100)
    search = find_batch_size(model, x, y, start_batch_size=32)
    assert search.batch_size == 100 and max(t.batch_size for t in search.trials) == 100
    assert not search.limit_found and search.capped_by == "the data size"
    assert "no limit found" in str(search)
    found = [w for w in record_warnings if issubclass(w.category, BatchSizeWarning)]
    assert len(found) == 1 and "found no limit" in str(found[0].message)
    assert "100 samples" in str(found[0].message) and found[0].filename == __file__  # the call
    # An explicit cap is the caller's choice: no warning, rows repeated beyond the data.
    capped = find_batch_size(model, x, y, start_batch_size=64, max_batch_size=256)
    assert capped.batch_size == 256 and capped.capped_by == "max_batch_size"
    assert len([w for w in record_warnings if issubclass(w.category, BatchSizeWarning)]) == 1
    with pytest.raises(ValueError, match=r"^find_batch_size\(tolerance=0\.0\): tolerance must be"):
        find_batch_size(model, x, y, tolerance=0.0)


def test_a_runtime_name_without_keras_says_what_to_install():
    code = ("import sys; sys.modules['keras'] = None\n"
            "import keras_bsguard\n"
            "from keras_bsguard.lint import lint_source\n"  # the linter still works
            "try:\n    from keras_bsguard import StepTimeMonitor\n"
            "except ModuleNotFoundError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert 'keras_bsguard.StepTimeMonitor needs keras' in result.stdout
    assert 'pip install "keras-bsguard[jax]"' in result.stdout
    assert '"keras-bsguard[tensorflow]"' in result.stdout and '"keras-bsguard[torch]"' in result.stdout
    assert 'from a clone of the repository: pip install ".[jax]"' in result.stdout
