"""Settings from the nearest ``bsguard.toml`` (top-level keys) or ``pyproject.toml`` holding
``[tool.bsguard]``, searched upwards from the first path, or from ``--config FILE``.

Keys (kebab-case, as in ruff): ``select``, ``extend-select``, ``ignore``, ``per-file-ignores``,
``exclude``, ``extend-exclude``, ``loss-functions``, ``max-file-size``. Unknown keys, wrong
types, and a settings file on the search path that cannot be read or parsed are errors
(``ConfigError``: one line naming the file, exit code 2).

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "pyproject.toml").write_text('[tool.bsguard]\\nignore = ["BSG6"]\\n')
    >>> load_config(folder / "pyproject.toml").ignore
    ['BSG6']
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from .lazy_re import compile_lazily


class ConfigError(Exception):
    """A configuration file that cannot be used (reported as one line, exit code 2)."""


_LIST_KEYS = ("select", "extend-select", "ignore", "exclude", "extend-exclude", "loss-functions")
_OTHER_KEYS = ("per-file-ignores", "max-file-size")
OWN_FILE = "bsguard.toml"
_SIZE = compile_lazily(r"(\d+(?:\.\d+)?)\s*([kmg]i?)?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}


@dataclass
class Config:
    """The settings of one configuration file (defaults when there is none)."""

    root: Path  # paths in patterns are relative to this folder
    source: Path | None = None  # the file the settings came from
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    extend_exclude: list[str] = field(default_factory=list)
    loss_functions: list[str] = field(default_factory=list)
    max_file_size: int | None = None  # bytes; None: the default, 0: no limit

    def is_excluded(self, path: Path, extra: tuple[str, ...] = ()) -> bool:
        """Whether ``path`` (or, for a folder, its name) matches an exclude pattern."""
        patterns = [*self.exclude, *self.extend_exclude, *extra]
        if not patterns:
            return False
        relative = _relative(path, self.root)
        return any(_matches(relative, path.name, pattern) for pattern in patterns)

    def ignored_codes_for(self, path: Path) -> list[str]:
        """The codes ``per-file-ignores`` turns off for one file."""
        relative = _relative(path, self.root)
        codes: list[str] = []
        for pattern, ignored in self.per_file_ignores.items():
            if _matches(relative, path.name, pattern):
                codes.extend(ignored)
        return codes


def find_config(start: Path) -> Path | None:
    """The nearest ``bsguard.toml``, or ``pyproject.toml`` holding ``[tool.bsguard]``, from ``start``
    upwards (``bsguard.toml`` wins in the same folder). A ``pyproject.toml`` met on the way that
    cannot be read or parsed raises ConfigError: its settings might be the ones meant."""
    folder = start if os.path.isdir(start) else start.parent
    for candidate in [folder, *folder.parents]:
        own = candidate / OWN_FILE
        if os.path.isfile(own):
            return own
        pyproject = candidate / "pyproject.toml"
        if os.path.isfile(pyproject) and "bsguard" in _tool_table(_read_toml(pyproject), pyproject):
            return pyproject
    return None


def load_config(path: Path) -> Config:
    """Read ``[tool.bsguard]`` from a ``pyproject.toml``, or the top-level keys of any other file
    (``bsguard.toml``)."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        section = _tool_table(data, path).get("bsguard", {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [tool.bsguard] must be a table, not {_toml_type(section)}")
        return _from_table(section, path, "[tool.bsguard]")
    tool = data.get("tool")
    if isinstance(tool, dict) and "bsguard" in tool:
        raise ConfigError(f"{path}: {path.name} takes top-level keys (select = [...]), not a [tool.bsguard] "
                          "table; move its keys to the top of the file")
    return _from_table(data, path, path.name)


def parse_size(value) -> int:
    """Bytes from an integer or a text like ``"5MB"``, ``"512 KiB"``, ``"0"`` (no limit).

        >>> parse_size("5MB"), parse_size("1.5 MiB"), parse_size(100)
        (5000000, 1572864, 100)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value}")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a size: {value!r} (use bytes, or a number with KB, MB, KiB, MiB ...)")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {(error.strerror or str(error)).lower()}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None


def _tool_table(data: dict, path: Path) -> dict:
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table, not {_toml_type(tool)}")
    return tool


def _toml_type(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}
    return names.get(type(value), f"a {type(value).__name__}")


def _from_table(table: dict, path: Path, where: str) -> Config:
    config = Config(root=path.parent.resolve(), source=path)
    for key, value in table.items():
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{path}: {where} {key} must be a list of strings")
            setattr(config, key.replace("-", "_"), list(value))
        elif key == "per-file-ignores":
            if not isinstance(value, dict) or not all(
                isinstance(codes, list) and all(isinstance(c, str) for c in codes) for codes in value.values()
            ):
                raise ConfigError(f"{path}: {where} per-file-ignores must map patterns to lists of codes")
            config.per_file_ignores = {pattern: list(codes) for pattern, codes in value.items()}
        elif key == "max-file-size":
            try:
                config.max_file_size = parse_size(value)
            except ValueError as error:
                raise ConfigError(f"{path}: {where} max-file-size: {error}") from None
        else:
            known = ", ".join([*_LIST_KEYS, *_OTHER_KEYS])
            raise ConfigError(f"{path}: unknown key {key!r} in {where} (known: {known})")
    return config


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _matches(relative: str, name: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(relative, pattern):
        return True
    # a folder pattern also covers everything below it
    pure = PurePosixPath(relative)
    return any(fnmatch.fnmatchcase(parent.as_posix(), pattern) for parent in pure.parents if parent.as_posix() != ".")
