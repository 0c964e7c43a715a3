"""Warning classes of the runtime monitors, and the one function that emits them.

Every warning the monitors raise is a Python warning of one of these classes *and* a record on the
``keras_bsguard`` logger, so it can be filtered the usual way::

    import warnings
    from keras_bsguard import StepTimeWarning

    warnings.simplefilter("error", StepTimeWarning)   # make step-time drift fail a CI run
    warnings.simplefilter("ignore", keras_bsguard.MemoryWarning)

Each message has four parts: what happened, the evidence (numbers), the likely causes, and what to
try.
"""

from __future__ import annotations

import logging
import warnings as _py_warnings

logger = logging.getLogger("keras_bsguard")


class BSGuardWarning(UserWarning):
    """Base class of every warning raised by keras-bsguard's runtime monitors."""


class StepTimeWarning(BSGuardWarning):
    """Step time or input-wait time drifted upward against the run's own baseline."""


class RecompileWarning(BSGuardWarning):
    """The train step kept being retraced or recompiled after the first epoch."""


class GradientNormWarning(BSGuardWarning):
    """The global gradient norm became non-finite, exploded or vanished."""


class MemoryWarning(BSGuardWarning):
    """Device or host memory neared its limit, or grew steadily (a leak)."""


class BatchSizeWarning(BSGuardWarning):
    """BatchSizeGuard split or shrank the per-step batch (after an OOM or under memory pressure)."""


def format_message(what: str, evidence: str, causes: list[str], try_: list[str]) -> str:
    """Lay out a warning as: what happened / evidence / likely causes / what to try."""
    lines = [what, f"  Evidence: {evidence}"]
    lines.append("  Likely causes: " + "; ".join(causes) + ".")
    lines.append("  Try: " + "; ".join(try_) + ".")
    return "\n".join(lines)


def emit(category: type[BSGuardWarning], message: str) -> None:
    """Raise ``message`` as a Python warning of ``category`` and log it on ``keras_bsguard``."""
    logger.warning("%s: %s", category.__name__, message)
    # stacklevel=2 points at the monitor; the caller is Keras's callback machinery anyway.
    _py_warnings.warn(message, category, stacklevel=2)
