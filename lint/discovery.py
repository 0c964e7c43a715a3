"""Which files ``bsguard lint PATH ...`` reads: Python files below the given paths, skipping
version-control folders, virtual environments, build output and configured excludes.

Paths given explicitly are always linted, unless ``force_exclude`` is set (what pre-commit
needs, since it passes every staged file by name).

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "build").mkdir(); _ = (root / "build" / "x.py").write_text("")
    >>> _ = (root / "loss.py").write_text("")
    >>> from keras_bsguard.lint.config import Config
    >>> [p.name for p in discover([root], Config(root=root))]
    ['loss.py']
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import Config

DEFAULT_EXCLUDED_NAMES = frozenset(
    {".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".tox", ".nox", "__pycache__", "build", "dist",
     "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".bsguard_cache", "site-packages",
     ".eggs", "__pypackages__", ".ipynb_checkpoints", ".direnv", "_build", "buck-out"}
)
PYTHON_SUFFIXES = (".py", ".pyi")


def discover(paths: list[Path], config: Config, force_exclude: bool = False, extra_excludes: tuple[str, ...] = ()) -> list[Path]:
    """Files to lint, sorted, each once."""
    found: dict[str, Path] = {}
    for path in paths:
        if force_exclude and _explicitly_excluded(path, config, extra_excludes):
            continue
        if path.is_dir():
            for file in _walk(path, config, extra_excludes):
                found.setdefault(str(file), file)
        else:
            found.setdefault(str(path), path)
    return [found[key] for key in sorted(found)]


def _walk(top: Path, config: Config, extra_excludes: tuple[str, ...]):
    for folder, subfolders, files in os.walk(top):
        base = Path(folder)
        subfolders[:] = sorted(
            name for name in subfolders
            if not _skip_folder(base / name, config, extra_excludes)
        )
        for name in sorted(files):
            if name.endswith(PYTHON_SUFFIXES):
                file = base / name
                if not config.is_excluded(file, extra_excludes):
                    yield file


def _skip_folder(folder: Path, config: Config, extra_excludes: tuple[str, ...]) -> bool:
    name = folder.name
    if name in DEFAULT_EXCLUDED_NAMES or name.endswith(".egg-info"):
        return True
    if (folder / "pyvenv.cfg").exists():  # a virtual environment under any name
        return True
    return config.is_excluded(folder, extra_excludes)


def _explicitly_excluded(path: Path, config: Config, extra_excludes: tuple[str, ...]) -> bool:
    if config.is_excluded(path, extra_excludes):
        return True
    resolved = path.resolve()
    for parent in resolved.parents:
        if parent == config.root or config.root not in parent.parents:
            break
        if parent.name in DEFAULT_EXCLUDED_NAMES or config.is_excluded(parent, extra_excludes):
            return True
    return False
