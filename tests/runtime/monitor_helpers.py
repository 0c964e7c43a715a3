"""Helpers of the monitor tests: warnings that a loaded test machine may add to any run."""

from __future__ import annotations

MACHINE = "the machine, not the model, slowed down"


def model_warnings(records, category=None):
    """The keras-bsguard warnings of ``records``, less those that blame the machine: this suite
    shares its CPUs with other jobs, and a StepTimeWarning that says the machine slowed down is
    the right answer to them, not a fault of the run under test."""
    from keras_bsguard import BSGuardWarning

    category = category or BSGuardWarning
    return [r for r in records if issubclass(r.category, category) and MACHINE not in str(r.message)]


def busy_windows(log_path) -> list[int]:
    """Steps of the StepTimeMonitor windows in which this process's threads waited for a CPU for
    half its wall time or more: other jobs then took the CPUs, and a slowdown of a millisecond
    planted by a test is no longer measurable against that."""
    import json
    import math

    busy = []
    for line in open(log_path):
        record = json.loads(line)
        wait, wall = record.get("run_wait_per_step"), record.get("wall_per_step")
        if (record.get("type") == "window" and record.get("monitor") == "step_time"
                and isinstance(wait, float) and isinstance(wall, float) and math.isfinite(wait)
                and wait >= 0.5 * wall):
            busy.append(record["step"])
    return busy
