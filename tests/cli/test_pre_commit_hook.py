"""The real `pre-commit try-repo` against this repository's hook (slow: builds the hook's venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BAD_LOSS, CLEAN_LOSS

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})


def _try_repo(project: Path, *files: str) -> subprocess.CompletedProcess:
    pre_commit = [sys.executable, "-m", "pre_commit"]
    return subprocess.run([*pre_commit, "try-repo", str(REPO_ROOT), "bsguard-lint", "--files", *files],
                          cwd=project, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PRE_COMMIT_HOME": str(project.parent / "pre-commit-home")})


@pytest.mark.slow
def test_pre_commit_try_repo_fails_on_findings_and_passes_clean_files(tmp_path):
    assert shutil.which("git")
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "bad_loss.py").write_text(BAD_LOSS)
    (project / "good_loss.py").write_text(CLEAN_LOSS)
    (project / "notes.txt").write_text("not python\n")
    _git(project, "add", ".")

    bad = _try_repo(project, "bad_loss.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "bsguard lint" in bad.stdout and "Failed" in bad.stdout
    assert "BSG501" in bad.stdout and "bad_loss.py:5:12" in bad.stdout

    good = _try_repo(project, "good_loss.py")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout

    no_python = _try_repo(project, "notes.txt")  # zero matching files: skipped, exit 0
    assert no_python.returncode == 0, no_python.stdout + no_python.stderr
    assert "no files to check" in no_python.stdout
