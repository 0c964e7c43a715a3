"""Issue 10: configuration files on the search path that cannot be used are errors, bsguard.toml
takes top-level keys, and max-file-size accepts bytes or a size with a unit."""

from __future__ import annotations

import pytest

import keras_bsguard.lint.config as config_module
from keras_bsguard.lint.config import ConfigError, find_config, load_config, parse_size


def test_find_config_prefers_bsguard_toml_and_skips_pyprojects_without_the_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.bsguard]\nignore = []\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config(inner / "m.py") == tmp_path / "pyproject.toml"
    (tmp_path / "bsguard.toml").write_text("ignore = ['BSG4']\n")
    assert find_config(inner) == tmp_path / "bsguard.toml"
    assert load_config(tmp_path / "bsguard.toml").ignore == ["BSG4"]


@pytest.mark.parametrize("text, message", [
    ("[tool.bsguard\n", "invalid TOML in"),
    ("tool = 5\n", "[tool] must be a table, not an integer"),
    ("[tool]\nbsguard = 'yes'\n", "[tool.bsguard] must be a table, not a string"),
])
def test_a_broken_pyproject_on_the_way_up_is_an_error(tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigError, match="^.*" + message.replace("[", r"\[").replace("]", r"\]")) as raised:
        load_config(find_config(tmp_path / "src") or tmp_path / "pyproject.toml")
    assert str(tmp_path / "pyproject.toml") in str(raised.value) and "\n" not in str(raised.value)


def test_an_unreadable_config_file_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.bsguard]\n")

    def denied(path, mode="r"):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(config_module, "open", denied, raising=False)
    with pytest.raises(ConfigError) as raised:
        find_config(tmp_path)
    assert str(raised.value) == f"cannot read config file {tmp_path / 'pyproject.toml'}: permission denied"


def test_tool_bsguard_inside_bsguard_toml_gets_a_clear_error(tmp_path):
    (tmp_path / "bsguard.toml").write_text("[tool.bsguard]\nignore = ['BSG4']\n")
    with pytest.raises(ConfigError, match="bsguard.toml takes top-level keys"):
        load_config(tmp_path / "bsguard.toml")


def test_max_file_size_key(tmp_path):
    (tmp_path / "bsguard.toml").write_text("max-file-size = '2 MiB'\n")
    assert load_config(tmp_path / "bsguard.toml").max_file_size == 2 * 2**20
    (tmp_path / "bsguard.toml").write_text("max-file-size = true\n")
    with pytest.raises(ConfigError, match="max-file-size: not a size"):
        load_config(tmp_path / "bsguard.toml")


@pytest.mark.parametrize("value, size", [(0, 0), (1234, 1234), ("5MB", 5_000_000), ("5 mb", 5_000_000),
                                         ("512KiB", 524288), ("1.5M", 1_500_000), ("1GB", 10**9), ("300", 300)])
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["lots", "-1", -1, "5 XB", True, 1.5, ""])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError):
        parse_size(value)
