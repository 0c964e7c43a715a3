"""Which Keras backend ``bsguard probe`` runs on (no NumPy or Keras import: safe on a linter-only install).

Example::

    >>> import os
    >>> default_backend() in BACKENDS
    True
"""

from __future__ import annotations

import importlib.util
import os
import sys

from .target import ProbeInputError

BACKENDS = ("jax", "tensorflow", "torch")


def default_backend() -> str:
    """``KERAS_BACKEND`` if set, else the first of tensorflow, jax, torch that is installed."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    for name in ("tensorflow", "jax", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise ProbeInputError('no backend installed: pip install "keras-bsguard[jax]" (or [tensorflow], [torch])')


def select_backend(backend: str | None) -> str:
    """Make ``backend`` Keras's backend for this process (before keras is imported)."""
    source = "--backend" if backend else "KERAS_BACKEND"
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ProbeInputError(f"{source} must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if importlib.util.find_spec(backend) is None or importlib.util.find_spec("keras") is None:
        missing = backend if importlib.util.find_spec(backend) is None else "keras"
        raise ProbeInputError(f'{missing} is not installed: pip install "keras-bsguard[{backend}]"')
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise ProbeInputError(f"keras is already running on {current} in this process; cannot probe on {backend}")
    else:
        os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":  # TensorFlow's C++ start-up lines would bury the report (set it to see them)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return backend
