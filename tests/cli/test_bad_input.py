"""Issue 10 through the real console script: every bad input gives one clear line and a documented
exit code, never a traceback, and one file's failure never loses the other files' findings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from .conftest import BAD_LOSS, CLEAN_LOSS, console_script, write

CRASHING_ANALYSIS = textwrap.dedent(
    """
    import keras_bsguard.lint.api as api

    _real = api._lint_module

    def _lint_module(module, filename, settings, *rest):
        if "boom" in filename:
            raise RecursionError("maximum recursion depth exceeded")
        return _real(module, filename, settings, *rest)

    api._lint_module = _lint_module
    """
)


LOCKED_PATHS = textwrap.dedent(
    """
    import os, pathlib

    def _denied(path):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    _scandir, _stat, _read_bytes = os.scandir, os.stat, pathlib.Path.read_bytes
    os.scandir = lambda path=".": _denied(path) if os.path.basename(os.fspath(path)) == "locked" else _scandir(path)
    os.stat = lambda path, *a, **k: _denied(path) if "locked" + os.sep in os.fspath(path) else _stat(path, *a, **k)
    pathlib.Path.read_bytes = lambda self: _denied(self) if self.name == "secret.py" else _read_bytes(self)
    """
)


def _hook_env(project, code: str) -> dict:
    """A sitecustomize for the console script's interpreter: ``code`` runs before bsguard starts."""
    hook = project.parent / "hook"
    write(hook / "sitecustomize.py", code)
    return {"PYTHONPATH": str(hook)}


def _crashing_env(project) -> dict:
    """The analysis raises on files named *boom* (what a linter bug looks like)."""
    return _hook_env(project, CRASHING_ANALYSIS)


# ---- 1. never a traceback, never lost output ------------------------------------------------

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_crash_in_one_file_is_bsg000_and_the_others_are_still_reported(project, bsguard, jobs):
    for number in range(9):  # enough files to parse for the process pool with -j 2
        write(project / f"losses_{number}.py", BAD_LOSS)
    write(project / "boom.py", BAD_LOSS)
    result = bsguard("lint", ".", "--no-cache", "--output-format", "concise", "-j", jobs, env=_crashing_env(project))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "boom.py:1:1: BSG000 internal error: RecursionError: maximum recursion depth exceeded (please report this)" \
        in lines
    assert sum("BSG501" in line for line in lines) == 9 and sum("BSG402" in line for line in lines) == 9


def test_a_parse_deeper_than_the_main_threads_stack_does_not_crash_the_run(project):
    """libcst's native parser overflows a small main-thread stack on a long sum (a segfault, every
    finding lost); the linter parses on a thread of its own with a large stack. A 1 MB main stack
    stands in for the 8 MB one and a 1,000-term sum for a 10,000-term one (which takes minutes)."""
    write(project / "long_sum.py", "def loss(y_true, y_pred):\n    return "
          + " + ".join(f"y_pred * {i}" for i in range(1000)) + "\n")
    write(project / "losses.py", BAD_LOSS)
    shell = shutil.which("bash")
    if shell is None:
        pytest.skip("needs bash for ulimit")
    result = subprocess.run([shell, "-c", f"ulimit -s 1024 && '{console_script()}' lint . --no-cache "
                             "--output-format concise -q"], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["losses.py", "losses.py"]


# ---- 2. configuration errors are errors -----------------------------------------------------

@pytest.mark.parametrize("text, problem", [
    ("[tool.bsguard\n", "invalid TOML in"),
    ("[tool]\nbsguard = 5\n", "[tool.bsguard] must be a table, not an integer"),
    ("tool = 5\n", "[tool] must be a table, not an integer"),
])
def test_a_broken_pyproject_on_the_search_path_exits_2_naming_it(project, bsguard, text, problem):
    write(project / "pyproject.toml", text)
    write(project / "src" / "losses.py", BAD_LOSS)
    result = bsguard("lint", "src/losses.py")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("bsguard: error: ") and problem in result.stderr
    assert str(project / "pyproject.toml") in result.stderr


def test_a_pyproject_that_is_not_utf8_is_a_configuration_error(project, bsguard):
    (project / "pyproject.toml").write_bytes(b"[tool.bsguard]\nignore = ['\xff']\n")
    write(project / "losses.py", BAD_LOSS)
    result = bsguard("lint", "losses.py")
    assert result.returncode == 2 and "invalid TOML in" in result.stderr


def test_bsguard_toml_takes_top_level_keys_and_is_found_on_the_search_path(project, bsguard):
    write(project / "bsguard.toml", 'ignore = ["BSG4"]\n')
    write(project / "pkg" / "losses.py", BAD_LOSS)
    result = bsguard("lint", "pkg", "--no-cache", "--output-format", "json")
    assert result.returncode == 1
    assert [item["code"] for item in json.loads(result.stdout)] == ["BSG501"]
    write(project / "bsguard.toml", '[tool.bsguard]\nignore = ["BSG4"]\n')
    result = bsguard("lint", "pkg")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "bsguard.toml takes top-level keys" in result.stderr


# ---- 3. notebooks -------------------------------------------------------------------------------

def _notebook(cells: list[tuple[str, str]]) -> str:
    try:
        import nbformat
    except ImportError:
        nbformat = None
    if nbformat is not None:
        book = nbformat.v4.new_notebook()
        book.metadata["language_info"] = {"name": "python"}
        book.cells = [nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
                      for kind, source in cells]
        return nbformat.writes(book)
    return json.dumps({"cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                                  **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                                 for kind, source in cells],
                       "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5},
                      indent=1)


TRAIN_CELLS = [
    ("markdown", "# Training"),
    ("code", "%pip install tensorflow\nimport tensorflow as tf\n!nvidia-smi"),
    ("code", "def sse(y_true, y_pred):\n"
             "    # the sum below is the bug\n"
             "    x = tf.math.log(y_pred)  # noqa: BSG402\n"
             "    return tf.reduce_sum(tf.square(y_true - y_pred)) + x\n"
             "sse?"),
]


def test_notebooks_are_linted_with_cell_and_row_in_cell(project, bsguard):
    write(project / "notebooks" / "train.ipynb", _notebook(TRAIN_CELLS))
    result = bsguard("lint", "--no-cache")  # found by the folder walk
    assert result.returncode == 1
    header = os.path.join("notebooks", "train.ipynb") + ":cell 3:4:12: BSG501 [warning]"
    assert result.stdout.startswith(header)
    assert "4 |     return tf.reduce_sum(tf.square(y_true - y_pred)) + x" in result.stdout
    assert ":cell 3:3:" not in result.stdout  # the noqa on its line holds...
    cells = [(kind, source.replace("  # noqa: BSG402", "")) for kind, source in TRAIN_CELLS]
    write(project / "notebooks" / "train.ipynb", _notebook(cells))
    assert ":cell 3:3:9: BSG402" in bsguard("lint", "--no-cache").stdout  # ...and only it
    write(project / "notebooks" / "train.ipynb", _notebook(TRAIN_CELLS))
    concise = bsguard("lint", "--no-cache", "--output-format", "concise", "-q").stdout.splitlines()
    assert concise == [os.path.join("notebooks", "train.ipynb") + ":cell 3:4:12: BSG501 "
                       "`tf.reduce_sum(tf.square(y_true - y_pred))` sums over the batch axis and is returned as "
                       "the loss: it grows with the batch size; reduce over axis=-1 (or take the mean)"]
    item = json.loads(bsguard("lint", "--no-cache", "--output-format", "json").stdout)[0]
    assert (item["cell"], item["location"], item["end_location"]) == (3, {"row": 4, "column": 12},
                                                                      {"row": 4, "column": 53})
    assert bsguard("lint", "--extend-exclude", "*.ipynb").returncode == 0


def test_notebook_sarif_and_github_point_at_the_line_of_the_notebook_file(project, bsguard):
    text = _notebook(TRAIN_CELLS)
    write(project / "train.ipynb", text)
    json_row = next(number for number, line in enumerate(text.splitlines(), 1) if "return tf.reduce_sum" in line)
    result = json.loads(bsguard("lint", "train.ipynb", "--output-format", "sarif").stdout)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == json_row
    assert (result["properties"]["cell"], result["properties"]["cellRow"], result["properties"]["cellColumn"]) == (3, 4, 12)
    assert result["message"]["text"].startswith("cell 3, line 4, column 12: ")
    github = bsguard("lint", "train.ipynb", "--output-format", "github").stdout
    assert github.startswith(f"::warning file=train.ipynb,line={json_row},title=BSG501::cell 3, line 4, column 12: ")


def test_a_notebook_that_is_not_json_is_bsg000(project, bsguard):
    write(project / "broken.ipynb", '{"cells": [')
    write(project / "list.ipynb", "[1, 2]")
    result = bsguard("lint", ".", "--output-format", "concise", "-q")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "broken.ipynb:1:12: BSG000 notebook is not valid JSON: Expecting value at line 1, column 12",
        "list.ipynb:1:1: BSG000 not a Jupyter notebook: no list of cells (nbformat 4 expected)",
    ]


# ---- 4. honest exit codes and messages ----------------------------------------------------------

def test_nothing_to_lint_warns_and_strict_makes_it_an_error(project, bsguard):
    (project / "empty").mkdir()
    write(project / "docs" / "notes.txt", "not python\n")
    write(project / "pyproject.toml", '[tool.bsguard]\nexclude = ["generated"]\n')
    write(project / "generated" / "losses.py", BAD_LOSS)
    for argv in (["empty"], ["docs"], ["generated/losses.py", "--force-exclude"]):
        result = bsguard("lint", *argv)
        assert result.returncode == 0 and result.stdout == ""
        assert result.stderr == f"bsguard: warning: no Python files found in {argv[0]}\n"
        strict = bsguard("lint", *argv, "--strict")
        assert strict.returncode == 2 and strict.stderr == f"bsguard: error: no Python files found in {argv[0]}\n"
    many = bsguard("lint", "empty", "docs", "empty", "generated", "generated/losses.py", "--force-exclude")
    assert many.returncode == 0  # pre-commit-long lists of paths are cut short
    assert many.stderr == "bsguard: warning: no Python files found in empty, docs, empty and 2 more\n"


def test_files_that_do_not_decode_or_parse_are_bsg000_even_when_they_look_like_nothing(project, bsguard):
    (project / "noise.py").write_bytes(b"x = 1\ny = 2  # caf\xe9 \xff\n")
    write(project / "unclosed.py", "x = (1,\n")
    write(project / "fine.py", "x = 1\n")
    result = bsguard("lint", ".", "--output-format", "concise", "-q")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "noise.py:2:13: BSG000 file does not decode: byte 0xe9 at line 2, column 13 is not valid UTF-8; "
        "save the file as UTF-8 or declare its encoding",
        "unclosed.py:1:5: BSG000 file does not parse: '(' was never closed",
    ]


def test_a_broken_pipe_exits_with_the_findings_code(project):
    lines = ["import tensorflow as tf"]
    for number in range(300):  # far more output than a pipe buffer holds
        lines += [f"def loss_{number}(y_true, y_pred):", "    return tf.reduce_sum(tf.math.log(y_pred))", ""]
    write(project / "many.py", "\n".join(lines))
    shell = shutil.which("bash")
    if shell is None:
        pytest.skip("needs bash for pipefail")
    for extra in ("", "--exit-zero"):
        result = subprocess.run([shell, "-o", "pipefail", "-c", f"'{console_script()}' lint many.py --no-cache {extra} "
                                 "| head -1"], cwd=project, capture_output=True, text=True, timeout=300)
        assert result.stdout.startswith("many.py:3:12: BSG501")
        assert result.returncode == (0 if extra else 1), result.stderr
        assert result.stderr == ""


def test_dangling_symlinks_are_skipped_with_a_note_and_missing_paths_stay_errors(project, bsguard):
    write(project / "losses.py", BAD_LOSS)
    os.symlink(project / "gone.py", project / "link.py")
    result = bsguard("lint", ".", "--output-format", "concise", "-q")
    assert result.returncode == 1 and "link.py" not in result.stdout
    assert result.stderr == "bsguard: warning: skipped link.py: a symbolic link whose target does not exist\n"
    missing = bsguard("lint", "link.py")
    assert missing.returncode == 2 and missing.stderr == "bsguard: error: path does not exist: link.py\n"


def test_permission_errors_are_one_line_each_and_the_walk_goes_on(project, bsguard):
    """Simulated (the suite runs as root in CI, where chmod 0 denies nothing): the console script's
    os.scandir/os.stat/Path.read_bytes raise PermissionError for a folder, a path in it and a file."""
    write(project / "losses.py", BAD_LOSS)
    write(project / "locked" / "a.py", BAD_LOSS)
    write(project / "secret.py", BAD_LOSS)
    env = _hook_env(project, LOCKED_PATHS)
    result = bsguard("lint", ".", "--no-cache", "--output-format", "concise", "-q", env=env)
    assert result.returncode == 1 and {line.split(":")[0] for line in result.stdout.splitlines()} == {"losses.py"}
    assert result.stderr.splitlines() == ["bsguard: warning: cannot read folder locked: permission denied",
                                          "bsguard: warning: cannot read secret.py: permission denied"]
    strict = bsguard("lint", ".", "--no-cache", "--strict", env=env)
    assert strict.returncode == 2 and strict.stderr.splitlines() == [
        "bsguard: error: cannot read folder locked: permission denied",
        "bsguard: error: cannot read secret.py: permission denied"]
    assert "BSG501" in strict.stdout  # the findings are still printed
    inner = bsguard("lint", "locked/a.py", "secret.py", "losses.py", "--no-cache", "-q", env=env)
    assert inner.returncode == 1 and inner.stderr.splitlines() == [
        "bsguard: warning: cannot read locked/a.py: permission denied",
        "bsguard: warning: cannot read secret.py: permission denied"]
    alone = bsguard("lint", "locked/a.py", env=env)
    assert alone.returncode == 0 and alone.stderr == "bsguard: warning: cannot read locked/a.py: permission denied\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file")
def test_unreadable_folders_and_files_are_one_line_each(project, bsguard):
    write(project / "losses.py", BAD_LOSS)
    write(project / "locked" / "a.py", BAD_LOSS)
    write(project / "secret.py", BAD_LOSS)
    os.chmod(project / "locked", 0)
    os.chmod(project / "secret.py", 0)
    try:
        result = bsguard("lint", ".", "--no-cache", "--output-format", "concise", "-q")
        inner = bsguard("lint", "locked/a.py", "--no-cache")
    finally:
        os.chmod(project / "locked", 0o755)
        os.chmod(project / "secret.py", 0o644)
    assert result.returncode == 1 and {line.split(":")[0] for line in result.stdout.splitlines()} == {"losses.py"}
    assert sorted(result.stderr.splitlines()) == ["bsguard: warning: cannot read folder locked: permission denied",
                                                 "bsguard: warning: cannot read secret.py: permission denied"]
    assert "permission denied" in inner.stderr and inner.returncode == 0


def test_stdin_with_a_filename_for_messages_config_and_excludes(project, bsguard):
    write(project / "pyproject.toml", '[tool.bsguard]\nexclude = ["generated"]\nper-file-ignores = { "src/*" = ["BSG4"] }\n')
    result = bsguard("lint", "-", "--output-format", "concise", stdin=BAD_LOSS.encode())
    assert result.returncode == 1 and result.stdout.splitlines()[0].startswith("-:5:12: BSG501")
    result = bsguard("lint", "-", "--stdin-filename", "src/model.py", "--output-format", "concise", "-q",
                     stdin=BAD_LOSS.encode())
    assert [line.split(": ")[0] + " " + line.split()[1] for line in result.stdout.splitlines()] == [
        "src/model.py:5:12 BSG501"]  # per-file-ignores by the given name dropped BSG402
    excluded = bsguard("lint", "-", "--stdin-filename", "generated/x.py", "--force-exclude", stdin=BAD_LOSS.encode())
    assert excluded.returncode == 0 and excluded.stdout == ""
    assert bsguard("lint", "-", "--stdin-filename", "ok.py", stdin=CLEAN_LOSS.encode()).returncode == 0
    mixed = bsguard("lint", "-", "losses.py")
    assert mixed.returncode == 2 and "cannot be combined" in mixed.stderr


def test_echoed_source_escapes_control_characters_and_expands_tabs(project, bsguard):
    source = ("import tensorflow as tf\n"
              "def sse(y_true, y_pred):\n"
              "\treturn tf.reduce_sum(y_pred) + tf.constant(len('\x1b[2J\x1b]0;pwned\x07'))\n")
    write(project / "losses.py", source)
    result = bsguard("lint", "losses.py", "--no-cache")
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    lines = result.stdout.splitlines()
    echoed = next(line for line in lines if line.startswith("3 | "))
    assert echoed == "3 |         return tf.reduce_sum(y_pred) + tf.constant(len('\\x1b[2J\\x1b]0;pwned\\x07'))"
    carets = lines[lines.index(echoed) + 1]
    assert carets.index("^") == echoed.index("tf.reduce_sum") and carets.count("^") == len("tf.reduce_sum(y_pred)")


def test_rule_renders_plain_text_and_json_keeps_markdown(project, bsguard):
    text = bsguard("rule", "BSG402").stdout
    assert text.startswith("BSG402 unguarded-log [warning]")
    assert "``" not in text and "**" not in text and "::" not in text
    assert "Why it hurts training. log(0) is -inf" in text and "\nBefore:\n\n    def dice_loss" in text
    explanation = json.loads(bsguard("rule", "BSG402", "--output-format", "json").stdout)["explanation"]
    assert "**Why it hurts training.**" in explanation and "`log(0)`" in explanation
    assert "Before:\n\n```python\ndef dice_loss" in explanation


# ---- 5. max-file-size ---------------------------------------------------------------------------

def test_files_over_max_file_size_are_skipped_with_a_notice(project, bsguard):
    write(project / "losses.py", BAD_LOSS)
    write(project / "big.py", "#" * (3100 - len(BAD_LOSS) - 1) + "\n" + BAD_LOSS)
    result = bsguard("lint", ".", "--no-cache", "--max-file-size", "2KB", "--output-format", "concise", "-q")
    assert result.returncode == 1 and "big.py" not in result.stdout and "losses.py" in result.stdout
    assert result.stderr == "bsguard: warning: skipped big.py: 3.1 KB is over max-file-size (2 KB)\n"
    write(project / "pyproject.toml", '[tool.bsguard]\nmax-file-size = "2KB"\n')
    assert "skipped big.py" in bsguard("lint", ".", "--no-cache").stderr
    assert "skipped" not in bsguard("lint", ".", "--no-cache", "--max-file-size", "0").stderr
    bad = bsguard("lint", ".", "--max-file-size", "lots")
    assert bad.returncode == 2 and "not a size" in bad.stderr and len(bad.stderr.splitlines()) == 1
    write(project / "pyproject.toml", "[tool.bsguard]\nmax-file-size = -1\n")
    assert bsguard("lint", ".").returncode == 2
