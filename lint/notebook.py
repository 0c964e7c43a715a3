"""Jupyter notebooks (``.ipynb``): code cells joined into one Python source, magics blanked,
findings mapped back to (cell, row in cell).

Cells are numbered as the notebook shows them, from 1, markdown cells included (ruff's
convention). IPython syntax that is not Python -- line magics (``%pip``), shell escapes
(``!ls``, ``x = !ls``), help (``?obj``, ``obj?``) and cell magics (``%%bash``) -- is blanked line
for line, so rows keep their meaning; the body of a cell magic that runs Python (``%%time``) is
kept.

    >>> import json
    >>> cells = [{"cell_type": "markdown", "source": ["# Title"]},
    ...          {"cell_type": "code", "source": ["%pip install keras\\n", "x = 1\\n"]}]
    >>> book = read_notebook(json.dumps({"cells": cells, "nbformat": 4}).encode())
    >>> book.source, book.place(2)
    ('\\nx = 1\\n', (2, 2))
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field, replace

from .finding import Finding
from .text import LINE_BREAK, split_lines
from .lazy_re import compile_lazily

NOTEBOOK_SUFFIX = ".ipynb"
# cell magics whose body is Python: kept, only the %% line is blanked
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3"})
_ASSIGNED_ESCAPE = compile_lazily(r"^\s*[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]")


class NotebookError(ValueError):
    """The data is not a notebook we can read (reported as BSG000 at ``row``, ``column`` of the file)."""

    def __init__(self, message: str, row: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.row, self.column = row, column


@dataclass
class Notebook:
    """A notebook's Python code and the way back from a row of it to a cell."""

    source: str
    places: list[tuple[int, int]] = field(default_factory=list)  # source row - 1 -> (cell, row in cell)
    cells: dict[int, list[str]] = field(default_factory=dict)  # cell -> its original lines
    file_rows: dict[int, list[int]] = field(default_factory=dict)  # cell -> .ipynb line of each of its lines

    def place(self, row: int) -> tuple[int, int]:
        """(cell, row in cell) of a 1-based row of ``source``."""
        if 1 <= row <= len(self.places):
            return self.places[row - 1]
        return self.places[-1] if self.places else (1, row)

    def file_row(self, cell: int, row: int) -> int | None:
        """The line of the ``.ipynb`` file that holds a cell's row (what SARIF viewers can show)."""
        rows = self.file_rows.get(cell)
        return rows[row - 1] if rows and 1 <= row <= len(rows) else None


def is_notebook(filename: str) -> bool:
    """Whether a file name is a notebook's."""
    return filename.lower().endswith(NOTEBOOK_SUFFIX)


def read_notebook(data: bytes) -> Notebook:
    """Parse a notebook's JSON; raises NotebookError with a one-line reason."""
    try:
        document = json.loads(data)
    except UnicodeDecodeError as error:
        raise NotebookError(f"notebook is not valid UTF-8 text: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise NotebookError(f"notebook is not valid JSON: {error.msg} at line {error.lineno}, "
                            f"column {error.colno}", error.lineno, error.colno) from None
    except (ValueError, RecursionError) as error:
        raise NotebookError(f"notebook is not valid JSON: {error}") from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("not a Jupyter notebook: no list of cells (nbformat 4 expected)")
    book = Notebook(source="")
    if not _is_python(document):
        return book
    text = _text(data)
    locator = _SourceLocator(text) if text is not None else None
    pieces: list[str] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a Jupyter notebook: cell {number} is not an object")
        raw = cell.get("source", "")
        lines = _cell_lines(raw, number)
        rows = locator.rows(raw, len(lines)) if locator is not None else None
        if cell.get("cell_type") != "code":
            continue
        book.cells[number] = lines
        if rows is not None:
            book.file_rows[number] = rows
        for row, line in enumerate(blank_magics(lines), start=1):
            pieces.append(line + "\n")
            book.places.append((number, row))
    book.source = "".join(pieces)
    return book


def _is_python(document: dict) -> bool:
    metadata = document.get("metadata")
    info = metadata.get("language_info") if isinstance(metadata, dict) else None
    name = info.get("name") if isinstance(info, dict) else None
    return not isinstance(name, str) or name.lower() in ("python", "python3", "ipython", "")


def _cell_lines(raw, number: int) -> list[str]:
    if isinstance(raw, list) and all(isinstance(part, str) for part in raw):
        raw = "".join(raw)
    if not isinstance(raw, str):
        raise NotebookError(f"not a Jupyter notebook: cell {number}'s source is not text")
    return split_lines(raw)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# ---- IPython syntax ----------------------------------------------------------------------

def blank_magics(lines: list[str]) -> list[str]:
    """The cell's lines with IPython-only lines blanked (an indented one becomes ``pass``).

        >>> blank_magics(["!ls", "x = 1", "if x:", "    %time f()", "y = !pwd", "x?"])
        ['', 'x = 1', 'if x:', '    pass', '', '']
        >>> blank_magics(["%%bash", "echo hi"]), blank_magics(["%%time", "f()"])
        (['', ''], ['', 'f()'])
    """
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return [""] * len(lines)
        lines = ["", *lines[1:]]
    out = []
    for line, starts in zip(lines, _statement_starts(lines)):
        if starts and _is_ipython_line(line):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}pass" if indent else "")
        else:
            out.append(line)
    return out


def _is_ipython_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return False
    return (stripped[0] in "%!?" or (stripped.endswith("?") and "#" not in stripped)
            or _ASSIGNED_ESCAPE.match(stripped) is not None)


def _statement_starts(lines: list[str]) -> list[bool]:
    """For each line, whether it begins a new statement (not inside brackets, a string or a continuation)."""
    starts = []
    depth, quote, continued = 0, None, False
    for line in lines:
        start = depth == 0 and quote is None and not continued
        starts.append(start)
        if start and _is_ipython_line(line):
            continue
        depth, quote = _scan(line, depth, quote)
        continued = quote is None and line.rstrip().endswith("\\")
    return starts


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Bracket depth and open triple quote after one line (comments and strings skipped)."""
    position, length = 0, len(line)
    while position < length:
        if quote is not None:
            end = _string_end(line, position, quote)
            if end < 0:
                return depth, quote
            position, quote = end, None
            continue
        char = line[position]
        if char == "#":
            break
        if char in "'\"":
            quote = line[position:position + 3] if line.startswith(char * 3, position) else char
            position += len(quote)
            if len(quote) == 1:  # a one-line string: closes on this line or never
                end = _string_end(line, position, quote)
                position, quote = (end, None) if end >= 0 else (length, None)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        position += 1
    return depth, quote


def _string_end(line: str, position: int, quote: str) -> int:
    while position < len(line):
        if line[position] == "\\":
            position += 2
            continue
        if line.startswith(quote, position):
            return position + len(quote)
        position += 1
    return -1


# ---- where a cell's lines sit in the .ipynb file ------------------------------------------

class _SourceLocator:
    """Finds each cell's ``"source"`` value in the raw JSON, in order, to give its lines' file rows."""

    _KEY = re.compile(r'"source"\s*:\s*')

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.newlines = [match.start() for match in re.finditer("\n", text)]
        self.decoder = json.JSONDecoder()

    def _row(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def rows(self, raw, count: int) -> list[int] | None:
        """The file rows of the next ``"source"`` value equal to ``raw`` (``count`` lines), or None."""
        for match in self._KEY.finditer(self.text, self.position):
            found = self._elements(match.end())
            if found is not None and [value for value, _ in found[0]] == (raw if isinstance(raw, list) else [raw]):
                self.position = found[1]
                return self._line_rows(found[0], count)
        return None

    def _elements(self, start: int):
        text, decoder = self.text, self.decoder
        try:
            if text.startswith("[", start):
                items, position = [], start + 1
                while True:
                    while text[position] in " \t\r\n,":
                        position += 1
                    if text[position] == "]":
                        return items, position + 1
                    value, end = decoder.raw_decode(text, position)
                    items.append((value, position))
                    position = end
            value, end = decoder.raw_decode(text, start)
            return [(value, start)], end
        except (ValueError, IndexError):
            return None

    def _line_rows(self, elements, count: int) -> list[int]:
        rows: list[int] = []
        at_line_start = True
        for value, offset in elements:
            if not isinstance(value, str) or not value:
                continue
            ends_line = value.endswith(("\n", "\r"))
            starts = len(LINE_BREAK.findall(value)) - ends_line + at_line_start
            rows.extend([self._row(offset)] * starts)
            at_line_start = ends_line
        return (rows + [rows[-1] if rows else 1] * count)[:count]


# ---- findings -----------------------------------------------------------------------------

def lint_notebook(data: bytes, filename: str, settings) -> list[Finding]:
    """Findings for a notebook's bytes, each placed at (cell, row in cell)."""
    from .api import lint_source, syntax_finding

    try:
        book = read_notebook(data)
    except NotebookError as error:
        return syntax_finding(filename, error.row, error.column, str(error), settings, prefix="")
    if not book.source.strip():
        return []
    return [to_cell(finding, book) for finding in lint_source(book.source, filename, settings)]


def to_cell(finding: Finding, book: Notebook) -> Finding:
    """A finding on the joined source, moved to its cell."""
    cell, row = book.place(finding.row)
    end_cell, end_row = book.place(finding.end_row)
    end_column = finding.end_column
    if end_cell != cell:  # a span that runs past its cell stops at the end of the line
        end_row = row
        lines = book.cells.get(cell, [])
        end_column = len(lines[row - 1]) + 1 if row <= len(lines) else finding.column
    related = tuple((book.place(r)[1], c) for r, c in finding.related if book.place(r)[0] == cell)
    return replace(finding, row=row, end_row=end_row, end_column=end_column, cell=cell, related=related)
