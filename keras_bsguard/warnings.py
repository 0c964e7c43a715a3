"""Warning classes of the runtime monitors, and the one function that emits them.

Every warning is a Python warning of one of these classes, issued at the line of *your* code that
called ``model.fit`` (or ``find_batch_size``), and printed once. Filter them the usual way::

    import warnings
    import keras_bsguard
    from keras_bsguard import StepTimeWarning

    warnings.simplefilter("error", StepTimeWarning)   # make step-time drift fail a CI run
    warnings.simplefilter("ignore", keras_bsguard.MemoryWarning)

To receive them through :mod:`logging` instead, attach a handler to the ``keras_bsguard`` logger:
they then go to that logger alone (still subject to the filters above: ``"error"`` raises,
``"ignore"`` drops them). ``logging.captureWarnings(True)`` is the other standard route.

Each message has four parts: what happened, the evidence (numbers), the likely causes, and what to
try.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import warnings as _py_warnings
from dataclasses import dataclass

logger = logging.getLogger("keras_bsguard")


class BSGuardWarning(UserWarning):
    """Base class of every warning raised by keras-bsguard's runtime monitors."""


class StepTimeWarning(BSGuardWarning):
    """Step time, input wait or time in other callbacks drifted upward against the run's baseline."""


class RecompileWarning(BSGuardWarning):
    """The train step kept being retraced or recompiled after the first epoch."""


class GradientNormWarning(BSGuardWarning):
    """The global gradient norm became non-finite, exploded, grew steadily or vanished (per layer too)."""


class MemoryWarning(BSGuardWarning):
    """Device or host memory neared its limit, or grew steadily (a leak)."""


class BatchSizeWarning(BSGuardWarning):
    """BatchSizeGuard split or shrank the per-step batch (after an OOM or under memory pressure)."""


class BatchSizeAdvice(BSGuardWarning):
    """Informational: the batch size sits 10x or more from the measured gradient noise scale
    (``GradientNoiseScale``), below it (larger batches would save steps) or above it (larger
    batches spend compute with diminishing returns)."""


def format_message(what: str, evidence: str, causes: list[str], try_: list[str]) -> str:
    """Lay out a warning as: what happened / evidence / likely causes / what to try."""
    lines = [what, f"  Evidence: {evidence}"]
    lines.append("  Likely causes: " + "; ".join(causes) + ".")
    lines.append("  Try: " + "; ".join(try_) + ".")
    return "\n".join(lines)


@dataclass(frozen=True)
class CallSite:
    """A line of user code that warnings point at (the ``model.fit(...)`` call)."""

    filename: str
    lineno: int
    module: str
    module_globals: dict


_STDLIB = os.path.dirname(os.path.abspath(threading.__file__))
# Frames that are never the user's: threads and thread pools of the standard library.
_STDLIB_RUNNERS = (os.path.join(_STDLIB, "threading.py"), os.path.join(_STDLIB, "concurrent") + os.sep)


def _library_folders() -> tuple[str, ...]:
    """Folders whose frames are never the user's: keras, this package, the backends."""
    folders = [os.path.dirname(os.path.abspath(__file__))]
    for name in ("keras", "jax", "jaxlib", "tensorflow", "torch", "tf_keras"):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            folders.append(os.path.dirname(os.path.abspath(path)))
    return tuple(folder + os.sep for folder in folders) + _STDLIB_RUNNERS


def user_call_site(frame=None) -> CallSite | None:
    """The innermost frame of the calling thread that is not inside keras, keras-bsguard or a
    backend: the user's ``model.fit(...)`` line when called from a callback hook on the thread
    that runs ``fit``. ``None`` on a thread without user frames (Keras's callback workers)."""
    frame = frame or inspect.currentframe()
    folders = _library_folders()
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not (filename.startswith(folders) or frame.f_code.co_filename.startswith("<frozen")):
            module_globals = frame.f_globals
            return CallSite(frame.f_code.co_filename, frame.f_lineno,
                            module_globals.get("__name__", "__main__"), module_globals)
        frame = frame.f_back
    return None


def _filter_action(category, message: str, site: CallSite | None) -> str:
    """The action the ``warnings`` filters choose for this warning (first match wins)."""
    module = site.module if site else ""
    lineno = site.lineno if site else 0
    for action, text, klass, module_pattern, line in _py_warnings.filters:
        if ((text is None or text.match(message)) and issubclass(category, klass)
                and (module_pattern is None or module_pattern.match(module))
                and (line == 0 or line == lineno)):
            return action
    return _py_warnings.defaultaction


def emit(category: type[BSGuardWarning], message: str, site: CallSite | None = None) -> None:
    """Issue ``message`` once: as a Python warning of ``category`` at ``site`` (the user's ``fit``
    line; by default the innermost user frame of this thread), or, when a handler is attached to
    the ``keras_bsguard`` logger, on that logger alone."""
    site = site or user_call_site()
    if logger.handlers:
        action = _filter_action(category, message, site)
        if action == "ignore":
            return
        if action != "error":
            logger.warning("%s: %s", category.__name__, message)
            return
    if site is None:
        _py_warnings.warn(message, category, stacklevel=2)
        return
    # No module_globals: the source line is read from the file (or IPython's cell cache), as
    # warnings.warn does; a loader asked for it fails for ``python -c`` and other __main__s.
    registry = site.module_globals.setdefault("__warningregistry__", {})
    _py_warnings.warn_explicit(message, category, site.filename, site.lineno, module=site.module,
                               registry=registry)
