from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from keras_bsguard.cli import main

BAD_LOSS = textwrap.dedent(
    """
    import tensorflow as tf


    def sse(y_true, y_pred):
        return tf.reduce_sum(tf.square(y_true - y_pred))


    def logged(y_true, y_pred):
        return -tf.reduce_sum(y_true * tf.math.log(y_pred), axis=-1)
    """
).lstrip()

CLEAN_LOSS = textwrap.dedent(
    """
    import tensorflow as tf


    def mse(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    """
).lstrip()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BSGUARD_OUTPUT_FORMAT", raising=False)
    return tmp_path


@pytest.fixture
def run(capsys):
    """Run ``bsguard`` in-process: returns (exit code, stdout, stderr)."""

    def _run(*argv: str):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
