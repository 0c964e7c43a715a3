"""Render findings: ``full`` (source line and caret), ``concise``, ``json`` (ruff's shape),
``sarif`` (2.1.0, for GitHub code scanning) and ``github`` (workflow annotations).

    >>> from keras_bsguard.lint.finding import Finding
    >>> f = Finding("BSG701", "host-sync", "error", "`t.numpy()` copies", "l.py", 2, 12, 2, 21, "loss")
    >>> print(render([f], "concise", sources={}))
    l.py:2:12: BSG701 `t.numpy()` copies

A notebook's findings name their cell: ``train.ipynb:cell 3:4:12: ...``, a ``cell`` field in JSON;
in SARIF and GitHub annotations (which show the ``.ipynb`` file itself) the line is the line of the
notebook's JSON that holds the cell's source line, and the cell, row and column are in the message
and SARIF properties. Text output escapes control characters and expands tabs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .finding import Finding
from .notebook import Notebook, NotebookError, is_notebook, read_notebook
from .text import caret_span, display_line, escape_text, split_lines

FORMATS = ("full", "concise", "json", "sarif", "github")
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(findings: list[Finding], output_format: str, sources: dict | None = None) -> str:
    """The findings in one output format. ``sources`` maps file names to their content (bytes, text
    or a list of lines) where it is not on disk (stdin); other files are read when needed."""
    store = _Sources(sources)
    if output_format == "json":
        return json.dumps([_json_item(f) for f in findings], indent=2)
    if output_format == "sarif":
        return json.dumps(_sarif(findings, store), indent=2)
    if output_format == "github":
        return "\n".join(_github_line(f, store) for f in findings)
    if output_format == "concise":
        return "\n".join(f"{_place(f)}: {f.code} {escape_text(f.message)}" for f in findings)
    return "\n".join(_full(f, store) for f in findings)


def _place(finding: Finding) -> str:
    """``path:row:col``, or ``path:cell N:row:col`` in a notebook (ruff's form)."""
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{escape_text(finding.filename)}:{cell}{finding.row}:{finding.column}"


class _Sources:
    """Source lines of the reported files, read once each (a notebook's per cell)."""

    def __init__(self, given: dict | None) -> None:
        self.given = given if given is not None else {}
        self.texts: dict[str, list[str]] = {}
        self.notebooks: dict[str, Notebook | None] = {}

    def _data(self, filename: str):
        if filename in self.given:
            return self.given[filename]
        try:
            return Path(filename).read_bytes()
        except OSError:
            return b""

    def lines(self, finding: Finding) -> list[str]:
        """The lines a finding's row counts in: its file's, or its notebook cell's."""
        if finding.cell is not None:
            book = self.notebook(finding.filename)
            return book.cells.get(finding.cell, []) if book else []
        if finding.filename not in self.texts:
            data = self._data(finding.filename)
            if isinstance(data, list):
                self.texts[finding.filename] = data
            else:
                text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
                self.texts[finding.filename] = split_lines(text)
        return self.texts[finding.filename]

    def notebook(self, filename: str) -> Notebook | None:
        """The notebook read from a file (None when it cannot be read)."""
        if filename not in self.notebooks:
            data = self._data(filename)
            try:
                self.notebooks[filename] = read_notebook(data.encode() if isinstance(data, str) else bytes(data))
            except (NotebookError, TypeError):
                self.notebooks[filename] = None
        return self.notebooks[filename]

    def file_row(self, finding: Finding, row: int) -> int:
        """The row to show for a finding in a viewer of the raw file (a notebook's JSON line)."""
        if finding.cell is None:
            return row
        book = self.notebook(finding.filename) if is_notebook(finding.filename) else None
        return (book.file_row(finding.cell, row) if book else None) or 1


def summary(findings: list[Finding]) -> str:
    """The closing line: "All checks passed!" or the count per severity."""
    if not findings:
        return "All checks passed!"
    by_severity = Counter(f.severity for f in findings)
    parts = [f"{by_severity[s]} {s}{'s' if by_severity[s] != 1 and s != 'info' else ''}"
             for s in ("error", "warning", "info") if by_severity[s]]
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun} ({', '.join(parts)})."


def statistics(findings: list[Finding], output_format: str) -> str:
    """A count per rule (``--statistics``), as text or JSON."""
    counts = Counter((f.code, f.name) for f in findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    if output_format == "json":
        return json.dumps([{"code": code, "name": name, "count": count} for (code, name), count in rows], indent=2)
    width = max((len(str(count)) for count in counts.values()), default=1)
    return "\n".join(f"{count:>{width}}\t{code}\t{name}" for (code, name), count in rows)


# ---- full -------------------------------------------------------------------------------

def _full(finding: Finding, sources: _Sources) -> str:
    header = f"{_place(finding)}: {finding.code} [{finding.severity}] {escape_text(finding.message)}"
    lines = sources.lines(finding)
    if not lines or finding.row > len(lines):
        return header + "\n"
    first = max(1, finding.row - 1)
    gutter = len(str(finding.row))
    out = [header, f"{' ' * gutter} |"]
    for number in range(first, finding.row + 1):
        out.append(f"{number:>{gutter}} | {display_line(lines[number - 1].rstrip())}")
    text = lines[finding.row - 1].rstrip()
    end = finding.end_column - 1 if finding.end_row == finding.row else len(text)
    offset, width = caret_span(text, finding.column - 1, end)
    out.append(f"{' ' * gutter} | {' ' * offset}{'^' * width} {finding.code}")
    if finding.loss:
        out.append(f"{' ' * gutter} = in loss `{finding.loss}`; see `bsguard rule {finding.code}`")
    return "\n".join(out) + "\n"


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
        "cell": finding.cell,
    }


# ---- github -----------------------------------------------------------------------------

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_line(finding: Finding, sources: _Sources) -> str:
    level = _GITHUB_LEVEL[finding.severity]
    if finding.cell is None:
        where = f"line={finding.row},col={finding.column},endLine={finding.end_row},endColumn={finding.end_column}"
        message = finding.message
    else:  # the annotation sits on the notebook's JSON line; the cell's own place goes in the message
        where = f"line={sources.file_row(finding, finding.row)}"
        message = f"cell {finding.cell}, line {finding.row}, column {finding.column}: {finding.message}"
    properties = f"file={_escape_property(escape_text(finding.filename))},{where},title={finding.code}"
    return f"::{level} {properties}::{_escape_data(escape_text(message))}"


# ---- sarif ------------------------------------------------------------------------------

def _artifact(filename: str) -> dict:
    path = Path(filename)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": path.as_posix(), "uriBaseId": "%SRCROOT%"}


def _sarif_region(finding: Finding, sources: _Sources) -> dict:
    if finding.cell is None:
        return {"startLine": finding.row, "startColumn": finding.column,
                "endLine": finding.end_row, "endColumn": finding.end_column}
    start = sources.file_row(finding, finding.row)
    return {"startLine": start, "endLine": max(start, sources.file_row(finding, finding.end_row))}


def _sarif_result(f: Finding, rule_index: dict, sources: _Sources) -> dict:
    message = f.message if f.cell is None else f"cell {f.cell}, line {f.row}, column {f.column}: {f.message}"
    properties = {"loss": f.loss}
    if f.cell is not None:
        properties.update(cell=f.cell, cellRow=f.row, cellColumn=f.column)
    result = {
        "ruleId": f.code,
        "ruleIndex": rule_index[f.code],
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(f.filename),
                                            "region": _sarif_region(f, sources)}}],
        "properties": properties,
    }
    if f.related:
        result["relatedLocations"] = [
            {"id": number, "message": {"text": "same root cause (or a call of the helper it is in)"},
             "physicalLocation": {"artifactLocation": _artifact(f.filename),
                                  "region": ({"startLine": row, "startColumn": column} if f.cell is None
                                             else {"startLine": sources.file_row(f, row)})}}
            for number, (row, column) in enumerate(f.related)
        ]
    return result


def _sarif(findings: list[Finding], sources: _Sources) -> dict:
    from keras_bsguard import __version__

    from .rule_text import markdown, plain
    from .rules import ALL_RULES

    rule_index = {rule.code: position for position, rule in enumerate(ALL_RULES)}
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": plain(rule.explanation()).split("\n\n")[0]},
            "help": {"text": plain(rule.explanation()), "markdown": markdown(rule.explanation())},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
            "properties": {"tags": ["keras", "loss"], "opt-in": rule.opt_in},
        }
        for rule in ALL_RULES
    ]
    results = [_sarif_result(f, rule_index, sources) for f in findings]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bsguard", "informationUri": "https://pypi.org/project/keras-bsguard/",
                                "version": __version__, "rules": rules}},
            "results": results,
        }],
    }
