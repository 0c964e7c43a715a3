"""Which files ``bsguard lint PATH ...`` reads: Python files and Jupyter notebooks below the given
paths, skipping version-control folders, virtual environments, build output and configured
excludes.

Paths given explicitly are always linted, unless ``force_exclude`` is set (what pre-commit
needs, since it passes every staged file by name). A folder that cannot be read is added to
``unreadable`` and a dangling symbolic link to ``notes`` (one line each), and the walk goes on.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "build").mkdir(); _ = (root / "build" / "x.py").write_text("")
    >>> _ = (root / "loss.py").write_text(""); _ = (root / "train.ipynb").write_text("{}")
    >>> from keras_bsguard.lint.config import Config
    >>> [p.name for p in discover([root], Config(root=root))]
    ['loss.py', 'train.ipynb']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .config import Config

DEFAULT_EXCLUDED_NAMES = frozenset(
    {".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".tox", ".nox", "__pycache__", "build", "dist",
     "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".bsguard_cache", "site-packages",
     ".eggs", "__pypackages__", ".ipynb_checkpoints", ".direnv", "_build", "buck-out"}
)
PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")


def discover(paths: list[Path], config: Config, force_exclude: bool = False, extra_excludes: tuple[str, ...] = (),
             notes: list[str] | None = None, unreadable: list[str] | None = None) -> list[Path]:
    """Files to lint, sorted, each once; what was skipped goes to ``notes`` and ``unreadable``
    ("folder PATH: reason")."""
    notes = [] if notes is None else notes
    unreadable = [] if unreadable is None else unreadable
    found: dict[str, Path] = {}
    for path in paths:
        if force_exclude and is_force_excluded(path, config, extra_excludes):
            continue
        if os.path.isdir(path):
            for file in _walk(path, config, extra_excludes, notes, unreadable):
                found.setdefault(str(file), file)
        else:
            found.setdefault(str(path), path)
    return [found[key] for key in sorted(found)]


def reason(error: OSError) -> str:
    """An OSError in plain words ("permission denied")."""
    return (error.strerror or str(error)).lower()


def _walk(top: Path, config: Config, extra_excludes: tuple[str, ...], notes: list[str],
          unreadable: list[str]) -> Iterator[Path]:
    """Like ``os.walk`` (symbolic links to folders are not followed), but every problem is a note."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            unreadable.append(f"folder {folder}: {reason(error)}")
            continue
        subfolders = []
        for entry in entries:
            path = folder / entry.name
            if _is_real_folder(entry):
                if not _skip_folder(path, config, extra_excludes):
                    subfolders.append(path)
            elif entry.name.endswith(PYTHON_SUFFIXES) and not config.is_excluded(path, extra_excludes):
                if _is_file(entry):
                    yield path
                elif entry.is_symlink() and not os.path.exists(entry.path):
                    notes.append(f"skipped {path}: a symbolic link whose target does not exist")
        stack.extend(reversed(subfolders))


def _is_real_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _skip_folder(folder: Path, config: Config, extra_excludes: tuple[str, ...]) -> bool:
    name = folder.name
    if name in DEFAULT_EXCLUDED_NAMES or name.endswith(".egg-info"):
        return True
    if os.path.exists(folder / "pyvenv.cfg"):  # a virtual environment under any name (never raises)
        return True
    return config.is_excluded(folder, extra_excludes)


def is_force_excluded(path: Path, config: Config, extra_excludes: tuple[str, ...] = ()) -> bool:
    """Whether ``--force-exclude`` drops an explicitly given path (it, or a folder above it, is excluded)."""
    if config.is_excluded(path, extra_excludes):
        return True
    resolved = path.resolve()
    for parent in resolved.parents:
        if parent == config.root or config.root not in parent.parents:
            break
        if parent.name in DEFAULT_EXCLUDED_NAMES or config.is_excluded(parent, extra_excludes):
            return True
    return False
