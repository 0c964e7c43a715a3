"""Issue 10 in the runner and lint_source: one file's failure is a BSG000 finding for that file (in
the process pool too), files that do not decode or parse are reported whatever the prefilter
thinks, and the cache is keyed on the linter's own code and the file's name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import keras_bsguard.lint.api as api
from keras_bsguard.lint import LintSettings, lint_source
from keras_bsguard.lint.runner import lint_files, linter_fingerprint

LOSS = "import tensorflow as tf\ndef sse(y_true, y_pred):\n    return tf.reduce_sum(tf.square(y_true - y_pred))\n"


def _write_tree(folder: Path, count: int) -> list[Path]:
    files = [folder / f"loss_{number}.py" for number in range(count)]
    for path in files:
        path.write_text(LOSS)
    (folder / "boom.py").write_text(LOSS)
    return sorted([*files, folder / "boom.py"])


def _crash_on_boom(monkeypatch, error: BaseException) -> None:
    real = api._lint_module

    def patched(module, filename, settings, *rest):
        if "boom" in filename:
            raise error
        return real(module, filename, settings, *rest)

    monkeypatch.setattr(api, "_lint_module", patched)


@pytest.mark.parametrize("jobs", [1, 2])  # 2: the forked process pool inherits the patch
def test_an_exception_in_the_analysis_is_bsg000_and_the_run_goes_on(tmp_path, monkeypatch, jobs):
    files = _write_tree(tmp_path, 9)
    _crash_on_boom(monkeypatch, RecursionError("maximum recursion depth exceeded"))
    result = lint_files(files, LintSettings(), cache_dir=None, jobs=jobs)
    by_file = {}
    for finding in result.findings:
        by_file.setdefault(Path(finding.filename).name, []).append((finding.code, finding.message))
    assert by_file.pop("boom.py") == [
        ("BSG000", "internal error: RecursionError: maximum recursion depth exceeded (please report this)")]
    assert len(by_file) == 9 and all(codes[0][0] == "BSG501" for codes in by_file.values())


def test_a_worker_that_dies_costs_findings_not_the_run(tmp_path, monkeypatch):
    files = _write_tree(tmp_path, 9)
    real = api._lint_module

    def dying(module, filename, settings, *rest):
        if "boom" in filename:
            os._exit(3)  # what the out-of-memory killer does to a worker
        return real(module, filename, settings, *rest)

    monkeypatch.setattr(api, "_lint_module", dying)
    result = lint_files(files, LintSettings(), cache_dir=None, jobs=2)
    codes = {Path(f.filename).name: f.code for f in result.findings}
    assert codes.pop("boom.py") == "BSG000"  # only the file that killed its worker is lost...
    assert sorted(codes) == sorted(path.name for path in files if path.name != "boom.py")
    assert set(codes.values()) == {"BSG501"}  # ...the others are retried, each alone
    boom = [f for f in result.findings if f.filename.endswith("boom.py")]
    assert boom[0].message.startswith("internal error: BrokenProcessPool")


def test_internal_errors_are_not_cached(tmp_path, monkeypatch):
    files = _write_tree(tmp_path, 0)
    cache = tmp_path / "cache"
    with monkeypatch.context() as patch:
        _crash_on_boom(patch, ValueError("bad"))
        assert [f.code for f in lint_files(files, LintSettings(), cache_dir=cache).findings] == ["BSG000"]
    assert [f.code for f in lint_files(files, LintSettings(), cache_dir=cache).findings] == ["BSG501"]


def test_an_exception_anywhere_in_lint_source_is_a_finding(monkeypatch):
    monkeypatch.setattr(api, "may_contain_loss", lambda data, patterns, filename=None: 1 / 0)
    [finding] = lint_source(LOSS, "m.py")
    assert (finding.code, finding.row, finding.message) == (
        "BSG000", 1, "internal error: ZeroDivisionError: division by zero (please report this)")


@pytest.mark.parametrize("source, expected", [
    (b"x = (1,\n", (1, 5, "file does not parse: '(' was never closed")),
    (b"x = 1\ny = '\xff'\n", (2, 6, "file does not decode: byte 0xff at line 2, column 6 is not valid UTF-8; "
                                     "save the file as UTF-8 or declare its encoding")),
    (b"\x93\x8a\xff\x00\x01", (1, 1, "file does not decode: byte 0x93 at line 1, column 1 is not valid UTF-8; "
                                     "save the file as UTF-8 or declare its encoding")),
    (b"# -*- coding: klingon -*-\nx = 1\n", (1, 1, "file does not decode: unknown encoding: klingon")),
    (b"# coding: latin-1\nx = '\xe9'\n", None),  # declared and valid
    (b"return 1\n", None),  # a compiler error, not a parse error (as for files that look like losses)
    (b"type Alias = int\ndef first[T](xs: list[T]) -> T:\n    return xs[0]\n", None),  # newer syntax: libcst knows it
])
def test_files_the_prefilter_skips_are_still_checked(source, expected):
    from keras_bsguard.lint.prefilter import may_contain_loss

    assert not may_contain_loss(source)
    found = [(f.row, f.column, f.message) for f in lint_source(source, "m.py")]
    assert found == ([expected] if expected else [])


def test_the_cache_key_follows_the_linters_own_source(tmp_path):
    package = tmp_path / "lint"
    package.mkdir()
    module = package / "rules.py"
    module.write_text("LIMIT = 10\n")
    before = linter_fingerprint(package)
    stat = module.stat()
    module.write_text("LIMIT = 20\n")  # same size...
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...and same modification time
    linter_fingerprint.cache_clear()
    assert linter_fingerprint(package) != before
    linter_fingerprint.cache_clear()


def test_a_stale_cache_is_not_served_after_the_linter_changes(tmp_path, monkeypatch):
    import keras_bsguard.lint.runner as runner

    (tmp_path / "l.py").write_text(LOSS)
    cache = tmp_path / "cache"
    assert [f.code for f in lint_files([tmp_path / "l.py"], LintSettings(), cache_dir=cache).findings] == ["BSG501"]
    [results] = cache.glob("results-*.json")
    results.write_text(json.dumps({key: [] for key in json.loads(results.read_text())}))  # what an old linter said
    assert lint_files([tmp_path / "l.py"], LintSettings(), cache_dir=cache).findings == []  # served from the cache
    monkeypatch.setattr(runner, "linter_fingerprint", lambda: "a-newer-linter")
    assert [f.code for f in lint_files([tmp_path / "l.py"], LintSettings(), cache_dir=cache).findings] == ["BSG501"]


def test_the_cache_key_holds_the_file_name(tmp_path):
    """The same bytes in a test module define no loss: a cached result must not cross over."""
    (tmp_path / "losses.py").write_text(LOSS)
    (tmp_path / "test_losses.py").write_text(LOSS)
    cache = tmp_path / "cache"
    for _ in range(2):
        result = lint_files([tmp_path / "losses.py", tmp_path / "test_losses.py"], LintSettings(), cache_dir=cache)
        assert [Path(f.filename).name for f in result.findings] == ["losses.py"]


def test_max_file_size_skips_and_reports(tmp_path):
    (tmp_path / "big.py").write_text(LOSS + "#" * 2000 + "\n")
    (tmp_path / "small.py").write_text(LOSS)
    result = lint_files([tmp_path / "big.py", tmp_path / "small.py"], LintSettings(), cache_dir=None,
                        max_file_size=1000)
    assert [Path(f.filename).name for f in result.findings] == ["small.py"]
    assert [(Path(name).name, size) for name, size in result.too_large] == [("big.py", len(LOSS) + 2001)]
    assert result.files_checked == 1
    unlimited = lint_files([tmp_path / "big.py"], LintSettings(), cache_dir=None, max_file_size=0)
    assert [f.code for f in unlimited.findings] == ["BSG501"]


def test_unreadable_files_are_noted_and_the_rest_linted(tmp_path, monkeypatch):
    (tmp_path / "secret.py").write_text(LOSS)
    (tmp_path / "open.py").write_text(LOSS)
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = lint_files([tmp_path / "secret.py", tmp_path / "open.py"], LintSettings(), cache_dir=None)
    assert result.unreadable == [f"{tmp_path / 'secret.py'}: permission denied"]
    assert [Path(f.filename).name for f in result.findings] == ["open.py"]
