"""Issue 10, the linter's side: newer syntax, readable messages, metrics left alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from keras_bsguard.lint import LintSettings, lint_source
from keras_bsguard.lint.runner import lint_files


def test_a_loss_with_pep_695_type_parameters_is_found():
    source = ("import tensorflow as tf\n\n"
              "def loss[T](y_true: T, y_pred: T):\n"
              "    return tf.reduce_sum(tf.math.log(y_pred), axis=-1)\n")
    assert [f.code for f in lint_source(source, "losses.py")] == ["BSG402"]


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
