"""Linter speed, side by side in one run: `python benchmarks/lint_speed.py [--rounds 3]`.

Measures, interleaved over several rounds (medians reported):

* cold  -- `bsguard lint <installed keras>` with an empty cache,
* warm  -- the same command again (every file a cache hit),
* bare  -- `libcst.parse_module` of every file of the same tree, in one process,
* small -- `bsguard lint one_small_file.py --no-cache` end to end (the pre-commit case),
* floor -- `python -c "import libcst"`, the part of `small` no linter built on libcst can avoid.

Targets (issue #2, on a 2-core machine): cold <= bare (ratio <= 1.0), warm < 1 s, small < 0.35 s.
Each measurement is a fresh process, so interpreter start-up and imports are included.

`--baseline-rev REV` also times `small` with the linter of git revision REV of this repository
(exported with `git archive` into a temporary package that comes first on the path), interleaved
with the current one in the same rounds, and prints the ratio: a change's effect on the pre-commit
case, measured side by side on one machine.

The commands run with Python's bytecode cache allowed, as in any pip or pre-commit install (pip
compiles `.pyc` files on install): `PYTHONDONTWRITEBYTECODE` is dropped from their environment and
one untimed run writes the cache first. With the variable set and stale `.pyc` files, every run
compiles the linter's and libcst's sources again, which roughly doubles `small` (0.66 s against
0.33 s on the 2-core development machine); the run prints a line when the caller had it set.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_FILE = '''import tensorflow as tf


def loss(y_true, y_pred):
    return tf.reduce_sum(tf.square(y_true - y_pred))
'''

BARE_PARSE = """
import sys, pathlib, libcst
for path in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):
    libcst.parse_module(path.read_bytes())
"""


_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def _seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_ENV)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")
    return elapsed


def _baseline_package(revision: str, into: Path) -> Path:
    """The linter of ``revision`` as an importable ``keras_bsguard`` package under ``into``
    (the repository keeps the linter in ``lint/``, installed as ``keras_bsguard.lint``)."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", revision, "keras_bsguard", "lint"],
                             capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / "lint").rename(into / "keras_bsguard" / "lint")
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=None, help="source tree to lint (default: installed keras)")
    parser.add_argument("--baseline-rev", default=None,
                        help="also time the small file with the linter of this git revision, interleaved")
    args = parser.parse_args()
    spec = importlib.util.find_spec("keras")
    tree = args.tree or (Path(next(iter(spec.submodule_search_locations))) if spec else None)
    if tree is None:
        raise SystemExit("keras is not installed; pass --tree")
    files = sum(1 for _ in tree.rglob("*.py"))
    bsguard = [sys.executable, "-m", "keras_bsguard.cli"]
    work = Path(tempfile.mkdtemp(prefix="bsguard-bench-"))
    (work / "bsguard.toml").write_text("")  # default settings, cache inside the work folder
    (work / "small_loss.py").write_text(SMALL_FILE)
    lint_tree = [*bsguard, "lint", str(tree), "--config", "bsguard.toml", "-q", "--exit-zero"]
    small = [*bsguard, "lint", "small_loss.py", "--no-cache", "-q"]
    floor = [sys.executable, "-c", "import libcst"]
    _seconds(small, work)  # untimed: writes the bytecode cache, as an install does
    samples: dict[str, list[float]] = {"cold": [], "warm": [], "bare": [], "small": [], "floor": []}
    baseline_small = None
    if args.baseline_rev:
        package = _baseline_package(args.baseline_rev, work / "baseline")
        baseline_small = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "from keras_bsguard.cli import main; sys.exit(main(sys.argv[2:]))",
                          str(package), "lint", "small_loss.py", "--no-cache", "-q"]
        _seconds(baseline_small, work)  # untimed: its bytecode cache
        samples["baseline_small"] = []
    for _round in range(args.rounds):
        shutil.rmtree(work / ".bsguard_cache", ignore_errors=True)
        samples["cold"].append(_seconds(lint_tree, work))
        samples["warm"].append(_seconds(lint_tree, work))
        samples["bare"].append(_seconds([sys.executable, "-c", BARE_PARSE, str(tree)], work))
        samples["small"].append(_seconds(small, work))
        if baseline_small is not None:
            samples["baseline_small"].append(_seconds(baseline_small, work))
            samples["small"].append(_seconds(small, work))  # both sides of the baseline, in turn
            samples["baseline_small"].append(_seconds(baseline_small, work))
        samples["floor"].append(_seconds(floor, work))
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"tree: {tree} ({files} files), {args.rounds} rounds, {os.cpu_count()} CPUs, medians")
    print(f"{'measurement':<40}{'seconds':>10}")
    print(f"{'bare libcst.parse_module, every file':<40}{median['bare']:>10.2f}")
    print(f"{'bsguard lint, cold cache':<40}{median['cold']:>10.2f}")
    print(f"{'bsguard lint, warm cache':<40}{median['warm']:>10.2f}")
    print(f"{'bsguard lint, one small file':<40}{median['small']:>10.3f}")
    print(f"{'python -c import libcst (floor)':<40}{median['floor']:>10.3f}")
    print()
    print(f"cold / bare parse ratio: {median['cold'] / median['bare']:.2f}   (target <= 1.00)")
    print(f"warm / cold ratio:       {median['warm'] / median['cold']:.3f}  (warm target < 1 s: {median['warm']:.2f} s)")
    print(f"small file:              {median['small']:.3f} s (target < 0.35 s); "
          f"{median['small'] / median['floor']:.2f} x a bare `import libcst`")
    if baseline_small is not None:
        print(f"small file at {args.baseline_rev}: {median['baseline_small']:.3f} s; this tree / baseline = "
              f"{median['small'] / median['baseline_small']:.2f}")
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("note: PYTHONDONTWRITEBYTECODE was set here; the timed commands ran without it (see the docstring)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
