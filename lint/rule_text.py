"""A rule's explanation (its docstring, light reStructuredText) as plain text for the terminal or
as Markdown for JSON and SARIF.

    >>> doc = "A ``log`` of **zero**.\\n\\nBefore::\\n\\n    log(x)\\n"
    >>> print(plain(doc))
    A log of zero.
    <BLANKLINE>
    Before:
    <BLANKLINE>
        log(x)
    >>> print(markdown(doc))
    A `log` of **zero**.
    <BLANKLINE>
    Before:
    <BLANKLINE>
    ```python
    log(x)
    ```
"""

from __future__ import annotations

import textwrap
from .lazy_re import compile_lazily

_LITERAL = compile_lazily(r"``(.+?)``")
_STRONG = compile_lazily(r"\*\*(.+?)\*\*")
_EMPHASIS = compile_lazily(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def plain(text: str) -> str:
    """The explanation without markup; example code stays indented by four spaces."""
    out = []
    for kind, piece in _pieces(text):
        if kind == "code":
            out.append(textwrap.indent(piece, "    "))
        else:
            out.append(_unmarked(piece))
    return "\n\n".join(out).strip("\n")


def _unmarked(prose: str) -> str:
    """Prose without its markup; a ``*`` inside an inline literal is code, not emphasis.

        >>> _unmarked("``self.beta *= d`` and ``m * h`` are *kept*")
        'self.beta *= d and m * h are kept'
    """
    parts = _LITERAL.split(prose)  # prose, literal, prose, literal, ...
    return "".join(part if position % 2 else _EMPHASIS.sub(r"\1", _STRONG.sub(r"\1", part))
                   for position, part in enumerate(parts))


def markdown(text: str) -> str:
    """The explanation as Markdown: inline literals in backticks, examples in fenced blocks."""
    out = []
    for kind, piece in _pieces(text):
        out.append(f"```python\n{piece}\n```" if kind == "code" else _LITERAL.sub(r"`\1`", piece))
    return "\n\n".join(out).strip("\n")


def _pieces(text: str) -> list[tuple[str, str]]:
    """("prose", text) and ("code", dedented example) pieces, in order; ``Intro::`` becomes ``Intro:``."""
    pieces: list[tuple[str, str]] = []
    prose: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.rstrip().endswith("::"):
            prose.append(line)
            continue
        prose.append(line.rstrip()[:-1])
        block = []
        while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
            block.append(lines[index])
            index += 1
        if prose:
            pieces.append(("prose", "\n".join(prose).strip("\n")))
            prose = []
        pieces.append(("code", textwrap.dedent("\n".join(block)).strip("\n")))
    if prose:
        pieces.append(("prose", "\n".join(prose).strip("\n")))
    return [(kind, piece) for kind, piece in pieces if piece]
