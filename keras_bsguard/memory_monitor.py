"""``MemoryMonitor``: device memory and host RSS per window, limit fraction, leak detection."""

from __future__ import annotations

import math
import os
import threading

from keras_bsguard import _advice
from keras_bsguard._monitor_base import MonitorBase
from keras_bsguard._validate import check_float, check_int
from keras_bsguard.backends import get_adapter
from keras_bsguard.warnings import MemoryWarning

MIB = 1024.0 * 1024.0


def host_memory_limit() -> tuple[int, str]:
    """Bytes of memory this process may use on the host: the cgroup limit if lower than RAM."""
    import psutil

    total = int(psutil.virtual_memory().total)
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            return int(text), "cgroup limit"
    return total, "host RAM"


_STATM: dict[int, int] = {}  # pid -> an open descriptor of /proc/<pid>/statm (-1: none)
_STATM_LOCK = threading.Lock()


def host_rss() -> int:
    """Resident memory of this process in bytes, as ``psutil.Process().memory_info().rss``.

    On Linux it reads ``/proc/<pid>/statm`` (resident pages x page size, what psutil reads) with
    one ``pread`` on a descriptor kept open for the process: about 2 us against 11 us for psutil,
    which opens the file every time. Elsewhere psutil.

    >>> import psutil
    >>> abs(host_rss() - psutil.Process().memory_info().rss) < 64 * 2**20
    True
    """
    pid = os.getpid()
    fd = _STATM.get(pid)
    if fd is None:
        with _STATM_LOCK:
            fd = _STATM.get(pid)
            if fd is None:
                try:
                    fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
                except (OSError, AttributeError):
                    fd = -1
                _STATM.clear()  # a forked child drops its parent's entry
                _STATM[pid] = fd
    if fd >= 0:
        try:
            return int(os.pread(fd, 256, 0).split()[1]) * _page_size()
        except (OSError, ValueError, IndexError, AttributeError):
            pass
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


_PAGE = []


def _page_size() -> int:
    if not _PAGE:
        _PAGE.append(os.sysconf("SC_PAGE_SIZE"))
    return _PAGE[0]


class _Series:
    """Window peaks of one memory reading (device or host), for threshold and leak checks."""

    def __init__(self, name: str, limit: float | None):
        self.name = name
        self.limit = limit
        self.window_peak = 0.0
        self.peaks: list[float] = []

    def sample(self, value: float | None) -> None:
        if value is not None:
            self.window_peak = max(self.window_peak, float(value))

    def close(self) -> float:
        peak, self.window_peak = self.window_peak, 0.0
        self.peaks.append(peak)
        return peak

    def fraction(self, value: float) -> float:
        return value / self.limit if self.limit else math.nan


class MemoryMonitor(MonitorBase):
    """Samples device memory and host RSS during ``fit``; warns near the limit or on a leak.

    Device readings come from the backend adapter: JAX ``Device.memory_stats()``
    (``bytes_in_use``, ``peak_bytes_in_use``, ``bytes_limit``), TensorFlow
    ``tf.config.experimental.get_memory_info`` (peak reset per window), torch
    ``torch.cuda.max_memory_allocated`` (peak reset per window) with the card's total memory as the
    limit. On a CPU-only machine there is no device reading and the monitor says so: it reports
    the host process's resident memory (RSS, via psutil) against the host's RAM (or the cgroup
    limit, when lower). Host RSS is always sampled too.

    Every ``sample_every`` steps (on Keras's callback worker thread; nothing is synchronised with
    the device) it reads the figures, and at every window's last step; per window of ``window``
    steps it keeps the peak. The other steps cost a counter update. It warns
    (:class:`MemoryWarning`):

    * when a window's peak passes ``threshold`` of the known limit;
    * on a leak: after ``warmup_windows`` windows, when the last ``leak_windows`` window peaks rose
      at every window, by ``leak_min_growth_mb`` MiB or more in all.

    Logs, per epoch: ``memory_peak`` (MiB, the epoch's peak of the primary reading: device where
    there is one, else host RSS) and ``memory_fraction`` (that peak over its limit; ``nan`` when no
    limit is known). List it before ``CSVLogger``/``TensorBoard``.

    Steps are numbered as by the other monitors (1-based, across epochs, each step of a
    ``steps_per_execution`` call counted): windows close at steps ``window``, ``2 x window``...

    Args:
        threshold: fraction of the limit that triggers a warning, in (0, 1].
        window: steps per window (an integer >= 1).
        sample_every: steps between samples (>= 1; on Linux a host sample costs a few
            microseconds, a device sample as much as the backend's memory query).
        leak_windows: consecutive rising windows that make a leak (>= 2).
        leak_min_growth_mb: total growth over those windows needed for a leak warning (>= 0).
        warmup_windows: windows ignored by the leak check (>= 0; allocators and caches fill up
            first).
        log_dir, event_log: as for :class:`~keras_bsguard.StepTimeMonitor`.

    Example::

        import numpy as np, keras
        from keras_bsguard import MemoryMonitor

        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        history = model.fit(np.random.rand(256, 8), np.random.rand(256, 1), batch_size=32,
                            epochs=2, verbose=0, callbacks=[MemoryMonitor(window=4)])
        print(history.history["memory_peak"], history.history["memory_fraction"])
    """

    monitor_name = "memory"

    def __init__(
        self,
        threshold: float = 0.9,
        window: int = 50,
        sample_every: int = 10,
        leak_windows: int = 3,
        leak_min_growth_mb: float = 32.0,
        warmup_windows: int = 2,
        log_dir: str | None = None,
        event_log=None,
    ):
        owner = "MemoryMonitor"
        self.threshold = check_float(owner, "threshold", threshold, low=0.0, high=1.0, low_open=True)
        self.window = check_int(owner, "window", window, 1)
        self.sample_every = check_int(owner, "sample_every", sample_every, 1)
        self.leak_windows = check_int(owner, "leak_windows", leak_windows, 2)
        self.leak_min_growth_mb = check_float(owner, "leak_min_growth_mb", leak_min_growth_mb, low=0.0)
        self.warmup_windows = check_int(owner, "warmup_windows", warmup_windows, 0)
        super().__init__(log_dir=log_dir, event_log=event_log)

    def get_config(self) -> dict:
        return {
            "threshold": self.threshold,
            "window": self.window,
            "sample_every": self.sample_every,
            "leak_windows": self.leak_windows,
            "leak_min_growth_mb": self.leak_min_growth_mb,
            "warmup_windows": self.warmup_windows,
            **self._base_config(),
        }

    # ------------------------------------------------------------------------- lifecycle
    def on_train_begin(self, logs=None):
        self._adapter = get_adapter()
        host_limit, host_limit_kind = host_memory_limit()
        device = self._adapter.device_memory()
        with self._lock:
            self._step = 0  # the last global step seen at a batch end
            self._sampled_at = 0
            self._window_start = 0
            self._due = min(self.sample_every, self.window)  # the next step that samples
            self._host = _Series("host_rss", float(host_limit))
            self._device = None
            if device is not None:
                self._device = _Series(device["device"], device.get("limit"))
                self._adapter.reset_device_peak()
            self._epoch_peak = 0.0
        source = (
            f"device {device['device']}" if device is not None
            else f"host RSS only (no device memory statistics on this backend/device); "
                 f"limit = {host_limit_kind}"
        )
        self._start_run(window=self.window, source=source, host_limit=host_limit,
                        device_limit=None if device is None else device.get("limit"))

    def on_train_end(self, logs=None):
        with self._lock:
            if self._step > self._window_start:
                self._sample()
                self._close_window(partial=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._begin_epoch_steps()
        with self._lock:
            self._epoch_peak = 0.0

    def on_epoch_end(self, epoch, logs=None):
        with self._lock:
            self._sample()
            primary = self._primary()
            peak = max(self._epoch_peak, primary.window_peak)
        if logs is not None:
            logs["memory_peak"] = peak / MIB
            logs["memory_fraction"] = primary.fraction(peak)

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch_first_step + batch + 1  # the global step (MonitorBase._global_step)
        with self._lock:
            if step <= self._step:
                return  # an older batch-end, run late on Keras's thread pool
            self._step = self._last_step = step
            if step < self._due:
                return  # nothing to sample or close at this step
            closes = step - self._window_start >= self.window
            self._sample()
            self._sampled_at = step
            if closes:
                self._close_window()
            self._due = min(step + self.sample_every, self._window_start + self.window)

    # ---------------------------------------------------------------------------- readings
    def _primary(self) -> _Series:
        return self._device if self._device is not None else self._host

    def _sample(self) -> None:
        self._host.sample(host_rss())
        if self._device is not None:
            reading = self._adapter.device_memory(include_limit=False)
            if reading is not None:
                peak = reading["peak"] if reading.get("peak_resettable") else reading["in_use"]
                self._device.sample(peak)
                if reading.get("peak_resettable"):
                    self._adapter.reset_device_peak()
        self._epoch_peak = max(self._epoch_peak, self._primary().window_peak)

    def _close_window(self, partial: bool = False) -> None:
        figures = {}
        for series in filter(None, (self._device, self._host)):
            peak = series.close()
            figures[series.name] = {"peak_mb": peak / MIB, "fraction": series.fraction(peak)}
            if not partial:
                self._check(series, peak)
        primary = self._primary()
        steps, self._window_start = self._step - self._window_start, self._step
        self._window_record(
            self._step, steps=steps, partial=partial, source=primary.name,
            memory_peak=primary.peaks[-1] / MIB if primary.peaks else math.nan,
            memory_fraction=primary.fraction(primary.peaks[-1]) if primary.peaks else math.nan,
            readings=figures,
        )

    def _check(self, series: _Series, peak: float) -> None:
        what = "device" if series is self._device else "host"
        fraction = series.fraction(peak)
        if math.isfinite(fraction) and fraction >= self.threshold:
            self._warn_once(
                f"{what}_near_limit", MemoryWarning, self._step,
                f"{what.capitalize()} memory is near its limit.",
                f"window peak {peak / MIB:.0f} MiB = {fraction:.0%} of {series.limit / MIB:.0f} MiB "
                f"({series.name}); threshold {self.threshold:.0%}",
                ["a batch size close to what fits", "large intermediates in the loss "
                 "(batch x batch matrices: `bsguard lint`, BSG601)",
                 f"another process using the {'host' if what == 'host' else 'device'}"],
                ["lower the batch size or accumulate gradients over micro-batches",
                 "use mixed precision", "free references to old arrays between epochs"],
                peak_mb=peak / MIB, fraction=fraction,
            )
        usable = series.peaks[self.warmup_windows :]
        if len(usable) < self.leak_windows:
            return
        recent = usable[-self.leak_windows :]
        steps = [b - a for a, b in zip(recent, recent[1:])]
        growth = recent[-1] - recent[0]
        if growth >= self.leak_min_growth_mb * MIB and all(s > 0.5 * MIB for s in steps):
            per_window = growth / (len(recent) - 1) / MIB
            self._warn_once(
                f"{what}_leak", MemoryWarning, self._step,
                f"{what.capitalize()} memory grows steadily: a leak.",
                f"window peaks of {series.name} rose {len(steps)} windows in a row, "
                f"{recent[0] / MIB:.0f} -> {recent[-1] / MIB:.0f} MiB (+{per_window:.1f} MiB per "
                f"{self.window} steps)",
                ["a callback or metric that keeps references to tensors/arrays every step "
                 "(appending outputs or logs to a list)", "a growing Python cache in the input "
                 "pipeline", _advice.retrace_hint()],
                ["store floats (float(x)) instead of arrays", "bound the size of any list or "
                 "cache kept across steps", "see RecompileWarning from StepTimeMonitor"],
                growth_mb=growth / MIB,
            )
