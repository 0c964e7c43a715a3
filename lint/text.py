"""Text helpers shared by the notebook reader and the output: Python's line splitting, and
source lines made safe and aligned for a terminal.

    >>> display_line("\\tx = '\\x1b[2J'")
    "        x = '\\\\x1b[2J'"
"""

from __future__ import annotations

import unicodedata
from .lazy_re import compile_lazily

LINE_BREAK = compile_lazily(r"\r\n|\r|\n")  # Python's line ends (str.splitlines also splits on \f, \v ...)
TAB_SIZE = 8
# bidirectional overrides and isolates ("trojan source") and the Unicode line/paragraph separators
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\u200e\u200f")


def split_lines(text: str) -> list[str]:
    """Lines as Python counts them: only \\n, \\r\\n and \\r end a line.

        >>> split_lines("a\\fb\\r\\nc\\n")
        ['a\\x0cb', 'c']
    """
    lines = LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _escaped(char: str) -> str | None:
    """The escape for a character a terminal would act on or hide, else None."""
    if char in _INVISIBLE or unicodedata.category(char) == "Cc":
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return None


def _shown(char: str, column: int) -> str:
    """How one character is drawn at a display column: tabs expanded, control characters escaped."""
    if char == "\t":
        return " " * (TAB_SIZE - column % TAB_SIZE)
    return _escaped(char) or char


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def display_line(line: str) -> str:
    """A source line as it is safe to print: tabs expanded, control characters shown as escapes."""
    if line.isascii() and line.isprintable():
        return line
    return display_with_columns(line)[0]


def display_with_columns(line: str) -> tuple[str, list[int]]:
    """The displayed line and, for each character index (and one past the end), its display column."""
    out: list[str] = []
    columns: list[int] = []
    column = 0
    for char in line:
        columns.append(column)
        shown = _shown(char, column)
        out.append(shown)
        column += len(shown) if shown != char else _width(char)
    columns.append(column)
    return "".join(out), columns


def caret_span(line: str, start: int, end: int) -> tuple[int, int]:
    """Display offset and width of the characters ``line[start:end]`` (0-based, end exclusive)."""
    _, columns = display_with_columns(line)
    start = min(max(start, 0), len(line))
    end = min(max(end, start), len(line))
    return columns[start], max(1, columns[end] - columns[start])


def escape_text(text: str) -> str:
    """A message or file name with control characters escaped (no tab expansion).

        >>> escape_text("a\\x1b]0;x\\x07 b")
        'a\\\\x1b]0;x\\\\x07 b'
    """
    if text.isprintable():
        return text
    return "".join(_escaped(char) or char for char in text)
