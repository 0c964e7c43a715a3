"""What a ``StepTimeWarning`` says: which figure grew, the evidence, the causes and what to try.

The figure that grew most leads, among those that drifted or are as slow in the last window (an
input wait that just grew may slow the step after it a little, and the step's median can cross
its patience first). Any figure can be blamed on the machine when the process's threads spent
most of the extra time waiting for a CPU (an input pipeline or a callback slows down under other
jobs too); "waiting" without that is a verdict for the step only: input wait and slow callbacks
are made of waiting.

    >>> milliseconds(0.00125), milliseconds(float("nan"))
    ('1.25 ms', 'n/a')
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from keras_bsguard import _advice
from keras_bsguard._drift import FIGURES, DriftJudge, machine_verdict

LABELS = {"step_time": "step time", "data_time": "input wait (data_time)",
          "callback_time": "time in other callbacks (callback_time)",
          "wall_per_step": "wall time per step"}


@dataclass
class DriftReport:
    key: str  # the warning's once-per-fit key and event kind
    main: str  # the figure that leads
    verdict: str | None  # "machine", "waiting" or None (see machine_verdict)
    load: dict  # wall/CPU/wait per step over the windows the drift was judged on
    what: str
    evidence: str
    causes: list[str]
    try_: list[str]
    data: dict = field(default_factory=dict)  # figures for the event record


def drift_report(drifted: list[str], window: dict, judge: DriftJudge, window_steps: int,
                 hooks_rates: list[tuple[str, float]]) -> DriftReport:
    """The warning for ``drifted`` figures of the last ``window`` (medians and lap figures)."""
    baseline = judge.baseline
    parts = [f for f in FIGURES if f in drifted or f in judge.slow_now] or list(drifted)
    parts.sort(key=lambda f: window[f] - baseline[f], reverse=True)
    main = parts[0]
    load = judge.recent_load(judge.patience)
    verdict = machine_verdict(load, baseline, judge.drift_factor)
    if verdict == "waiting" and main not in ("step_time", "wall_per_step"):
        verdict = None  # input wait and slow callbacks are made of waiting: not a verdict there
    which = LABELS[main] + " grew" + (
        f" ({' and '.join(LABELS[f] for f in parts[1:])} too)" if len(parts) > 1 else "")
    device = _advice.accelerator()
    if verdict == "machine":
        key = "machine_slowdown"
        what = f"Training slowed down: {which}, but the machine, not the model, slowed down."
        causes = ["other processes took this machine's CPUs: this process's threads waited "
                  f"{milliseconds(load['run_wait_per_step'])} per step for a CPU (baseline "
                  f"{milliseconds(baseline['run_wait_per_step'])}) while its CPU time per step "
                  "barely changed"]
        try_ = ["train on a quiet machine or give the run its own cores (taskset, CPU limits for "
                "the other jobs)", _advice.machine_check_hint(device),
                "compare with a run alone before changing the model or its input"]
    else:
        key, causes, try_ = _advice_for(main, verdict, device)
        what = f"Training slowed down: {which}."
    evidence = "; ".join(
        [f"median {LABELS[f]} {milliseconds(window[f])} vs baseline {milliseconds(baseline[f])} "
         f"(x{_ratio(window[f], baseline[f])})" for f in FIGURES if math.isfinite(window[f])]
        + [f"wall time per step {milliseconds(window.get('wall_per_step', math.nan))} vs baseline "
           f"{milliseconds(baseline.get('wall_per_step', math.nan))}"]
        + [_cpu_evidence(load, baseline, judge.patience)]
        + ([f"slowest callback hooks now: " + ", ".join(
            f"{name} {milliseconds(seconds)} per call" for name, seconds in hooks_rates)]
           if main == "callback_time" and hooks_rates else [])
        + [f"windows of {window_steps} steps, drift factor {judge.drift_factor}, floor "
           f"{milliseconds(judge.floor())} per step, slow for the last "
           f"{max(judge.slow_seconds.get(f, 0.0) for f in drifted):.1f} s of training"]
    )
    data = {"verdict": verdict, **{figure: window[figure] for figure in FIGURES},
            **{f"baseline_{figure}": baseline[figure] for figure in FIGURES},
            "cpu_ratio": load["cpu_ratio"], "run_wait_per_step": load["run_wait_per_step"]}
    return DriftReport(key, main, verdict, load, what, evidence, causes, try_, data)


def _advice_for(figure: str, verdict: str | None, device: str | None):
    """``(event key, causes, what to try)`` for a drift led by ``figure``."""
    if figure == "callback_time":
        return "callback_time_drift", [
            "a callback doing more work per batch on the training thread (logging, writing files, "
            "converting tensors with .numpy() or float())",
            "a callback whose work grows with the run (scanning a list that keeps growing)",
        ], [
            "do that work every N batches or at epoch end",
            "set async_safe = True on a callback whose batch hooks are thread-safe: Keras then "
            "runs them off the training thread",
            "time the named hooks on their own",
        ]
    if figure == "data_time":
        return "data_time_drift", [
            "the input pipeline got slower (a generator or PyDataset doing more work per "
            "batch, a file source slowing down, a shuffle buffer refilling)",
            "too few loader workers or no prefetch",
        ], [
            "prefetch (tf.data .prefetch(AUTOTUNE), PyDataset(workers=..., "
            "use_multiprocessing=True), DataLoader(num_workers=...))",
            "cache decoded data",
            "profile the input function on its own",
        ]
    causes = [
        "work inside the step grows over time (a layer doing host work, growing Python state, "
        "a host callback in the graph)",
        "the device is throttling or shared with another process" if device
        else "the CPU is shared with other processes or throttled",
        "memory pressure (see MemoryMonitor)",
    ]
    if verdict == "waiting":
        causes.insert(0, "the step waits rather than computes: this process's CPU time per step did "
                         "not grow with its wall time (a host callback, I/O, a lock or a sleep in "
                         "the step" + (", or the device)" if device else ")"))
    return "step_time_drift", causes, [
        "compare step_time per epoch in the History/CSV logs",
        _advice.profiler_hint(),
        _advice.machine_check_hint(device),
    ]


def _cpu_evidence(load: dict, baseline: dict, windows: int) -> str:
    """Process CPU time against wall time over the last ``windows`` windows and at the
    baseline; the wait for a CPU; the machine's load."""
    def growth(key):
        return _ratio(load.get(key, math.nan), baseline.get(key, math.nan))

    parts = [f"over the last {windows} windows process CPU time / wall time "
             f"{_number(load.get('cpu_ratio'))} (baseline {_number(baseline.get('cpu_ratio'))})",
             f"CPU time per step x{growth('cpu_per_step')}, "
             f"wall time per step x{growth('wall_per_step')}"]
    waited = load.get("run_wait_per_step", math.nan)
    if math.isfinite(waited):
        parts.append(f"waiting for a CPU {milliseconds(waited)} per step (baseline "
                     f"{milliseconds(baseline.get('run_wait_per_step', math.nan))})")
    try:
        parts.append(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    except (AttributeError, OSError):
        pass
    return ", ".join(parts)


def milliseconds(seconds: float) -> str:
    return "n/a" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.2f} ms"


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _ratio(value: float, base: float) -> str:
    if not (math.isfinite(value) and math.isfinite(base)) or base <= 0:
        return "n/a"
    return f"{value / base:.2f}"
