"""Issue 10 in discovery: folders that cannot be read and dangling symbolic links are reported, one
line each, and the walk goes on; notebooks are found by the walk."""

from __future__ import annotations

import os

from keras_bsguard.lint.config import Config
from keras_bsguard.lint.discovery import discover


def test_an_unreadable_folder_is_reported_and_the_walk_goes_on(tmp_path, monkeypatch):
    """Simulated with os.scandir raising PermissionError (as root, chmod 0 denies nothing)."""
    for folder in ("a", "locked", "z"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text("")
    real = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    notes, unreadable = [], []
    found = discover([tmp_path], Config(root=tmp_path), notes=notes, unreadable=unreadable)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/m.py", "z/m.py"]
    assert unreadable == [f"folder {tmp_path / 'locked'}: permission denied"] and notes == []


def test_dangling_links_are_noted_links_to_files_followed_links_to_folders_not(tmp_path):
    (tmp_path / "real.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "inner.py").write_text("")
    os.symlink(tmp_path / "missing.py", tmp_path / "dangling.py")
    os.symlink(tmp_path / "real.py", tmp_path / "alias.py")
    os.symlink(tmp_path / "pkg", tmp_path / "pkg_link")
    os.symlink(tmp_path / "missing.py", tmp_path / "excluded.py")
    notes: list[str] = []
    found = discover([tmp_path], Config(root=tmp_path, exclude=["excluded.py"]), notes=notes)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["alias.py", "pkg/inner.py", "real.py"]
    assert notes == [f"skipped {tmp_path / 'dangling.py'}: a symbolic link whose target does not exist"]


def test_notebooks_are_found_and_excludable(tmp_path):
    (tmp_path / "train.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "train-checkpoint.ipynb").write_text("{}")
    assert [p.name for p in discover([tmp_path], Config(root=tmp_path))] == ["train.ipynb"]
    assert discover([tmp_path], Config(root=tmp_path), extra_excludes=("*.ipynb",)) == []
