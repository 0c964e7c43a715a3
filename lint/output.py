"""Render findings: ``full`` (source line and caret), ``concise``, ``json`` (ruff's shape),
``sarif`` (2.1.0, for GitHub code scanning) and ``github`` (workflow annotations).

    >>> from keras_bsguard.lint.finding import Finding
    >>> f = Finding("BSG701", "host-sync", "error", "`t.numpy()` copies", "l.py", 2, 12, 2, 21, "loss")
    >>> print(render([f], "concise", sources={}))
    l.py:2:12: BSG701 `t.numpy()` copies
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .finding import Finding

FORMATS = ("full", "concise", "json", "sarif", "github")
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(findings: list[Finding], output_format: str, sources: dict[str, list[str]] | None = None) -> str:
    if output_format == "json":
        return json.dumps([_json_item(f) for f in findings], indent=2)
    if output_format == "sarif":
        return json.dumps(_sarif(findings), indent=2)
    if output_format == "github":
        return "\n".join(_github_line(f) for f in findings)
    if output_format == "concise":
        return "\n".join(f"{f.filename}:{f.row}:{f.column}: {f.code} {f.message}" for f in findings)
    return "\n".join(_full(f, sources if sources is not None else {}) for f in findings)


def summary(findings: list[Finding]) -> str:
    if not findings:
        return "All checks passed!"
    by_severity = Counter(f.severity for f in findings)
    parts = [f"{by_severity[s]} {s}{'s' if by_severity[s] != 1 and s != 'info' else ''}"
             for s in ("error", "warning", "info") if by_severity[s]]
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun} ({', '.join(parts)})."


def statistics(findings: list[Finding], output_format: str) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    if output_format == "json":
        return json.dumps([{"code": code, "name": name, "count": count} for (code, name), count in rows], indent=2)
    width = max((len(str(count)) for count in counts.values()), default=1)
    return "\n".join(f"{count:>{width}}\t{code}\t{name}" for (code, name), count in rows)


# ---- full -------------------------------------------------------------------------------

def _full(finding: Finding, sources: dict[str, list[str]]) -> str:
    header = f"{finding.filename}:{finding.row}:{finding.column}: {finding.code} [{finding.severity}] {finding.message}"
    lines = _source_lines(finding.filename, sources)
    if not lines or finding.row > len(lines):
        return header + "\n"
    first = max(1, finding.row - 1)
    gutter = len(str(finding.row))
    out = [header, f"{' ' * gutter} |"]
    for number in range(first, finding.row + 1):
        out.append(f"{number:>{gutter}} | {lines[number - 1].rstrip()}")
    text = lines[finding.row - 1].rstrip()
    start = finding.column - 1
    end = finding.end_column - 1 if finding.end_row == finding.row else len(text)
    width = max(1, min(end, len(text)) - start)
    out.append(f"{' ' * gutter} | {' ' * start}{'^' * width} {finding.code}")
    if finding.loss:
        out.append(f"{' ' * gutter} = in loss `{finding.loss}`; see `bsguard rule {finding.code}`")
    return "\n".join(out) + "\n"


def _source_lines(filename: str, sources: dict[str, list[str]]) -> list[str]:
    if filename not in sources:
        try:
            sources[filename] = Path(filename).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            sources[filename] = []
    return sources[filename]


# ---- json (ruff's shape plus severity and loss) -----------------------------------------

def _json_item(finding: Finding) -> dict:
    return {
        "code": finding.code,
        "message": finding.message,
        "filename": finding.filename,
        "location": {"row": finding.row, "column": finding.column},
        "end_location": {"row": finding.end_row, "column": finding.end_column},
        "fix": finding.fix,
        "noqa_row": finding.row,
        "url": None,
        "severity": finding.severity,
        "loss": finding.loss,
        "name": finding.name,
        "related": [{"row": row, "column": column} for row, column in finding.related],
    }


# ---- github -----------------------------------------------------------------------------

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_line(finding: Finding) -> str:
    level = _GITHUB_LEVEL[finding.severity]
    properties = (f"file={_escape_property(finding.filename)},line={finding.row},col={finding.column},"
                  f"endLine={finding.end_row},endColumn={finding.end_column},title={finding.code}")
    return f"::{level} {properties}::{_escape_data(finding.message)}"


# ---- sarif ------------------------------------------------------------------------------

def _artifact(filename: str) -> dict:
    path = Path(filename)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": path.as_posix(), "uriBaseId": "%SRCROOT%"}


def _sarif(findings: list[Finding]) -> dict:
    from keras_bsguard import __version__

    from .rules import ALL_RULES

    rule_index = {rule.code: position for position, rule in enumerate(ALL_RULES)}
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.explanation().split("\n\n")[0]},
            "help": {"text": rule.explanation(), "markdown": rule.explanation()},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
            "properties": {"tags": ["keras", "loss"], "opt-in": rule.opt_in},
        }
        for rule in ALL_RULES
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": rule_index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": _artifact(f.filename),
                    "region": {"startLine": f.row, "startColumn": f.column,
                               "endLine": f.end_row, "endColumn": f.end_column},
                }
            }],
            "properties": {"loss": f.loss},
            **({"relatedLocations": [
                {"id": number, "message": {"text": "same root cause"},
                 "physicalLocation": {"artifactLocation": _artifact(f.filename),
                                      "region": {"startLine": row, "startColumn": column}}}
                for number, (row, column) in enumerate(f.related)
            ]} if f.related else {}),
        }
        for f in findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bsguard", "informationUri": "https://pypi.org/project/keras-bsguard/",
                                "version": __version__, "rules": rules}},
            "results": results,
        }],
    }
