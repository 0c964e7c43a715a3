"""keras-bsguard: a static linter for custom Keras losses and runtime guards for ``model.fit``.

The two halves are independent:

* ``keras_bsguard.lint`` -- the loss linter (libcst only; importing it never imports keras,
  jax, tensorflow or torch).
* the runtime callbacks (``StepTimeMonitor``, ``GradientNormMonitor``, ``MemoryMonitor`` ...),
  loaded lazily on first attribute access so that ``import keras_bsguard.lint`` stays light.

Example::

    >>> from keras_bsguard.lint import lint_source
    >>> [f.code for f in lint_source("def loss(y_true, y_pred):\\n    return y_pred.numpy()\\n")]
    ['BSG701']
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public runtime name -> module that defines it.  Loaded on first access (PEP 562).
_LAZY_RUNTIME_NAMES: dict[str, str] = {
    "BSGuardWarning": "keras_bsguard.warnings",
    "StepTimeWarning": "keras_bsguard.warnings",
    "RecompileWarning": "keras_bsguard.warnings",
    "GradientNormWarning": "keras_bsguard.warnings",
    "MemoryWarning": "keras_bsguard.warnings",
    "BatchSizeWarning": "keras_bsguard.warnings",
    "BatchSizeAdvice": "keras_bsguard.warnings",
    "BatchSizeGuard": "keras_bsguard.batch_size_guard",
    "find_batch_size": "keras_bsguard.find_batch_size",
    "BatchSizeSearch": "keras_bsguard.find_batch_size",
    "EventLog": "keras_bsguard.event_log",
    "StepTimeMonitor": "keras_bsguard.step_time_monitor",
    "GradientNormMonitor": "keras_bsguard.gradient_norm_monitor",
    "MemoryMonitor": "keras_bsguard.memory_monitor",
    "GradientNoiseScale": "keras_bsguard.gradient_noise_scale",
}

__all__ = ["__version__", *_LAZY_RUNTIME_NAMES]


# Top-level modules the runtime half needs, and the extra that installs each.
_RUNTIME_REQUIREMENTS = {"keras": None, "psutil": None, "jax": "jax", "jaxlib": "jax",
                         "tensorflow": "tensorflow", "torch": "torch"}


def _install_hint(name: str, missing: str) -> str:
    extra = _RUNTIME_REQUIREMENTS[missing]
    command = f'pip install "keras-bsguard[{extra or "jax"}]"'
    if extra is None:
        command += ' (or "keras-bsguard[tensorflow]", "keras-bsguard[torch]")'
    return (f"keras_bsguard.{name} needs {missing}, which is not installed (the linter alone needs "
            f"only libcst). Install the runtime half with one backend: {command}; from a clone of "
            f"the repository: pip install \".[{extra or 'jax'}]\"")


def __getattr__(name: str):
    module_name = _LAZY_RUNTIME_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'keras_bsguard' has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in _RUNTIME_REQUIREMENTS:
            raise
        raise ModuleNotFoundError(_install_hint(name, missing), name=error.name) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_RUNTIME_NAMES))
