"""Run a loss and its gradient with respect to ``y_pred`` the way Keras compiles a train step.

One engine per backend: JAX (``jax.jit``), TensorFlow (``tf.function``), torch (eager autograd).
Each gives the first-call (trace and compile) time, the steady time per call, the call's peak
memory (and says how it was measured), the size of the traced program (JAX, TensorFlow) and
the loss and gradient as NumPy values. The loss is reduced the way Keras reduces it by default:
the mean of whatever it returns (per-sample values, or a scalar as it is).

Example::

    >>> import keras, numpy as np
    >>> engine = make_engine(keras.backend.backend())
    >>> run = engine.compile(lambda y_true, y_pred: (y_true - y_pred) ** 2, prediction_first=False)
    >>> loss, grad = run.value_and_grad(np.zeros((2, 1), "float32"), np.ones((2, 1), "float32"))
    >>> round(loss, 3), grad.ravel().tolist()
    (1.0, [1.0, 1.0])
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

import numpy as np


def make_engine(backend: str):
    """The engine of ``backend`` (``jax``, ``tensorflow`` or ``torch``)."""
    return {"jax": JaxEngine, "tensorflow": TensorFlowEngine, "torch": TorchEngine}[backend]()


def _arguments(loss, prediction_first: bool, shapes: dict):
    """The loss with Keras's argument order, recording the shape it returns per input shape."""

    def ordered(y_true, y_pred):
        value = loss(y_pred, y_true) if prediction_first else loss(y_true, y_pred)
        if isinstance(value, (tuple, list, dict)):
            raise TypeError(f"the loss returned a {type(value).__name__} of {len(value)} values: expected one tensor")
        shape = getattr(value, "shape", ())
        shapes[tuple(int(d) for d in y_pred.shape)] = tuple(int(d) if d is not None else -1 for d in shape)
        return value

    return ordered


class _Compiled:
    """One loss compiled for one engine; ``prepare`` compiles for a batch's shapes."""

    memory_method = "not measured"
    output_shapes: dict

    def output_shape(self, y_pred) -> tuple | None:
        """The shape the loss returned for predictions shaped like ``y_pred`` (seen when traced)."""
        return self.output_shapes.get(tuple(y_pred.shape))

    def steady_seconds(self, y_true, y_pred, min_seconds: float = 0.2, max_calls: int = 30) -> float:
        """Median seconds per call after one warm-up call (at least 3 calls), inputs in place."""
        yt, yp = self.engine.tensor(y_true), self.engine.tensor(y_pred)
        self._run(yt, yp)
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < 3 or (time.perf_counter() - started < min_seconds and len(times) < max_calls):
            begin = time.perf_counter()
            self._run(yt, yp)
            times.append(time.perf_counter() - begin)
        return statistics.median(times)

    def call(self, y_true, y_pred):
        """Loss and gradient of NumPy inputs, finished (synchronised)."""
        return self._run(self.engine.tensor(y_true), self.engine.tensor(y_pred))


class JaxEngine:
    """``jax.jit(jax.value_and_grad(...))``; memory from XLA's analysis of the compiled program."""

    name = "jax"

    def tensor(self, array):
        import jax

        return jax.device_put(array)

    def compile(self, loss, prediction_first: bool, eager: bool = False):
        import jax
        import jax.numpy as jnp

        shapes: dict = {}
        ordered = _arguments(loss, prediction_first, shapes)

        def reduced(y_true, y_pred):
            return jnp.mean(jnp.asarray(ordered(y_true, y_pred), jnp.float32))

        function = jax.value_and_grad(reduced, argnums=1)
        compiled = _Eager(function, self, jax.block_until_ready) if eager else _JaxCompiled(jax.jit(function), self)
        compiled.output_shapes = shapes
        return compiled


class _JaxCompiled(_Compiled):
    memory_method = "XLA memory analysis of the compiled call (arguments + outputs + temporaries)"

    def __init__(self, function, engine):
        self.function, self.engine, self.executables = function, engine, {}

    def prepare(self, y_true, y_pred) -> dict:
        """Trace, compile and run once: the first-call seconds, program size and peak bytes."""
        import jax

        yt, yp = self.engine.tensor(y_true), self.engine.tensor(y_pred)
        begin = time.perf_counter()
        lowered = self.function.lower(yt, yp)
        executable = lowered.compile()
        jax.block_until_ready(executable(yt, yp))
        seconds = time.perf_counter() - begin
        self.executables[(tuple(y_true.shape), tuple(y_pred.shape))] = executable
        stats = executable.memory_analysis()
        peak = None
        if stats is not None:
            peak = int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
                       - stats.alias_size_in_bytes)
        size = sum(1 for line in lowered.as_text().splitlines() if "=" in line)
        return {"compile_seconds": seconds, "peak_bytes": peak, "program_size": size}

    def _run(self, yt, yp):
        import jax

        executable = self.executables.get((tuple(yt.shape), tuple(yp.shape)))
        if executable is None:  # a shape prepare() did not see (the behaviour checks' halves)
            return jax.block_until_ready(self.function(yt, yp))
        return jax.block_until_ready(executable(yt, yp))

    def value_and_grad(self, y_true, y_pred):
        loss, grad = self.call(y_true, y_pred)
        return float(loss), np.asarray(grad)


class TensorFlowEngine:
    """``tf.function`` around a ``GradientTape``; memory from the traced graph's tensor sizes."""

    name = "tensorflow"

    def tensor(self, array):
        import tensorflow as tf

        return tf.constant(array)

    def compile(self, loss, prediction_first: bool, eager: bool = False):
        import tensorflow as tf

        shapes: dict = {}
        ordered = _arguments(loss, prediction_first, shapes)

        def step(y_true, y_pred):
            with tf.GradientTape() as tape:
                tape.watch(y_pred)
                value = tf.reduce_mean(tf.cast(ordered(y_true, y_pred), tf.float32))
            grad = tape.gradient(value, y_pred)  # None: no path from y_pred (a step function)
            return value, tf.zeros_like(y_pred) if grad is None else grad

        compiled = _Eager(step, self, _numpy) if eager else _TensorFlowCompiled(tf.function(step), self)
        compiled.output_shapes = shapes
        return compiled


class _TensorFlowCompiled(_Compiled):
    memory_method = ("bytes of every tensor the traced graph produces (an upper bound on the peak: TensorFlow "
                     "frees tensors as it goes; TensorFlow has no allocator statistics on CPU)")

    def __init__(self, function, engine):
        self.function, self.engine = function, engine

    def prepare(self, y_true, y_pred) -> dict:
        yt, yp = self.engine.tensor(y_true), self.engine.tensor(y_pred)
        begin = time.perf_counter()
        concrete = self.function.get_concrete_function(yt, yp)
        _numpy(self.function(yt, yp))
        seconds = time.perf_counter() - begin
        operations = concrete.graph.get_operations()
        total, unsized = _graph_bytes(operations)
        return {"compile_seconds": seconds, "peak_bytes": total, "program_size": len(operations),
                "unsized_tensors": unsized}

    def _run(self, yt, yp):
        return _numpy(self.function(yt, yp))

    def value_and_grad(self, y_true, y_pred):
        loss, grad = self.call(y_true, y_pred)
        return float(loss), np.asarray(grad)


class TorchEngine:
    """Eager autograd (Keras runs torch eagerly); memory from torch's profiler allocation events."""

    name = "torch"

    def tensor(self, array):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"  # where Keras's torch backend puts tensors
        if array.dtype == np.int32:  # class ids: torch's losses index with int64
            return torch.from_numpy(np.ascontiguousarray(array.astype(np.int64))).to(device)
        if array.dtype.name == "bfloat16":  # NumPy has no bfloat16 that torch reads
            return torch.from_numpy(np.ascontiguousarray(array.astype(np.float32))).to(device, torch.bfloat16)
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    def compile(self, loss, prediction_first: bool, eager: bool = True):
        shapes: dict = {}
        ordered = _arguments(loss, prediction_first, shapes)

        import torch

        def step(y_true, y_pred):
            y_pred = y_pred.detach().clone().requires_grad_(True)
            value = ordered(y_true, y_pred)
            value = torch.as_tensor(value).float().mean()
            if value.requires_grad:  # else no path from y_pred (a step function): the gradient is 0
                value.backward()
            grad = y_pred.grad if y_pred.grad is not None else torch.zeros_like(y_pred)
            return value.detach(), grad

        compiled = _TorchCompiled(step, self)
        compiled.output_shapes = shapes
        return compiled


class _Eager(_Compiled):
    """JAX or TensorFlow without compiling (``run_eagerly=True``): when the compiled call fails."""

    memory_method = "not measured (eager)"

    def __init__(self, function, engine, finish):
        self.function, self.engine, self.finish = function, engine, finish

    def prepare(self, y_true, y_pred) -> dict:
        begin = time.perf_counter()
        self.call(y_true, y_pred)
        return {"compile_seconds": time.perf_counter() - begin, "peak_bytes": None, "program_size": None}

    def _run(self, yt, yp):
        return self.finish(self.function(yt, yp))

    def value_and_grad(self, y_true, y_pred):
        loss, grad = self.call(y_true, y_pred)
        return float(loss), np.asarray(grad)


class _TorchCompiled(_Compiled):
    memory_method = "torch profiler: peak bytes allocated by torch during the call (forward and backward)"

    def __init__(self, function, engine):
        self.function, self.engine = function, engine

    def prepare(self, y_true, y_pred) -> dict:
        import torch

        yt, yp = self.engine.tensor(y_true), self.engine.tensor(y_pred)
        begin = time.perf_counter()
        self._run(yt, yp)
        seconds = time.perf_counter() - begin
        if yp.is_cuda:  # the CUDA caching allocator's own peak (not run here: no GPU on this project's CI)
            self.memory_method = "torch.cuda.max_memory_allocated during the call, above the level before it"
            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            self._run(yt, yp)
            peak = int(torch.cuda.max_memory_allocated() - before)
        else:
            peak = _torch_peak(lambda: self._run(yt, yp))
        return {"compile_seconds": seconds, "peak_bytes": peak, "program_size": None}

    def _run(self, yt, yp):
        outputs = self.function(yt, yp)
        if yp.is_cuda:  # CUDA runs asynchronously: wait, so that the time is the call's
            import torch

            torch.cuda.synchronize()
        return outputs

    def value_and_grad(self, y_true, y_pred):
        loss, grad = self.call(y_true, y_pred)
        grad = np.zeros(y_pred.shape, y_pred.dtype) if grad is None else grad.float().cpu().numpy()
        return float(loss), grad


def _numpy(outputs):
    return tuple(np.asarray(output) for output in outputs)


def _torch_peak(call) -> int | None:
    """Peak of torch's "Total Allocated" during ``call`` above its level before, from the profiler."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        call()
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        profiler.export_chrome_trace(path)
        with open(path, encoding="utf-8") as stream:
            events = json.load(stream).get("traceEvents", [])
    finally:
        os.unlink(path)
    totals = []
    for event in events:
        if event.get("name") == "[memory]":
            arguments = event.get("args", {})
            if arguments.get("Device Type", 0) == 0 and "Total Allocated" in arguments:
                totals.append((event.get("ts", 0), arguments["Total Allocated"], arguments.get("Bytes", 0)))
    if not totals:
        return 0
    totals.sort()
    start = totals[0][1] - totals[0][2]
    return int(max(total for _, total, _ in totals) - start)


class _quiet_stderr:
    """Silence file descriptor 2 (the torch profiler's native start/stop lines) for a block."""

    def __enter__(self):
        import sys

        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        except OSError:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


def _graph_bytes(operations) -> tuple[int, int]:
    """Sum of the sizes of every tensor that the graph's operations output, and how many float or
    integer tensors have a shape that depends on the data (``boolean_mask``, ``dynamic_partition``,
    ``where``): those are left out, so the sum is then incomplete."""
    total, unsized = 0, 0
    for operation in operations:
        for output in operation.outputs:
            try:
                size = output.dtype.size
            except (AttributeError, TypeError, ValueError):
                continue
            shape = output.shape
            if shape.rank is None or not shape.is_fully_defined():
                if output.dtype.is_floating or output.dtype.is_integer:
                    unsized += 1
                continue
            total += int(np.prod(shape.as_list(), dtype=np.int64)) * size
    return total, unsized
