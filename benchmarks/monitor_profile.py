"""Where the monitors' per-step cost goes: the compiled step and the host side, apart.

For each backend (one subprocess each), on the seeds' MLP of issue #11 (784 -> 128 -> 10, Adam):

* **compiled step alone**: train functions called in a loop on one batch with no callbacks and no
  ``fit`` loop (medians over finely interleaved rounds, per step): Keras's own step, the hub's step
  with GradientNormMonitor's feature recording nothing, and as shipped (norm and buffer write).
  The difference of the last two is what the norm adds to the step itself (JAX and TensorFlow,
  whose steps are traced once; an eager torch step reads the attached features at every call, so
  there both hub variants run the shipped monitor's norm). On JAX also the number of operations
  (fusions, copies, dots: one kernel launch each on XLA CPU) in the optimized HLO of Keras's step
  and of the hub's with the norm, and a ``jax.profiler`` trace of the three steps (interleaved):
  the device time per step (XLA's thunk executor, waiting for completion) and the operations
  whose time changes most (parsed with TensorFlow's XPlane protobuf where TensorFlow is
  installed);
* **host side**: in real ``fit`` calls, the CPU time (``time.thread_time``, which waiting for the
  GIL or the device does not count) spent per step in each monitor hook, on whichever thread
  Keras runs it, and the whole process's CPU time and wall time per step against a plain fit
  (interleaved rounds, medians); "plain again" is the machine's noise floor; GradientNormMonitor
  also without the norm (same instrumented step and hooks) and without its batch hooks (the norm
  computed, never read during the epoch).

    python benchmarks/monitor_profile.py                       # jax, tensorflow, torch
    python benchmarks/monitor_profile.py --backends jax --batch-size 32

Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import time

from _workers import run_worker

HOOKS = ("on_train_batch_begin", "on_train_batch_end", "before_call", "data_ready", "after_call")
VARIANTS = ("plain", "plain_again", "step_time", "gradient_norm", "gradient_norm_no_norm", "gradient_norm_no_host",
            "memory", "all")


class _NoNorm:
    """GradientNormMonitor whose feature records nothing: the same instrumented step, buffer and
    host hooks, without the norm and its buffer write in the compiled step."""

    def __new__(cls):
        from keras_bsguard import GradientNormMonitor

        class Monitor(GradientNormMonitor):
            def on_train_begin(self, logs=None):
                super().on_train_begin(logs)
                self._feature.record = lambda grads, variables, loss_scale: {}
                self._feature.cache_key = lambda: "records nothing"  # its own cached step
                self._hub.rebuild()

        return Monitor()


class _NoHost:
    """GradientNormMonitor with its per-batch host hooks switched off: the norm is computed and
    written into the device buffer every step, never read during the epoch."""

    def __new__(cls):
        from keras_bsguard import GradientNormMonitor

        class Monitor(GradientNormMonitor):
            def on_train_batch_begin(self, batch, logs=None):
                pass

            def on_train_batch_end(self, batch, logs=None):
                pass

        return Monitor()


def _monitors(variant: str) -> list:
    from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    return {"plain": [], "plain_again": [], "step_time": [StepTimeMonitor()], "gradient_norm": [GradientNormMonitor()],
            "gradient_norm_no_norm": [_NoNorm()], "gradient_norm_no_host": [_NoHost()],
            "memory": [MemoryMonitor()], "all": [StepTimeMonitor(), GradientNormMonitor(), MemoryMonitor()]}[variant]


class _StepRunner:
    """Calls train functions of the model's backend on one batch, the state threaded (JAX)."""

    def __init__(self, model, batch):
        import keras

        self.model = model
        self.backend = keras.backend.backend()
        if self.backend == "jax":
            import jax

            self.batch = jax.device_put(batch)
            self.state = tuple([v.value for v in part] for part in self._parts())
        elif self.backend == "tensorflow":
            import tensorflow as tf

            # A tf.data iterator, as fit passes it (the step pulls its batch inside the graph).
            self.batch = iter(tf.data.Dataset.from_tensors(tuple(batch)).repeat())
        else:
            self.batch = tuple(keras.ops.convert_to_tensor(part) for part in batch)

    def _parts(self):
        model = self.model
        return (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
                model.metrics_variables)

    def run(self, function, steps: int) -> float:
        """Seconds per step of ``steps`` calls, waiting for the last one."""
        import keras

        start = time.perf_counter()
        if self.backend == "jax":
            import jax

            state = self.state
            for _ in range(steps):
                _, state = function(state, iter([self.batch]))
            jax.block_until_ready(state)
            self.state = state
        else:
            for _ in range(steps):
                logs = function(self.batch if self.backend == "tensorflow" else [self.batch])
            float(keras.ops.convert_to_numpy(logs["loss"]))
        return (time.perf_counter() - start) / steps

    def put_back(self) -> None:
        if self.backend == "jax":  # the loops donated the variables' values
            for part, values in zip(self._parts(), self.state):
                for variable, value in zip(part, values):
                    variable.assign(value)


def _keras_own_function(model):
    """Keras's train step as ``make_train_function`` builds it (the class's ``train_step``, not the
    hub's override), called the way the hub's functions are (a host batch)."""
    import keras

    step = type(model).train_step.__get__(model)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return model._make_function(jax.jit(step, donate_argnums=0))
    if backend == "tensorflow":
        return model._make_function(step)
    return lambda data: step(data[0])


def _compiled_step(model, batch, rounds: int = 20, steps: int = 40) -> dict:
    """Median seconds per step of Keras's own step, the hub's step without the norm (a feature
    that records nothing) and the hub's step as shipped, finely interleaved (noise on a shared
    machine drifts over seconds: every round times each variant for ``steps`` steps)."""
    from keras_bsguard import GradientNormMonitor
    from keras_bsguard.backends import attached_hub

    without = _NoNorm()
    without.set_model(model)
    without.on_train_begin()
    functions = {"hub_without_norm": attached_hub(model)._inner["train"]}
    # Traced now, while its feature is the attached one: the step reads the hub's features when
    # it is traced, and a later trace would see the shipped monitor's norm instead.
    tracer = _StepRunner(model, batch)
    tracer.run(functions["hub_without_norm"], 2)
    tracer.put_back()
    without.on_train_end()
    shipped = GradientNormMonitor()
    shipped.set_model(model)
    shipped.on_train_begin()  # its buffer (same shape) stays in the state while every variant runs
    try:
        functions["hub_with_norm"] = attached_hub(model)._inner["train"]
        functions["keras"] = _keras_own_function(model)
        runner = _StepRunner(model, batch)
        for function in functions.values():
            runner.run(function, 2)  # compile
        times = {name: [] for name in functions}
        for round_ in range(rounds):
            order = list(functions) if round_ % 2 == 0 else list(functions)[::-1]
            for name in order:
                times[name].append(runner.run(functions[name], steps))
        traced = _device_trace(runner, functions)
        runner.put_back()
    finally:
        shipped.on_train_end()
    result = {name: statistics.median(values) for name, values in times.items()}
    if traced:
        result["device_trace"] = traced
    return result


def _device_trace(runner, functions, rounds: int = 6, steps: int = 30) -> dict | None:
    """JAX: a profiler trace of the functions (interleaved rounds); per function the median
    device time of a step (``ThunkExecutor::Execute (wait for completion)``) and the median time
    of each XLA operation. None elsewhere or without TensorFlow's XPlane protobuf."""
    if runner.backend != "jax":
        return None
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        return None
    import glob
    import tempfile

    import jax

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for round_ in range(rounds):
                for name in (list(functions) if round_ % 2 == 0 else list(functions)[::-1]):
                    with jax.profiler.TraceAnnotation(f"bsguard_round_{name}"):
                        runner.run(functions[name], steps)
        space = xplane_pb2.XSpace()
        with open(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[0], "rb") as handle:
            space.ParseFromString(handle.read())
    events = []
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                start = line.timestamp_ns * 1000 + event.offset_ps
                events.append((line.name, plane.event_metadata[event.metadata_id].name, start,
                               start + event.duration_ps))
    result = {}
    for name in functions:
        spans = [(a, b) for _, label, a, b in events if label == f"bsguard_round_{name}"]
        steps_us, ops = [], {}
        for line, label, a, b in events:
            if not line.startswith("tf_XLA") or not any(x <= a and b <= y for x, y in spans):
                continue
            if label == "ThunkExecutor::Execute (wait for completion)":
                steps_us.append((b - a) / 1e6)
            elif not label.startswith(("end:", "ThreadpoolListener", "Wait", "ThunkExecutor")):
                ops.setdefault(label, []).append((b - a) / 1e6)
        if steps_us:
            result[name] = {"device_step_us": statistics.median(steps_us),
                            "ops_us": {op: statistics.median(v) for op, v in ops.items()}}
    return result or None


def _kernel_counts(model, batch) -> dict | None:
    """JAX: the operations XLA runs (fusions, copies, dots; not parameters, constants, tuples)
    in the optimized HLO of Keras's own train step and of the hub's with GradientNormMonitor's
    norm: each is a kernel launch of its own on XLA CPU, where a small one costs about as much
    as reading a few hundred KB."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    from keras_bsguard import GradientNormMonitor

    free = ("parameter(", "constant(", "tuple(", "get-tuple-element(", "bitcast(")

    def count(step) -> int:
        state = tuple([v.value for v in part] for part in (
            model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
            model.metrics_variables))
        text = jax.jit(step).lower(state, jax.device_put(batch)).compile().as_text()
        entry = text[text.index("ENTRY"):].split("\n}")[0].splitlines()[1:]
        return sum(1 for line in entry if " = " in line and not any(f in line for f in free))

    counts = {"keras": count(type(model).train_step.__get__(model))}
    monitor = GradientNormMonitor()
    monitor.set_model(model)
    monitor.on_train_begin()
    try:
        counts["hub_with_norm"] = count(model.train_step)
    finally:
        monitor.on_train_end()
    return counts


def _worker(args) -> dict:
    import keras
    from _fit_timing import EpochClock, mnist_shaped, seeds_mlp

    x, y = mnist_shaped(args.steps * args.batch_size)
    model = seeds_mlp()
    model.fit(x[: args.batch_size], y[: args.batch_size], batch_size=args.batch_size, epochs=1, verbose=0)
    compiled = _compiled_step(model, (x[: args.batch_size], y[: args.batch_size]))
    kernels = _kernel_counts(model, (x[: args.batch_size], y[: args.batch_size]))

    hook_cpu: dict[str, dict[str, float]] = {}

    def timed(callback, name, variant):
        method = getattr(callback, name)
        key = f"{type(callback).__name__}.{name}"

        @functools.wraps(method)
        def wrapper(*a, **k):
            start = time.thread_time()
            try:
                return method(*a, **k)
            finally:
                spent = hook_cpu.setdefault(variant, {})
                spent[key] = spent.get(key, 0.0) + time.thread_time() - start

        setattr(callback, name, wrapper)

    def run(variant: str, time_hooks: bool = False) -> tuple[float, float]:
        gc.collect()
        clock = EpochClock()
        callbacks = _monitors(variant)
        if time_hooks:
            for callback in callbacks:
                for name in HOOKS:
                    if name in type(callback).__dict__ or hasattr(type(callback), name) and name in (
                            "before_call", "data_ready", "after_call"):
                        timed(callback, name, variant)
        cpu = time.process_time()
        model.fit(x, y, batch_size=args.batch_size, epochs=2, verbose=0, shuffle=False, callbacks=callbacks + [clock])
        cpu = time.process_time() - cpu
        return clock.epoch_seconds[1] / args.steps, cpu / (2 * args.steps)

    for variant in VARIANTS:
        run(variant)
    timings = {variant: [] for variant in VARIANTS}
    for round_ in range(args.rounds):
        order = list(VARIANTS) if round_ % 2 == 0 else list(VARIANTS)[::-1]
        for variant in order:
            timings[variant].append(run(variant))
    for variant in ("step_time", "gradient_norm", "memory", "all"):
        run(variant, time_hooks=True)
    plain = timings["plain"]
    fit = {variant: {"wall_s": statistics.median(t[0] for t in values),
                     "wall_ratio": statistics.median(a[0] / b[0] for a, b in zip(values, plain)),
                     "cpu_s": statistics.median(t[1] for t in values),
                     "cpu_ratio": statistics.median(a[1] / b[1] for a, b in zip(values, plain))}
           for variant, values in timings.items()}
    hooks = {variant: {key: seconds / (2 * args.steps) for key, seconds in spent.items()}
             for variant, spent in hook_cpu.items()}
    return {"backend": keras.backend.backend(), "batch_size": args.batch_size, "steps": args.steps,
            "compiled_step_s": compiled, "kernels": kernels, "fit": fit, "hook_cpu_s_per_step": hooks}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300, help="steps per epoch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    ok = False
    for backend in args.backends.split(","):
        result = run_worker(__file__, backend, ["--batch-size", str(args.batch_size), "--steps", str(args.steps),
                                                "--rounds", str(args.rounds)])
        if result is None:
            continue
        ok = True
        compiled = result["compiled_step_s"]
        print(f"{backend}: seeds' MLP, batch {result['batch_size']}", flush=True)
        print(f"  compiled step alone: Keras {_us(compiled['keras'])}, hub without the norm "
              f"{_us(compiled['hub_without_norm'])}, hub with the norm {_us(compiled['hub_with_norm'])} "
              f"(norm: {(compiled['hub_with_norm'] - compiled['hub_without_norm']) * 1e6:+.1f} us)")
        trace = compiled.get("device_trace")
        if trace and "keras" in trace and "hub_with_norm" in trace:
            print("  device time per step (profiler trace, medians): " + ", ".join(
                f"{name} {figures['device_step_us']:.1f} us" for name, figures in trace.items()))
            for name, figures in trace.items():  # op names are per HLO module: compare by shape, not name
                slowest = sorted(figures["ops_us"].items(), key=lambda kv: -kv[1])[:5]
                print(f"    slowest operations of {name}: " + ", ".join(f"{op} {us:.1f} us" for op, us in slowest))
        if result.get("kernels"):
            kernels = result["kernels"]
            print(f"  XLA operations run per step: Keras {kernels['keras']}, hub with the norm "
                  f"{kernels['hub_with_norm']}")
        plain = result["fit"]["plain"]
        print(f"  in fit, plain: {_us(plain['wall_s'])} wall, {_us(plain['cpu_s'])} process CPU per step")
        for variant in VARIANTS[1:]:
            figures = result["fit"][variant]
            hooks = result["hook_cpu_s_per_step"].get(variant, {})
            spent = ", ".join(f"{key} {_us(value)}" for key, value in sorted(hooks.items(), key=lambda kv: -kv[1]))
            print(f"  {variant:<14} wall x{figures['wall_ratio']:.3f} ({(figures['wall_s'] - plain['wall_s']) * 1e6:+.0f} us), "
                  f"CPU x{figures['cpu_ratio']:.3f} ({(figures['cpu_s'] - plain['cpu_s']) * 1e6:+.0f} us); "
                  f"hook CPU per step: {spent or '-'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
