"""Lint many files: content-hash cache, then the misses in parallel processes.

The cache (``.bsguard_cache/`` beside the configuration) is keyed on the file's bytes and name,
the active rules, the loss-name patterns, the package version and a hash of the linter's own
source files; files with findings are cached too, so an unchanged tree re-lints without parsing
anything. One file's failure never ends the run: it becomes a BSG000 finding for that file.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "l.py").write_text("def loss(y_true, y_pred):\\n    return y_pred.numpy()\\n")
    >>> result = lint_files([folder / "l.py"], LintSettings(), cache_dir=None)
    >>> [f.code for f in result.findings], result.files_checked
    (['BSG701'], 1)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .api import LintSettings, internal_error, lint_data, needs_parse
from .finding import Finding

CACHE_FORMAT = 2
DEFAULT_MAX_FILE_SIZE = 5_000_000  # bytes; larger files (generated code) are skipped with a notice
_CACHE_PRUNE_AT = 20_000
_PARALLEL_THRESHOLD = 8  # below this many files to parse, a process pool costs more than it saves


@dataclass
class LintResult:
    """What a run found, and what it could not look at."""

    findings: list[Finding]
    files_checked: int
    files_parsed: int
    cache_hits: int
    unreadable: list[str] = field(default_factory=list)  # one line each: "PATH: reason"
    too_large: list[tuple[str, int]] = field(default_factory=list)  # (path, size in bytes)


def lint_files(files: list[Path], settings: LintSettings, cache_dir: Path | None, jobs: int | None = None,
               max_file_size: int | None = DEFAULT_MAX_FILE_SIZE) -> LintResult:
    """Lint files (``.py``/``.ipynb``); ``max_file_size`` in bytes, None or 0 for no limit."""
    cache = _Cache(cache_dir, settings) if cache_dir is not None else None
    result = LintResult([], 0, 0, 0)
    work: list[tuple[str, bytes, str]] = []  # (display name, bytes, cache key)
    for path in files:
        name = str(path)
        data = _read(path, name, max_file_size, result)
        if data is None:
            continue
        result.files_checked += 1
        key = _content_key(data, name)
        cached = cache.get(key) if cache else None
        if cached is not None:
            result.cache_hits += 1
            result.findings.extend(Finding.from_dict({**item, "filename": name}) for item in cached)
            continue
        work.append((name, data, key))
    result.files_parsed = sum(needs_parse(data, name, settings) for name, data, _key in work)
    for (_name, _data, key), file_findings in zip(work, _lint_many(work, settings, jobs, result.files_parsed)):
        result.findings.extend(file_findings)
        if cache and not any(f.message.startswith("internal error:") for f in file_findings):
            cache.put(key, [_without_filename(f) for f in file_findings])
    if cache:
        cache.save()
    result.findings.sort(key=lambda f: f.sort_key)
    return result


def _content_key(data: bytes, name: str) -> str:
    """The cache key of one file: its bytes and its name (test modules, metrics paths and
    notebooks are read differently)."""
    digest = hashlib.blake2b(data, digest_size=16)
    digest.update(b"\0" + name.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _read(path: Path, name: str, max_file_size: int | None, result: LintResult) -> bytes | None:
    """The file's bytes, or None (noted in ``result``) when it is too large or cannot be read."""
    try:
        size = path.stat().st_size
        if max_file_size and size > max_file_size:
            result.too_large.append((name, size))
            return None
        return path.read_bytes()
    except OSError as error:
        result.unreadable.append(f"{name}: {(error.strerror or str(error)).lower()}")
        return None


def _without_filename(finding: Finding) -> dict:
    data = finding.to_dict()
    data.pop("filename")
    return data


def _lint_many(items, settings: LintSettings, jobs: int | None, to_parse: int) -> list[list[Finding]]:
    workers = min(jobs or os.cpu_count() or 1, len(items))
    if workers <= 1 or to_parse < _PARALLEL_THRESHOLD:
        return [lint_data(data, name, settings) for name, data, _key in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import libcst  # noqa: F401 - imported once here, inherited by the forked workers

    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    size = max(1, len(items) // (workers * 4))
    chunks = [[(name, data) for name, data, _key in items[start:start + size]] for start in range(0, len(items), size)]
    results: list[list[Finding]] = []
    failed: list[tuple[int, str, bytes]] = []  # files of chunks whose worker died
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_lint_chunk, chunk, settings) for chunk in chunks]
        for chunk, future in zip(chunks, futures):
            try:
                results.extend(future.result())
            except Exception:  # noqa: BLE001 - a worker that died (killed, out of memory) breaks the pool
                failed.extend((len(results) + offset, name, data) for offset, (name, data) in enumerate(chunk))
                results.extend([] for _ in chunk)
    for position, name, data in failed:  # again, each alone, so that only the file that kills a worker is lost
        results[position] = _isolated(name, data, settings, context)
    return results


def _isolated(name: str, data: bytes, settings: LintSettings, context) -> list[Finding]:
    from concurrent.futures import ProcessPoolExecutor

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(lint_data, data, name, settings).result()
    except Exception as error:  # noqa: BLE001
        return internal_error(name, error, settings)


def _lint_chunk(chunk, settings: LintSettings) -> list[list[Finding]]:
    return [lint_data(data, name, settings) for name, data in chunk]


@functools.lru_cache(maxsize=None)
def linter_fingerprint(folder: Path = Path(__file__).parent) -> str:
    """A hash of the linter's own source files: an edited or upgraded linter never reads stale results."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"?")
        digest.update(b"\0")
    return digest.hexdigest()


class _Cache:
    """One JSON file of content-key -> findings for one (version, rules, patterns) combination."""

    def __init__(self, folder: Path, settings: LintSettings) -> None:
        from keras_bsguard import __version__

        fingerprint = json.dumps([CACHE_FORMAT, __version__, linter_fingerprint(), sorted(settings.codes),
                                  list(settings.loss_patterns)])
        digest = hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest()
        self.path = folder / f"results-{digest}.json"
        self.folder = folder
        self.entries: dict[str, list] = {}
        self.dirty = False
        self.touched: set[str] = set()
        try:
            self.entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str):
        """The cached findings (dicts) of a content key, or None."""
        found = self.entries.get(key)
        if found is not None:
            self.touched.add(key)
        return found

    def put(self, key: str, findings: list) -> None:
        """Remember one file's findings."""
        self.entries[key] = findings
        self.touched.add(key)
        self.dirty = True

    def save(self) -> None:
        """Write the cache back (atomically; a read-only tree is simply not cached)."""
        if not self.dirty:
            return
        if len(self.entries) > max(_CACHE_PRUNE_AT, 4 * len(self.touched)):
            self.entries = {key: self.entries[key] for key in self.touched}  # drop results of old file versions
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            gitignore = self.folder / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Automatically created by bsguard.\n*\n")
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self.entries, separators=(",", ":")))
            os.replace(temporary, self.path)
        except OSError:
            pass  # a read-only tree still lints; it just is not cached
