"""Advice that fits the run: the backend's own profiler, device checks only where there is one.

    >>> profiler_hint("torch")
    'profile one slow window with torch.profiler.profile()'
    >>> machine_check_hint(None)
    'check what else runs on this machine (top; os.getloadavg())'
"""

from __future__ import annotations

_PROFILERS = {
    "jax": "profile one slow window with jax.profiler.trace(log_dir)",
    "tensorflow": "profile one slow window with tf.profiler.experimental.start(log_dir) / stop()",
    "torch": "profile one slow window with torch.profiler.profile()",
}


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def accelerator(backend: str | None = None) -> str | None:
    """``"gpu"``/``"tpu"`` where the backend computes on an accelerator, ``None`` on a CPU run."""
    backend = backend or backend_name()
    try:
        if backend == "jax":
            import jax

            platform = jax.devices()[0].platform
            return None if platform == "cpu" else ("tpu" if platform == "tpu" else "gpu")
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_logical_devices("GPU") else None
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - advice must never fail a fit
        return None
    return None


def profiler_hint(backend: str | None = None) -> str:
    return _PROFILERS.get(backend or backend_name(), "profile one slow window")


def machine_check_hint(device: str | None) -> str:
    """Where to look for other work competing with this process."""
    if device == "gpu":
        return "check other processes on the GPU (nvidia-smi)"
    if device == "tpu":
        return "check other processes on the TPU host"
    return "check what else runs on this machine (top; os.getloadavg())"


def memory_kind(device: str | None) -> str:
    return "host memory" if device is None else f"{device.upper()} memory"


def retrace_hint(backend: str | None = None) -> str:
    """How this backend keeps one compiled step per traced signature."""
    return {
        "jax": "jax.jit recompiling for new shapes or Python values, each executable kept cached",
        "tensorflow": "tf.function retracing, each trace keeping its own graph",
        "torch": "torch.compile recompiling, each graph kept cached",
    }.get(backend or backend_name(), "the train step retracing, each trace kept cached")
