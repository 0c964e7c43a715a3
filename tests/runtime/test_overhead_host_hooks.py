"""What the monitors do on the host per step, pinned: memory is read every ``sample_every`` steps
and at window ends only, the gradient buffer once per window, the fit loop's own callback hooks
are wrapped only where the input wait needs them (torch), and the shortcuts taken for speed give
the same figures as the plain definitions."""

from __future__ import annotations

import doctest
import importlib
import math
import random
import statistics

import keras
import pytest
from runtime_helpers import BACKEND, mlp, regression_data

from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor
from keras_bsguard._callback_timer import find_callback_list


class Synchronous(keras.callbacks.Callback):
    """Not ``async_safe``, with a batch-end hook: Keras then runs every batch-end on the fit
    thread, in order (the figures below depend on the order)."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def _fit(callbacks, epochs=2, steps=8, batch=16):
    x, y = regression_data(n=steps * batch)
    model = mlp()
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model


def test_memory_is_read_every_sample_every_steps_and_at_window_ends(monkeypatch):
    import keras_bsguard.memory_monitor as module

    monitor = MemoryMonitor(window=7, sample_every=3)
    read_at = []
    real = module.host_rss

    def counting():
        read_at.append(monitor._step)
        return real()

    monkeypatch.setattr(module, "host_rss", counting)
    _fit([monitor, Synchronous()])
    # Samples at steps 3, 6, 9... restarted by the window ends at 7 and 14; one at each epoch end
    # (steps 8 and 16) and one for the partial window at the end of the fit.
    assert read_at == [3, 6, 7, 8, 10, 13, 14, 16, 16]


def test_host_rss_reads_what_psutil_reads():
    import os

    import psutil

    from keras_bsguard.memory_monitor import host_rss

    ours, theirs = host_rss(), psutil.Process(os.getpid()).memory_info().rss
    assert abs(ours - theirs) <= 16 * 1024 * 1024, (ours, theirs)  # the heap moves in between


def test_the_gradient_buffer_is_copied_once_per_window(monkeypatch):
    from keras_bsguard.backends import get_adapter

    adapter = get_adapter()
    copies = []
    real = adapter.snapshot_variables

    def counting(model, variables):
        copies.append(1)
        return real(model, variables)

    monkeypatch.setattr(adapter, "snapshot_variables", counting)
    monitor = GradientNormMonitor(window=4)
    catch_ups = []
    fell_behind = monitor._reads_fell_behind

    def recording(batch):
        late = fell_behind(batch)
        if late:
            catch_ups.append(batch)
        return late

    monitor._reads_fell_behind = recording
    _fit([monitor])
    # Per epoch of 8 steps: at the batch-begin of batch 4 and at the epoch end; once more at the
    # end of the fit. A host that starves Keras's callback threads makes the training thread
    # catch up with one read more, at a batch begin at least half a ring after the last read
    # (seen on a loaded 2-core CI machine); those are counted apart, and stay rare.
    assert len(copies) == 2 * 2 + 1 + len(catch_ups), (len(copies), catch_ups)
    assert len(catch_ups) <= 2, catch_ups


class ListProbe(keras.callbacks.Callback):
    """Looks at the CallbackList that dispatches to it, mid-fit."""

    def __init__(self):
        super().__init__()
        self.wrapped = None

    def on_epoch_end(self, epoch, logs=None):
        callback_list = find_callback_list(self)
        self.wrapped = sorted(name for name in ("on_train_batch_begin", "on_train_batch_end")
                              if name in vars(callback_list))


def test_the_fit_loops_own_hooks_are_wrapped_only_where_the_input_wait_needs_them():
    probe = ListProbe()
    _fit([StepTimeMonitor(window=4), probe], epochs=1)
    # torch pulls the next batch between the batch-end and batch-begin blocks of callbacks; JAX
    # and TensorFlow are timed inside the train function.
    expected = ["on_train_batch_begin", "on_train_batch_end"] if BACKEND == "torch" else []
    assert probe.wrapped == expected


def test_the_fast_median_is_the_median_of_the_finite_values():
    from keras_bsguard._monitor_base import median

    rng = random.Random(0)
    specials = [math.nan, math.inf, -math.inf, None]
    for _ in range(500):
        values = [rng.choice(specials) if rng.random() < 0.1 else rng.uniform(-5, 5)
                  for _ in range(rng.randint(0, 12))]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        expected = statistics.median(finite) if finite else math.nan
        got = median(values)
        assert (math.isnan(got) and math.isnan(expected)) or got == expected, (values, got)
    assert median(iter([1.0, 3.0, 2.0])) == 2.0
    assert median([1e308, 1e308, 1.0]) == 1e308  # a sum that overflows still has a median


@pytest.mark.parametrize("name", ["keras_bsguard._monitor_base", "keras_bsguard.gradient_norm_monitor",
                                  "keras_bsguard.memory_monitor"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/task"), reason="Linux /proc only")
def test_the_process_clock_keeps_one_descriptor_per_live_thread_and_closes_them():
    import os
    import threading

    from keras_bsguard._drift import ProcessClock

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    clock = ProcessClock()
    tid = str(worker.native_id)
    assert tid in clock._files and str(threading.main_thread().native_id) in clock._files
    held = dict(clock._files)
    first = clock._read_run_wait()
    assert all(clock._files[task] == fd for task, fd in held.items() if task in clock._files)  # reused
    stop.set()
    worker.join()
    for _ in range(200):  # the kernel lists a joined thread for a moment longer
        if tid not in os.listdir("/proc/self/task"):
            break
        threading.Event().wait(0.005)
    second = clock._read_run_wait()  # the ended thread's descriptor is dropped, its wait kept
    assert tid not in clock._files and second >= first >= 0.0
    assert clock.lap(10)["run_wait_per_step"] >= 0.0
    def target(fd):
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None

    paths = {fd: target(fd) for fd in clock._files.values()}
    assert all(path and path.endswith("/schedstat") for path in paths.values())
    clock.close()
    assert not clock._files
    assert all(target(fd) != path for fd, path in paths.items())  # closed (or reused elsewhere)
