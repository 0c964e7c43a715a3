"""The linter never imports a deep-learning framework, and never crashes on real code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from keras_bsguard.lint import lint_source

HEAVY = ("keras", "tensorflow", "jax", "torch")


def test_linting_imports_no_framework():
    code = (
        "import sys\n"
        "from keras_bsguard.lint import lint_source\n"
        "from keras_bsguard.cli import main\n"
        "findings = lint_source('import tensorflow as tf\\ndef l(y_true, y_pred):\\n    return tf.reduce_sum(y_pred)\\n')\n"
        "assert findings, findings\n"
        "import keras_bsguard\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_cli_lint_path_imports_no_framework(tmp_path):
    target = tmp_path / "l.py"
    target.write_text("def l(y_true, y_pred):\n    return y_pred.numpy()\n")
    code = (
        "import sys\n"
        "from keras_bsguard.cli import main\n"
        f"rc = main(['lint', {str(target)!r}, '--no-cache', '-q'])\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY [] 1" in result.stdout


def _package_files(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("package", ["keras", "jax", "tensorflow", "torch"])
def test_every_file_of_installed_frameworks_lints_without_crashing(package):
    files = _package_files(package)
    if package == "keras":
        assert len(files) > 500  # the robustness claim needs the real tree
    crashes = []
    for path in files:
        try:
            findings = lint_source(path.read_bytes(), str(path))
        except Exception as error:  # noqa: BLE001 - collecting every crash is the point
            crashes.append(f"{path}: {type(error).__name__}: {error}")
            continue
        for finding in findings:
            assert finding.row >= 1 and finding.column >= 1 and finding.loss is not None or finding.code == "BSG000"
    assert crashes == []


def test_keras_own_losses_module_findings_are_the_known_list():
    """keras/src/losses/losses.py: the only finding is circle loss's real B x B matrix."""
    spec = importlib.util.find_spec("keras")
    assert spec is not None
    path = Path(next(iter(spec.submodule_search_locations))) / "src" / "losses" / "losses.py"
    findings = lint_source(path.read_bytes(), str(path))
    assert [(f.code, f.loss) for f in findings] == [("BSG601", "circle")]
