"""Issue 10, the linter's side: newer syntax, readable messages, metrics left alone."""

from __future__ import annotations

import importlib.util
import time

import pytest
from pathlib import Path

from keras_bsguard.lint import LintSettings, lint_source
from keras_bsguard.lint.runner import lint_files


def test_a_loss_with_pep_695_type_parameters_is_found():
    source = ("import tensorflow as tf\n\n"
              "def loss[T](y_true: T, y_pred: T):\n"
              "    return tf.reduce_sum(tf.math.log(y_pred), axis=-1)\n")
    assert [f.code for f in lint_source(source, "losses.py")] == ["BSG402"]


def test_a_file_indented_with_tabs_and_spaces_that_python_accepts_is_linted():
    # CPython reads a tab as the next multiple of 8 columns; libcst's tokenizer rejects the mix
    source = ("import tensorflow as tf\n\n"
              "def loss(y_true, y_pred, log=False):\n"
              "    if log:\n"
              "\t    return tf.reduce_sum(tf.math.log(y_pred), axis=-1)\n"
              "    return tf.reduce_sum(tf.square(y_true - y_pred))\n")
    compile(source, "losses.py", "exec")
    findings = lint_source(source, "losses.py")
    assert [(f.row, f.code) for f in findings] == [(5, "BSG402"), (6, "BSG501")]
    # columns on the file's own line (the tab one column), as for any other file
    assert findings[0].column == source.splitlines()[4].index("tf.math.log") + 1


def test_messages_quote_code_on_one_line_without_spaces_inside_brackets():
    source = ("import tensorflow as tf\n\n"
              "def loss(y_true, y_pred):\n"
              "    return tf.reduce_mean(tf.math.log(\n"
              "        y_pred\n"
              "    ), axis=-1)\n")
    (finding,) = lint_source(source, "losses.py")
    assert "`tf.math.log(y_pred)`" in finding.message


def test_the_installed_keras_metrics_get_no_finding():
    # find_spec locates the package without importing it (the linter never imports keras)
    spec = importlib.util.find_spec("keras")
    assert spec is not None and spec.origin, "the test environment installs keras"
    metrics = Path(spec.origin).parent / "src" / "metrics"
    files = sorted(metrics.rglob("*.py"))
    assert len(files) > 10
    result = lint_files(files, LintSettings(), cache_dir=None, jobs=1)
    assert [(f.filename, f.row, f.code) for f in result.findings] == []


def _long_sum(terms: int) -> str:
    body = " + ".join(f"tf.square(y_pred[:, {i}] - y_true[:, {i}])" for i in range(terms))
    return f"import tensorflow as tf\n\n\ndef loss(y_true, y_pred):\n    return tf.math.log({body})\n"


def test_a_300_term_sum_is_analysed():
    (finding,) = lint_source(_long_sum(300), "losses.py")
    assert finding.code == "BSG402" and finding.row == 5


def test_sources_too_deep_for_cpython_are_bsg000_at_once():
    nested = "y_pred"
    for _ in range(1000):
        nested = f"tf.abs({nested})"
    deep_nest = f"import tensorflow as tf\n\ndef loss(y_true, y_pred):\n    return tf.math.log({nested})\n"
    for source, words in ((_long_sum(10_000), "nested too deeply"), (deep_nest, "too many nested parentheses")):
        start = time.perf_counter()
        (finding,) = lint_source(source, "losses.py")
        assert finding.code == "BSG000" and words in finding.message
        assert time.perf_counter() - start < 10  # libcst alone would take minutes on these


@pytest.mark.slow
def test_a_100000_line_module_is_linted():
    lines = ["import tensorflow as tf", ""]
    for i in range(34_000):
        lines += [f"def helper_{i}(x):", f"    return x * {i}", ""]
    lines += ["def loss(y_true, y_pred):", "    return tf.reduce_sum(tf.square(y_true - y_pred))", ""]
    assert len(lines) > 100_000
    assert [(f.row, f.code) for f in lint_source("\n".join(lines * 1), "losses.py")] == [(len(lines) - 1, "BSG501")]
