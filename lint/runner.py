"""Lint many files: content-hash cache, then the misses in parallel processes.

The cache (``.bsguard_cache/`` beside the configuration) is keyed on the file's bytes, the
active rules, the loss-name patterns and the package version; files with findings are cached
too, so an unchanged tree re-lints without parsing anything.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "l.py").write_text("def loss(y_true, y_pred):\\n    return y_pred.numpy()\\n")
    >>> result = lint_files([folder / "l.py"], LintSettings(), cache_dir=None)
    >>> [f.code for f in result.findings], result.files_checked
    (['BSG701'], 1)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .api import LintSettings, lint_source
from .finding import Finding
from .prefilter import may_contain_loss

CACHE_FORMAT = 1
_CACHE_PRUNE_AT = 20_000
_PARALLEL_THRESHOLD = 8  # below this many files to parse, a process pool costs more than it saves


@dataclass
class LintResult:
    findings: list[Finding]
    files_checked: int
    files_parsed: int
    cache_hits: int


def lint_files(files: list[Path], settings: LintSettings, cache_dir: Path | None, jobs: int | None = None) -> LintResult:
    cache = _Cache(cache_dir, settings) if cache_dir is not None else None
    findings: list[Finding] = []
    to_parse: list[tuple[str, bytes, str]] = []  # (display name, bytes, content key)
    hits = 0
    for path in files:
        name = str(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            findings.append(Finding("BSG000", "syntax-error", "error", f"cannot read file: {error.strerror}",
                                    name, 1, 1, 1, 1, None))
            continue
        key = hashlib.blake2b(data, digest_size=16).hexdigest()
        cached = cache.get(key) if cache else None
        if cached is not None:
            hits += 1
            findings.extend(Finding.from_dict({**item, "filename": name}) for item in cached)
            continue
        if not may_contain_loss(data, settings.loss_patterns):
            if cache:
                cache.put(key, [])
            continue
        to_parse.append((name, data, key))
    for (_name, _data, key), file_findings in zip(to_parse, _lint_many(to_parse, settings, jobs)):
        findings.extend(file_findings)
        if cache:
            cache.put(key, [_without_filename(f) for f in file_findings])
    if cache:
        cache.save()
    findings.sort(key=lambda f: f.sort_key)
    return LintResult(findings, len(files), len(to_parse), hits)


def _without_filename(finding: Finding) -> dict:
    data = finding.to_dict()
    data.pop("filename")
    return data


def _lint_many(items, settings: LintSettings, jobs: int | None) -> list[list[Finding]]:
    workers = min(jobs or os.cpu_count() or 1, len(items))
    if workers <= 1 or len(items) < _PARALLEL_THRESHOLD:
        return [lint_source(data, name, settings) for name, data, _key in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import libcst  # noqa: F401 - imported once here, inherited by the forked workers

    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    chunk = max(1, len(items) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_lint_one, [(name, data, settings) for name, data, _key in items], chunksize=chunk))


def _lint_one(item) -> list[Finding]:
    name, data, settings = item
    return lint_source(data, name, settings)


def _linter_stamp() -> list:
    """Size and mtime of the linter's own modules: an edited (editable-install) linter never reads stale results."""
    folder = Path(__file__).parent
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*.py"))


class _Cache:
    """One JSON file of content-key -> findings for one (version, rules, patterns) combination."""

    def __init__(self, folder: Path, settings: LintSettings) -> None:
        from keras_bsguard import __version__

        fingerprint = json.dumps([CACHE_FORMAT, __version__, _linter_stamp(), sorted(settings.codes),
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
        found = self.entries.get(key)
        if found is not None:
            self.touched.add(key)
        return found

    def put(self, key: str, findings: list) -> None:
        self.entries[key] = findings
        self.touched.add(key)
        self.dirty = True

    def save(self) -> None:
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
