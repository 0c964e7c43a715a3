"""Drift of per-step times against a run's own baseline, and whether the machine slowed down.

A *window* is a dict of medians over ``window`` steps: ``step_time``, ``data_time``,
``callback_time`` (seconds per step; ``nan`` when not measured), plus the window's
``wall_per_step``, ``cpu_per_step`` (process CPU seconds, all threads), ``cpu_ratio`` and
``run_wait_per_step`` (seconds its threads waited for a CPU), from :class:`ProcessClock`.

* **Baseline**: the median of the first ``baseline_windows`` windows, per figure. With three or
  more windows one disturbed window (a cold file cache, a compile) cannot move it.
* **Re-anchoring, only on evidence**: when the last ``baseline_windows`` windows of a figure were
  all below its baseline by more than the floor, the baseline was disturbed: it becomes their
  median. A baseline never moves up (that would be drift, absorbed).
* **Floor**: a figure drifts only if it grew by more than
  ``max(min_drift_seconds, (drift_factor - 1) x baseline seconds per step,
  switch interval / window steps)``, the seconds per step being the sum of the three baseline
  medians: the floor scales with the step, and a tiny figure (an input wait of 10 us) cannot
  "drift" by a factor that changes nothing. The last term is the scheduler's share: a window's
  end is seen on a thread that can wait one interpreter switch interval
  (``sys.getswitchinterval()``, 5 ms) for the GIL, so a window of 5 steps can gain 1 ms per step
  from that alone.
* **Judged**: the three figures, and ``wall_per_step``, all of the time per step (a loaded
  machine slows the loop around the step as well as the step).
* **Drift**: the last ``patience`` windows all above ``drift_factor`` x baseline, or the last four
  windows rising one after another past half that factor; above the floor in both cases; and
  the figure above half the factor and the floor for at least ``sustain_seconds`` of wall time
  (windows carry their ``seconds``), unless the last ``patience`` windows are all above
  :data:`OBVIOUS_FACTOR` (x2.5) x the baseline. A moderate slowdown of a second costs a second:
  what is worth a warning lasts. On a shared cloud VM we measured a torch CPU step x1.5-1.7
  slower for 0.2-1 s at a time on a clean run, the machine's doing; never x2.5.

    >>> judge = DriftJudge(drift_factor=1.3, baseline_windows=3, patience=2, min_drift_seconds=1e-4)
    >>> def window(step):
    ...     return {"step_time": step, "data_time": 1e-5, "callback_time": 0.0}
    >>> [judge.add(window(s)) for s in (0.5e-3, 5e-3, 0.5e-3)]  # one disturbed window of three
    [[], [], []]
    >>> judge.baseline["step_time"]
    0.0005
    >>> judge.add(window(1.9e-3)), judge.add(window(1.9e-3))      # a x3.8 slowdown of a 0.5 ms step
    ([], ['step_time'])
    >>> DriftJudge(1.3, 3, 2, 5e-4, window_steps=5).scheduling_floor  # 5 ms GIL interval / 5 steps
    0.001
    >>> lasting = DriftJudge(1.3, 3, 2, 1e-4, sustain_seconds=2.0)
    >>> def timed(step):
    ...     return {**window(step), "seconds": 0.5}
    >>> [lasting.add(timed(s)) for s in [0.5e-3] * 3 + [1.0e-3] * 4]  # x2 in 0.5 s windows
    [[], [], [], [], [], [], ['step_time']]
    >>> obvious = DriftJudge(1.3, 3, 2, 1e-4, sustain_seconds=2.0)
    >>> [obvious.add(timed(s)) for s in [0.5e-3] * 3 + [1.9e-3] * 2]  # x3.8: at once
    [[], [], [], [], ['step_time']]
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import statistics
import sys
import time

FIGURES = ("step_time", "data_time", "callback_time")  # where the time per step goes
# A slowdown beyond this factor is reported at patience, without waiting for sustain_seconds: the
# most a shared 2-core VM slowed a fixed workload on its own was x2.1 (24 -> 51 us per call).
OBVIOUS_FACTOR = 2.5
JUDGED = FIGURES + ("wall_per_step",)  # and all of it: the lap's wall time per step
_CONTEXT = ("cpu_per_step", "cpu_ratio", "run_wait_per_step")


def _median(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


class DriftJudge:
    """Baselines and drift of the per-step figures of closed windows; see the module doc."""

    def __init__(self, drift_factor: float, baseline_windows: int, patience: int,
                 min_drift_seconds: float, window_steps: int | None = None,
                 sustain_seconds: float = 0.0):
        self.drift_factor = drift_factor
        self.baseline_windows = baseline_windows
        self.patience = patience
        self.min_drift_seconds = min_drift_seconds
        self.sustain_seconds = sustain_seconds
        # Per figure: wall seconds of the unbroken run of latest windows above half the drift
        # factor and the floor (each window's ``seconds``: required when sustain_seconds > 0).
        self.slow_seconds = {figure: 0.0 for figure in JUDGED}
        # A window's end is seen by a thread that may wait one interpreter switch interval for
        # the GIL (5 ms by default): that much time can move between two windows, i.e. up to
        # interval / steps per step. Growth below it is the scheduler's, not the run's.
        self.scheduling_floor = sys.getswitchinterval() / window_steps if window_steps else 0.0
        # Only the last few windows are ever looked at: a bounded history keeps each add() cheap
        # however long the run.
        self.windows: collections.deque[dict] = collections.deque(
            maxlen=max(baseline_windows, patience, 4))
        self.baseline: dict | None = None
        self._judged = 0  # windows judged against the baseline (added after it formed)
        self.reanchored: list[str] = []  # figures whose baseline moved at the last add()
        self.slow_now: list[str] = []  # figures above factor and floor in the last window

    def floor(self) -> float:
        """The smallest growth per step that counts as drift (seconds)."""
        per_step = sum(v for v in (self.baseline.get(f, math.nan) for f in FIGURES) if math.isfinite(v))
        return max(self.min_drift_seconds, (self.drift_factor - 1.0) * per_step,
                   self.scheduling_floor)

    def add(self, window: dict) -> list[str]:
        """Record a closed window; the figures that drifted (in :data:`JUDGED` order)."""
        self.reanchored = []
        self.windows.append(window)
        if self.baseline is None:
            if len(self.windows) >= self.baseline_windows:
                self.baseline = self._medians(list(self.windows)[-self.baseline_windows :])
            return []
        self._judged += 1
        recent = list(self.windows)[-self._judged :]
        floor = self.floor()
        self.slow_now = [f for f in JUDGED if self._slow(window.get(f, math.nan), self.baseline[f],
                                                         self.drift_factor, floor)]
        seconds = window.get("seconds", math.nan)
        if not math.isfinite(seconds):
            if self.sustain_seconds > 0:
                raise ValueError("DriftJudge(sustain_seconds > 0) needs each window's 'seconds'")
            seconds = 0.0
        half = 1.0 + (self.drift_factor - 1.0) / 2.0
        for f in JUDGED:
            above = self._slow(window.get(f, math.nan), self.baseline[f], half, floor)
            self.slow_seconds[f] = self.slow_seconds[f] + seconds if above else 0.0
        series = {f: [w.get(f, math.nan) for w in recent] for f in JUDGED}
        pattern = [f for f in JUDGED if self._drifted(series[f], self.baseline[f], floor)]
        drifted = [f for f in pattern if self.slow_seconds[f] >= self.sustain_seconds
                   or self._obvious(series[f], self.baseline[f])]
        if not pattern:  # a drift waiting for its sustain_seconds is no evidence to move down on
            self._reanchor(recent, floor)
        return drifted

    def recent_load(self, windows: int) -> dict:
        """Wall time, CPU time and wait for a CPU per step over the last ``windows`` windows
        (their mean: the span the drift was judged on), with the CPU ratio of that span."""
        span = list(self.windows)[-windows:]
        load = {key: statistics.fmean(values) if values else math.nan
                for key in ("wall_per_step", "cpu_per_step", "run_wait_per_step")
                for values in [[w[key] for w in span if math.isfinite(w.get(key, math.nan))]]}
        load["cpu_ratio"] = (load["cpu_per_step"] / load["wall_per_step"]
                             if load["wall_per_step"] > 0 else math.nan)
        return load

    # ----------------------------------------------------------------------------- internals
    def _medians(self, windows: list[dict]) -> dict:
        return {key: _median([w.get(key, math.nan) for w in windows]) for key in JUDGED + _CONTEXT}

    def _reanchor(self, recent: list[dict], floor: float) -> None:
        last = recent[-self.baseline_windows :]
        if len(last) < self.baseline_windows:
            return
        moved = [f for f in JUDGED if math.isfinite(self.baseline[f]) and all(
            math.isfinite(w.get(f, math.nan)) and w[f] < self.baseline[f] - floor for w in last)]
        if not moved:
            return
        fresh = self._medians(last)
        for key in moved + list(_CONTEXT):
            self.baseline[key] = fresh[key]
        self.reanchored = moved

    def _obvious(self, recent: list[float], baseline: float) -> bool:
        """The last ``patience`` windows all above :data:`OBVIOUS_FACTOR` x the baseline: more
        than a machine slows down on its own; reported without waiting for ``sustain_seconds``."""
        tail = recent[-self.patience :]
        return len(tail) == self.patience and all(
            math.isfinite(v) and math.isfinite(baseline) and v > OBVIOUS_FACTOR * baseline for v in tail)

    @staticmethod
    def _slow(value: float, baseline: float, factor: float, floor: float) -> bool:
        return (math.isfinite(value) and math.isfinite(baseline) and value > factor * baseline
                and value - baseline > floor)

    def _drifted(self, recent: list[float], baseline: float, floor: float) -> bool:
        if not recent or not math.isfinite(baseline):
            return False
        tail = recent[-self.patience :]
        if len(tail) == self.patience and all(self._slow(v, baseline, self.drift_factor, floor)
                                              for v in tail):
            return True
        last4 = recent[-4:]
        rising = len(last4) == 4 and all(b > a for a, b in zip(last4, last4[1:]))
        return rising and self._slow(last4[-1], baseline, 1.0 + (self.drift_factor - 1.0) / 2.0, floor)


class ProcessClock:
    """Wall time, this process's CPU time and its time waiting for a CPU, lap by lap.

    ``cpu_ratio`` is process CPU seconds (all threads, ``time.process_time``) per wall second: it
    falls when the process computes less per second. ``run_wait_per_step`` is the time its threads
    spent runnable but waiting for a CPU (Linux ``/proc/self/task/*/schedstat``; ``nan``
    elsewhere): it rises when other processes take the CPUs. :meth:`pause` and :meth:`resume`
    leave out what happens between epochs (validation, epoch-end callbacks).
    """

    def __init__(self):
        self._threads: dict[str, int] = {}
        self._files: dict[str, int] = {}  # thread id -> open descriptor of its schedstat
        self._run_wait = 0.0
        self._paused_at = None
        self._excluded = (0.0, 0.0, 0.0)
        self.mark = self.read()

    def read(self) -> tuple[float, float, float]:
        """``(wall, process CPU, run-queue wait)`` in seconds, less the paused intervals (while
        paused: the reading at the pause)."""
        now = self._paused_at or (time.perf_counter(), time.process_time(), self._read_run_wait())
        return tuple(n - e for n, e in zip(now, self._excluded))

    def _read_run_wait(self) -> float:
        """Cumulative run-queue wait of the process's threads, including threads that ended.

        Each thread's ``schedstat`` is opened once and read again with ``pread`` (a Keras fit
        on JAX runs ~26 threads: ~50 us a read, against ~160 us opening every file each time).
        """
        folder = "/proc/self/task"
        try:
            tasks = os.listdir(folder)
        except OSError:
            return math.nan
        files = self._files
        for task in tasks:
            fd = files.get(task)
            try:
                if fd is None:
                    fd = files[task] = os.open(f"{folder}/{task}/schedstat", os.O_RDONLY)
                waited = int(os.pread(fd, 128, 0).split()[1])
            except (OSError, ValueError, IndexError):
                self._close(task)
                continue
            self._run_wait += max(0, waited - self._threads.get(task, 0)) / 1e9
            self._threads[task] = waited
        if len(files) > len(tasks):  # threads that ended
            for task in set(files) - set(tasks):
                self._close(task)
        return self._run_wait

    def _close(self, task: str) -> None:
        fd = self._files.pop(task, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Close the thread files (the clock still reads wall and CPU time)."""
        for task in list(self._files):
            self._close(task)

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter shutdown the os module may be gone
            self.close()

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = (time.perf_counter(), time.process_time(), self._read_run_wait())

    def resume(self) -> None:
        if self._paused_at is None:
            return
        now = (time.perf_counter(), time.process_time(), self._read_run_wait())
        self._excluded = tuple(e + n - p for e, n, p in zip(self._excluded, now, self._paused_at))
        self._paused_at = None

    def lap(self, steps: int) -> dict:
        """Figures since the last lap (or construction), per step of ``steps``."""
        now = self.read()
        (wall0, cpu0, wait0), self.mark = self.mark, now
        wall, cpu, wait = now[0] - wall0, now[1] - cpu0, now[2] - wait0
        steps = max(1, steps)
        return {
            "wall_per_step": wall / steps,
            "cpu_per_step": cpu / steps,
            "cpu_ratio": cpu / wall if wall > 0 else math.nan,
            "run_wait_per_step": wait / steps,
        }


def machine_verdict(window: dict, baseline: dict, drift_factor: float) -> str | None:
    """Why the wall time per step grew by the drift factor, when it was not more computation.

    ``"machine"``: at least half of the extra wall time per step was spent by this process's
    threads waiting for a CPU (run queue) and its CPU time per step grew less than its wall time:
    other processes took the CPUs. ``"waiting"``: its CPU time per step grew less than half as
    much as its wall time, without that wait for a CPU: it waited on a device, I/O, a lock or a
    sleep. ``None`` otherwise (the process computes more per step: the model or its input).

    >>> base = {"wall_per_step": 1.5e-3, "cpu_per_step": 1.5e-3, "run_wait_per_step": 0.16e-3}
    >>> machine_verdict({"wall_per_step": 3.2e-3, "cpu_per_step": 2.4e-3, "run_wait_per_step": 1.3e-3},
    ...                 base, 1.3)
    'machine'
    >>> machine_verdict({"wall_per_step": 3.2e-3, "cpu_per_step": 1.5e-3, "run_wait_per_step": 0.2e-3},
    ...                 base, 1.3)
    'waiting'
    >>> machine_verdict({"wall_per_step": 3.2e-3, "cpu_per_step": 3.3e-3, "run_wait_per_step": 0.2e-3},
    ...                 base, 1.3)
    """
    wall, base_wall = window.get("wall_per_step", math.nan), baseline.get("wall_per_step", math.nan)
    cpu, base_cpu = window.get("cpu_per_step", math.nan), baseline.get("cpu_per_step", math.nan)
    if not all(math.isfinite(v) and v > 0 for v in (wall, base_wall, cpu, base_cpu)):
        return None
    wall_growth, cpu_growth = wall / base_wall, cpu / base_cpu
    if wall_growth < drift_factor:
        return None
    waited = window.get("run_wait_per_step", math.nan) - baseline.get("run_wait_per_step", math.nan)
    if math.isfinite(waited) and waited >= 0.5 * (wall - base_wall) and cpu_growth < wall_growth:
        return "machine"
    return "waiting" if cpu_growth < 1.0 + (wall_growth - 1.0) / 2.0 else None
