"""The linter on real third-party code: per-rule counts, precision and recall against our judgments.

    python benchmarks/lint_real_code.py --fetch /tmp/realcode/pkgs      # download + unpack the packages
    python benchmarks/lint_real_code.py /tmp/realcode/pkgs /tmp/realcode/repos

Each folder passed is a corpus root holding one sub-folder per source:

* ``NAME-VERSION/``: a PyPI package unpacked from ``pip download --no-deps NAME==VERSION``
  (``--fetch DIR`` does that for every package the judgments file names);
* ``github@OWNER@REPO@COMMIT/``: files of a public repository at that commit (paths as in the
  repository), saved by hand from the search tool; they cannot be re-fetched by this script.

The judgments file (``benchmarks/real_code/judgments.csv``) holds references and our own
verdicts only, never third-party source: ``package,version,path,line,code,verdict,reason`` and an
optional ``column`` (which of several findings of one rule on one line a row judges), one
row per finding judged or per real bug labelled. ``verdict`` is ``true`` (a real problem at that
line, whether or not the linter reports it: rows that the linter misses count against recall),
``false`` (the linter reports it and is wrong), or ``debatable`` (left out of both figures).

Printed: findings per rule and per kind of file (loss modules, metrics, tests, other), then per
rule and per corpus (libraries vs user repositories) the true/false/unjudged counts, precision
``true / (true + false)`` and recall ``found / all true``, where a labelled bug is found when a
finding is reported at its line, or names that line as another place of its root cause (column
``related``: one cause, one finding). ``--unjudged FILE`` writes
the findings that no row judges, to judge next. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_JUDGMENTS = HERE / "real_code" / "judgments.csv"
sys.path.insert(0, str(HERE.parent))


def _linter():
    try:
        from keras_bsguard.lint.api import LintSettings
        from keras_bsguard.lint.runner import lint_files
    except ImportError:  # a plain checkout, not installed
        sys.exit("install the project first: pip install -e .")
    return LintSettings, lint_files


def source_folder(folder: str) -> tuple[str, str] | None:
    """(package, version) that a corpus sub-folder's name stands for."""
    if folder.startswith("github@"):
        _, owner, repo, commit = folder.split("@", 3)
        return f"github:{owner}/{repo}", commit
    if "-" in folder:
        name, version = folder.rsplit("-", 1)
        return name.replace("_", "-").lower(), version
    return None


def source_of(root: Path, path: Path) -> tuple[str, str, str] | None:
    """(package, version, path inside the source) of a file under a corpus root."""
    relative = path.resolve().relative_to(root.resolve())
    source = source_folder(relative.parts[0])
    return None if source is None else (*source, "/".join(relative.parts[1:]))


def kind_of(path: str) -> str:
    """Which kind of module a path is: what the held-out measurement splits by."""
    lower = path.lower()
    parts = lower.split("/")
    name = parts[-1]
    if "tests" in parts or "test" in parts or name.startswith("test_") or name.endswith("_test.py") or "testing" in parts:
        return "tests"
    if "loss" in lower:
        return "loss modules"
    if "metric" in lower:
        return "metrics"
    return "other"


def fetch(folder: Path, judgments: Path) -> None:
    """pip download --no-deps every PyPI package named in the judgments file, and unpack it."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = sorted({(r["package"], r["version"]) for r in read_judgments(judgments)
                     if not r["package"].startswith("github:")})
    with tempfile.TemporaryDirectory() as scratch:
        for name, version in wanted:
            target = folder / f"{name.replace('-', '_')}-{version}"
            if target.exists():
                continue
            done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--ignore-requires-python", f"{name}=={version}",
                                   "-d", scratch])
            if done.returncode:
                # pip 24.1+ refuses some old releases' metadata: run --fetch with an older pip
                print(f"could not download {name}=={version}; skipped", file=sys.stderr)
                continue
            wanted_prefix = _normal(f"{name}-{version}")
            found = [a for a in Path(scratch).iterdir() if _normal(a.name).startswith(wanted_prefix)]
            wheels = [a for a in found if a.suffix == ".whl"]
            sdists = [a for a in found if a.name.endswith((".tar.gz", ".zip"))]
            if wheels:
                with zipfile.ZipFile(wheels[0]) as archive:
                    members = [m for m in archive.namelist() if m.endswith(".py") and ".dist-info/" not in m]
                    archive.extractall(target, members)
            elif sdists:
                _unpack_sdist(sdists[0], target)
            else:
                print(f"no wheel or sdist for {name}=={version}; skipped", file=sys.stderr)
                continue
            print(f"unpacked {name}=={version} into {target}")


def _normal(text: str) -> str:
    """A distribution file name compared the way PyPI does: lower case, runs of -_. as one _."""
    return re.sub(r"[-_.]+", "_", text.lower())


def _unpack_sdist(archive_path: Path, target: Path) -> None:
    """The .py files of a source distribution, without its top-level ``NAME-VERSION/`` folder
    (so that paths match the package's own layout, as in a wheel)."""
    import tarfile

    if archive_path.suffix == ".zip":
        with zipfile.ZipFile(archive_path) as archive:
            items = [(m, archive.read(m)) for m in archive.namelist() if m.endswith(".py")]
    else:
        with tarfile.open(archive_path) as archive:
            items = [(m.name, archive.extractfile(m).read()) for m in archive.getmembers()
                     if m.isfile() and m.name.endswith(".py")]
    for member, data in items:
        parts = Path(member).parts[1:]
        if not parts or ".." in parts:
            continue
        out = target.joinpath(*parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)


def read_judgments(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("package") and not row["package"].startswith("#")]


def lint_roots(roots: list[Path]) -> tuple[list[dict], set[tuple[str, str]]]:
    """Findings under the roots (every .py file, no configuration), and the sources present."""
    LintSettings, lint_files = _linter()
    found = []
    present = set()
    for root in roots:
        present |= {source_folder(folder.name) for folder in root.iterdir() if folder.is_dir()} - {None}
        files = sorted(root.rglob("*.py"))
        result = lint_files(files, LintSettings(), cache_dir=None)
        for finding in result.findings:
            source = source_of(root, Path(finding.filename))
            if source is None:
                continue
            package, version, inner = source
            found.append({"package": package, "version": version, "path": inner, "line": finding.row,
                          "column": finding.column, "code": finding.code, "message": finding.message, "loss": finding.loss,
                          "kind": kind_of(inner), "related": [row for row, _ in finding.related]})
    return found, present


def corpus_of(package: str) -> str:
    return "user repos" if package.startswith("github:") else "libraries"


def report(findings: list[dict], present: set, judgments: list[dict], unjudged_out: Path | None) -> None:
    by_kind = Counter(f["kind"] for f in findings)
    per_rule = Counter(f["code"] for f in findings)
    print(f"findings: {len(findings)}  by kind of module: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    print("per rule: " + ", ".join(f"{c} {n}" for c, n in sorted(per_rule.items())))
    # several findings of one rule on one line (an exp and a pow) are judged by as many rows with
    # that key: a row that names its finding's column judges the finding there; the others are taken
    # in the order the findings were listed (the k-th such finding takes the k-th such row, the last
    # one when there are fewer rows than findings)
    rows_at: dict[tuple, list[dict]] = defaultdict(list)
    for row in judgments:
        rows_at[(row["package"], row["version"], row["path"], int(row["line"]), row["code"])].append(row)
    taken: Counter = Counter()
    reported = {(f["package"], f["version"], f["path"], f["line"], f["code"]) for f in findings}
    # a finding names the other places of its root cause (one cause, one finding): a bug labelled
    # at one of those places is found, not missed
    related = {(f["package"], f["version"], f["path"], line, f["code"]) for f in findings for line in f["related"]}
    table: dict[tuple[str, str], Counter] = defaultdict(Counter)
    unjudged = []
    for f in findings:
        key = (f["package"], f["version"], f["path"], f["line"], f["code"])
        row = _row_for(f, rows_at.get(key, []), taken, key)
        verdict = row["verdict"] if row else "unjudged"
        for rule in (f["code"], "all"):
            table[(corpus_of(f["package"]), rule)][f"reported {verdict}"] += 1
            if f["kind"] != "loss modules" and not f["package"].startswith("github:"):
                table[("libraries outside loss modules", rule)]["reported " + verdict] += 1
        if row is None:
            unjudged.append(f)
    for key, rows in rows_at.items():
        row = next((r for r in rows if r["verdict"] == "true"), None)
        if row is not None and key not in reported and (key[0], key[1]) in present:
            outcome = "found at a related place" if key in related else "missed true"
            for rule in (row["code"], "all"):
                table[(corpus_of(row["package"]), rule)][outcome] += 1
    print()
    print(f"{'corpus':<32}{'rule':<8}{'true':>6}{'false':>6}{'debat.':>7}{'unjudged':>9}{'related':>8}{'missed':>7}"
          f"{'precision':>10}{'recall':>8}")
    for (corpus, rule), counts in sorted(table.items(), key=lambda item: (item[0][0], item[0][1] == "all", item[0][1])):
        true, false = counts["reported true"], counts["reported false"]
        missed, elsewhere = counts["missed true"], counts["found at a related place"]
        precision = f"{true / (true + false):.2f}" if true + false else "-"
        found = true + elsewhere
        recall = f"{found / (found + missed):.2f}" if found + missed else "-"
        print(f"{corpus:<32}{rule:<8}{true:>6}{false:>6}{counts['reported debatable']:>7}"
              f"{counts['reported unjudged']:>9}{elsewhere:>8}{missed:>7}{precision:>10}{recall:>8}")
    if unjudged_out is not None:
        with unjudged_out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["package", "version", "path", "line", "code", "kind", "loss", "message"])
            writer.writeheader()
            for f in unjudged:
                writer.writerow({k: f[k] for k in writer.fieldnames})
        print(f"\n{len(unjudged)} unjudged findings written to {unjudged_out}")


def _row_for(finding: dict, rows: list[dict], taken: Counter, key: tuple) -> dict | None:
    """The judgment row of ``finding`` among the rows with its key (see :func:`report`)."""
    # (only digits name a column: a few older rows have an unquoted comma in their reason)
    placed = [r for r in rows if isinstance(r.get("column"), str) and r["column"].strip().isdigit()]
    for r in placed:
        if int(r["column"]) == finding.get("column"):
            return r
    ordered = [r for r in rows if r not in placed]
    if not ordered:
        return None
    row = ordered[min(taken[key], len(ordered) - 1)]
    taken[key] += 1
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", type=Path, help="corpus roots (one sub-folder per source)")
    parser.add_argument("--judgments", type=Path, default=DEFAULT_JUDGMENTS)
    parser.add_argument("--fetch", type=Path, metavar="DIR", help="download and unpack the judged PyPI packages into DIR")
    parser.add_argument("--unjudged", type=Path, metavar="FILE", help="write the findings no row judges to FILE (CSV)")
    args = parser.parse_args(argv)
    if args.fetch:
        fetch(args.fetch, args.judgments)
        if not args.roots:
            return 0
    if not args.roots:
        parser.error("give at least one corpus root (or --fetch DIR)")
    findings, present = lint_roots(args.roots)
    report(findings, present, read_judgments(args.judgments), args.unjudged)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
