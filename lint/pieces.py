"""Split a large file into independent pieces, so that libcst never holds the whole file at once.

libcst's tree takes about 500 times the source's size in memory (2.3 GB for a 4 MB file), most of
it for code that no loss touches. A file's losses only ever look at what they reach by name: their
helpers, the classes they derive from, the module-level values and calls that mention them. So
the file's top-level statements are grouped by the names they share (CPython's parser, which is
fast and light, says which statement defines and uses which name), imports and plain constant
assignments are copied into every piece as context, and the groups are packed in file order into
pieces of about :data:`PIECE_BYTES`. Each piece is parsed and linted on its own, and its findings
are moved back to the lines they came from.

    >>> import ast
    >>> source = b"import tensorflow as tf\\nEPS = 1e-7\\n\\ndef helper(x):\\n    return x\\n\\n" \\
    ...          b"def loss(y_true, y_pred):\\n    return helper(y_pred)\\n\\ndef other():\\n    return 1\\n"
    >>> pieces = split_into_pieces(source, ast.parse(source), piece_bytes=1)
    >>> [piece.source.decode().count("def ") for piece in pieces]
    [2, 1]
    >>> pieces[1].original_line(3)  # the piece's ``def other():`` is the file's line 10
    10
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

PIECE_BYTES = 256 * 1024  # source bytes per piece: large enough that parse overhead stays small
CONTEXT_BYTES = 128 * 1024  # constants copied into every piece beyond this are grouped instead


@dataclass
class Piece:
    """One independently parsable slice of a file: its source and where its lines came from."""

    source: bytes
    # (first line in the piece, first line in the file, number of lines), in piece order
    segments: list[tuple[int, int, int]] = field(default_factory=list)

    def original_line(self, line: int) -> int:
        """The file's line number of the piece's ``line`` (1-based)."""
        for start, original, count in self.segments:
            if start <= line < start + count:
                return original + (line - start)
        return line


@dataclass
class _Unit:
    first: int  # 1-based, inclusive
    last: int
    statements: list = field(default_factory=list)


def split_into_pieces(data: bytes, tree: ast.Module, piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """The pieces of ``data`` (whose CPython tree is ``tree``), in file order."""
    lines = data.split(b"\n")
    units = _units(tree)
    if not units:
        return [Piece(data, [(1, 1, len(lines))])]
    context = [i for i, unit in enumerate(units) if _is_context(unit, constants=True)]
    if sum(_size(units[i], lines) for i in context) > CONTEXT_BYTES:
        context = [i for i, unit in enumerate(units) if _is_context(unit, constants=False)]
    groups = _groups(units, set(context))
    context_units = [units[i] for i in context]
    pieces: list[Piece] = []
    batch: list[int] = []
    size = 0
    for group in groups:
        batch.extend(group)
        size += sum(_size(units[i], lines) for i in group)
        if size >= piece_bytes:
            pieces.append(_piece(context_units, [units[i] for i in sorted(batch)], lines))
            batch, size = [], 0
    if batch or not pieces:
        pieces.append(_piece(context_units, [units[i] for i in sorted(batch)], lines))
    return pieces


def _units(tree: ast.Module) -> list[_Unit]:
    """Top-level statements, those that share a line (``import a; import b``) merged."""
    units: list[_Unit] = []
    for statement in tree.body:
        first = min([statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", ()))])
        last = statement.end_lineno or statement.lineno
        if units and first <= units[-1].last:
            units[-1].last = max(units[-1].last, last)
            units[-1].statements.append(statement)
        else:
            units.append(_Unit(first, last, [statement]))
    return units


def _is_context(unit: _Unit, constants: bool) -> bool:
    """Imports, and (with ``constants``) one-line assignments of plain values (``EPS = 1e-7``):
    cheap to copy into every piece, and read by losses everywhere in the file."""
    for statement in unit.statements:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if constants and isinstance(statement, (ast.Assign, ast.AnnAssign)) and unit.first == unit.last \
                and statement.value is not None and _plain_value(statement.value):
            continue
        return False
    return True


def _plain_value(node: ast.AST) -> bool:
    """No call, lambda or comprehension inside: a value, not code that could hold a loss."""
    return not any(isinstance(n, (ast.Call, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                  ast.GeneratorExp, ast.NamedExpr)) for n in ast.walk(node))


def _groups(units: list[_Unit], context: set[int]) -> list[list[int]]:
    """Units joined by the names one defines and another uses, in file order of their first unit."""
    parent = list(range(len(units)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    defined_by: dict[str, list[int]] = {}
    for index, unit in enumerate(units):
        if index not in context:
            for name in _defined_names(unit):
                defined_by.setdefault(name, []).append(index)
    for index, unit in enumerate(units):
        if index in context:
            continue
        for name in _used_names(unit):
            for other in defined_by.get(name, ()):
                a, b = find(index), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for index in range(len(units)):
        if index not in context:
            groups.setdefault(find(index), []).append(index)
    return [groups[root] for root in sorted(groups)]


def _defined_names(unit: _Unit) -> set[str]:
    names: set[str] = set()
    for statement in unit.statements:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)  # defined under a top-level if/try
    return names


def _used_names(unit: _Unit) -> set[str]:
    names: set[str] = set()
    for statement in unit.statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                names.add(node.attr)  # MyLoss.helper, module.func: a same-file name, perhaps
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)  # compile(loss="my_loss") and get_custom_objects()["my_loss"]
    return names


def _size(unit: _Unit, lines: list[bytes]) -> int:
    return sum(len(line) + 1 for line in lines[unit.first - 1:unit.last])


def _piece(context: list[_Unit], units: list[_Unit], lines: list[bytes]) -> Piece:
    parts: list[bytes] = []
    segments: list[tuple[int, int, int]] = []
    line = 1
    for unit in sorted([*context, *units], key=lambda u: u.first):
        chunk = lines[unit.first - 1:unit.last]
        parts.extend(chunk)
        segments.append((line, unit.first, len(chunk)))
        line += len(chunk)
    return Piece(b"\n".join(parts) + b"\n", segments)
