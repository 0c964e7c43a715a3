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


def console_script() -> str:
    """The installed ``bsguard`` console script of the Python running the tests."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "bsguard"
    return str(beside) if beside.exists() else (shutil.which("bsguard") or "bsguard")


@pytest.fixture
def bsguard(project):
    """Run the real ``bsguard`` console script in a subprocess inside ``project``; never a traceback."""
    import os
    import subprocess

    def _run(*argv: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("BSGUARD_")}
        environment.update(env or {})
        result = subprocess.run([console_script(), *map(str, argv)], cwd=project, input=stdin,
                                capture_output=True, env=environment, timeout=300)
        result.stdout, result.stderr = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return _run
