"""``bsguard report`` through the real console script on an install without matplotlib (the
linter-only install): one line naming the extra to install, exit 2, and no file written."""

from __future__ import annotations

import json
import textwrap

from .conftest import write

NO_MATPLOTLIB = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "matplotlib":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
    """
)


def _event_log(path):
    records = [{"type": "run", "monitor": "step_time", "run": "r1", "backend": "jax"}]
    records += [{"type": "window", "monitor": "step_time", "run": "r1", "step": step,
                 "step_time": 0.002, "data_time": 0.0001} for step in (10, 20, 30)]
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def test_without_matplotlib_the_report_names_the_extra_and_leaves_files_alone(project, bsguard):
    log = _event_log(project / "run.jsonl")
    old = write(project / "report.html", "<html>yesterday's good report</html>")
    hook = write(project.parent / "hook" / "sitecustomize.py", NO_MATPLOTLIB).parent
    result = bsguard("report", log, "-o", old, env={"PYTHONPATH": str(hook)})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("bsguard report: error: the report needs matplotlib, which "
                                    "cannot be imported (No module named 'matplotlib')")
    assert result.stderr.rstrip().endswith('pip install "keras-bsguard[keras]" (from a clone of the repository: '
                                          'pip install ".[keras]")')
    assert old.read_text() == "<html>yesterday's good report</html>"
    assert sorted(p.name for p in project.iterdir()) == ["report.html", "run.jsonl"]


def test_the_report_subcommand_still_renders_and_help_needs_no_matplotlib(project, bsguard):
    log = _event_log(project / "run.jsonl")
    result = bsguard("report", log, "-o", "out.html")
    assert result.returncode == 0, result.stderr
    assert (project / "out.html").read_text().count("data:image/png;base64,") == 1
    hook = write(project.parent / "hook" / "sitecustomize.py", NO_MATPLOTLIB).parent
    helped = bsguard("report", "--help", env={"PYTHONPATH": str(hook)})
    assert helped.returncode == 0 and "RUN.jsonl" in helped.stdout
