"""``[tool.bsguard]`` configuration from the nearest ``pyproject.toml`` (or ``--config FILE``).

Keys (kebab-case, as in ruff): ``select``, ``extend-select``, ``ignore``, ``per-file-ignores``,
``exclude``, ``extend-exclude``, ``loss-functions``.  Unknown keys and wrong types are errors.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "pyproject.toml").write_text('[tool.bsguard]\\nignore = ["BSG6"]\\n')
    >>> load_config(folder / "pyproject.toml").ignore
    ['BSG6']
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


class ConfigError(Exception):
    """A configuration file that cannot be used (reported as one line, exit code 2)."""


_LIST_KEYS = ("select", "extend-select", "ignore", "exclude", "extend-exclude", "loss-functions")


@dataclass
class Config:
    root: Path  # paths in patterns are relative to this folder
    source: Path | None = None  # the file the settings came from
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    extend_exclude: list[str] = field(default_factory=list)
    loss_functions: list[str] = field(default_factory=list)

    def is_excluded(self, path: Path, extra: tuple[str, ...] = ()) -> bool:
        """Whether ``path`` (or, for a folder, its name) matches an exclude pattern."""
        patterns = [*self.exclude, *self.extend_exclude, *extra]
        if not patterns:
            return False
        relative = _relative(path, self.root)
        return any(_matches(relative, path.name, pattern) for pattern in patterns)

    def ignored_codes_for(self, path: Path) -> list[str]:
        relative = _relative(path, self.root)
        codes: list[str] = []
        for pattern, ignored in self.per_file_ignores.items():
            if _matches(relative, path.name, pattern):
                codes.extend(ignored)
        return codes


def find_config(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` holding ``[tool.bsguard]``, from ``start`` upwards."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.parents]:
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                with pyproject.open("rb") as handle:
                    data = tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if "bsguard" in data.get("tool", {}):
                return pyproject
    return None


def load_config(path: Path) -> Config:
    """Read ``[tool.bsguard]`` from a ``pyproject.toml`` (or a top-level table of a ``bsguard.toml``)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None
    section = data.get("tool", {}).get("bsguard") if path.name == "pyproject.toml" else data
    if section is None:
        section = data.get("tool", {}).get("bsguard", {})
    return _from_table(section, path)


def _from_table(table: dict, path: Path) -> Config:
    config = Config(root=path.parent.resolve(), source=path)
    for key, value in table.items():
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{path}: [tool.bsguard] {key} must be a list of strings")
            setattr(config, key.replace("-", "_"), list(value))
        elif key == "per-file-ignores":
            if not isinstance(value, dict) or not all(
                isinstance(codes, list) and all(isinstance(c, str) for c in codes) for codes in value.values()
            ):
                raise ConfigError(f"{path}: [tool.bsguard] per-file-ignores must map patterns to lists of codes")
            config.per_file_ignores = {pattern: list(codes) for pattern, codes in value.items()}
        else:
            known = ", ".join([*_LIST_KEYS, "per-file-ignores"])
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.bsguard] (known: {known})")
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
