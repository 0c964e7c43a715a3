"""Every ``>>>`` example in the runtime's docstrings runs, and so does the ``Example::`` block of
each public monitor (a real, tiny ``fit`` on the backend under test)."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re

import pytest

DOCTESTED = ["keras_bsguard._advice", "keras_bsguard._callback_timer", "keras_bsguard._drift",
             "keras_bsguard._gradient_checks", "keras_bsguard._recompile", "keras_bsguard._validate",
             "keras_bsguard._step_time_messages", "keras_bsguard._noise_scale_feature",
             "keras_bsguard.gradient_noise_scale",
             "keras_bsguard.event_log", "keras_bsguard.lr_scaling", "keras_bsguard.oom",
             "keras_bsguard.probe", "keras_bsguard.probe.backend", "keras_bsguard.probe.checks",
             "keras_bsguard.probe.engines", "keras_bsguard.probe.inputs", "keras_bsguard.probe.kinds",
             "keras_bsguard.probe.render", "keras_bsguard.probe.runner", "keras_bsguard.probe.scaling",
             "keras_bsguard.probe.target", "keras_bsguard.probe.verdicts"]


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def _example(obj) -> str:
    """The code of the ``Example::`` block of ``obj``'s docstring, dedented."""
    block = obj.__doc__.split("Example::", 1)[1]
    lines = [line for line in block.splitlines()[1:]]
    code = []
    for line in lines:
        if line.strip() and not line.startswith(" " * 8):
            break
        code.append(line[8:])
    return "\n".join(code)


@pytest.mark.parametrize("name", ["StepTimeMonitor", "GradientNormMonitor", "MemoryMonitor",
                                  "GradientNoiseScale"])
def test_public_monitor_examples_run(name):
    import keras_bsguard

    code = _example(getattr(keras_bsguard, name))
    assert "model.fit(" in code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"<{name} example>", "exec"), {})
    assert re.search(r"\d", printed.getvalue())  # it printed the figures it promised
