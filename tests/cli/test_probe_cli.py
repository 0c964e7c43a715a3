"""``bsguard probe`` on bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "probe_losses.py"


def _probe(*arguments):
    return subprocess.run([sys.executable, "-m", "keras_bsguard.cli", "probe", *arguments],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("arguments, message", [
    (["losses.py"], "expected FILE::NAME"),
    (["no/such/file.py::loss"], "no such file: no/such/file.py"),
    ([f"{EXAMPLES}::loss with spaces"], "not a name or a call"),
    ([f"{EXAMPLES}::mean_squared_error", "--shape", "ten"], "expected a shape like 10 or 64,64,1"),
    ([f"{EXAMPLES}::mean_squared_error", "--batch-sizes", "8,x"], "expected comma-separated integers"),
    ([f"{EXAMPLES}::mean_squared_error", "--init", "{gamma: 2}"], "--init must be a JSON object"),
    ([f"{EXAMPLES}::mean_squared_error", "--backend", "mxnet"], "invalid choice: 'mxnet'"),
    ([f"{EXAMPLES}::focal(gamma=x)"], "must be literals"),
])
def test_bad_arguments_get_one_line_and_exit_2(arguments, message):
    done = _probe(*arguments)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bsguard: error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_module_that_fails_on_import_is_reported_in_one_line():
    done = _probe(f"{FIXTURES / 'probe_broken.py'}::anything", "--backend", "jax")
    assert done.returncode == 2
    assert "importing" in done.stderr and "ZeroDivisionError: division by zero" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_the_file_lacks_is_reported():
    done = _probe(f"{EXAMPLES}::no_such_loss", "--backend", "jax")
    assert done.returncode == 2 and "has no 'no_such_loss'" in done.stderr


def test_a_loss_that_fails_at_every_size_exits_2_with_its_error():
    done = _probe(f"{FIXTURES / 'probe_failing_loss.py'}::always_fails", "--backend", "jax", "--batch-sizes", "8,16")
    assert done.returncode == 2
    assert "the loss failed at batch 8: ValueError: this loss needs a dict of tensors" in done.stderr


def test_help_says_that_the_probe_runs_the_users_code():
    done = _probe("--help")
    assert done.returncode == 0 and "RUNS ITS CODE" in done.stdout and "exit codes" in done.stdout


def test_project_to_below_2_is_refused():
    done = _probe(f"{EXAMPLES}::mean_squared_error", "--project-to", "0")
    assert done.returncode == 2 and "expected a batch size >= 2, got 0" in done.stderr


def test_json_output_is_strict_with_non_finite_figures_as_null():
    import json

    from keras_bsguard.probe.render import to_json

    text = to_json({"rows": [{"loss_per_sample": float("nan"), "seconds": float("inf"), "finite": False}]})
    assert json.loads(text) == {"rows": [{"loss_per_sample": None, "seconds": None, "finite": False}]}
    assert "NaN" not in text and "Infinity" not in text
