"""Lint one file's source: prefilter, parse, find losses, run rules, place and suppress findings.

    >>> from keras_bsguard.lint import lint_source
    >>> source = '''
    ... import tensorflow as tf
    ... def loss(y_true, y_pred):
    ...     return tf.reduce_sum(tf.square(y_true - y_pred))
    ... '''
    >>> [(f.code, f.row, f.column, f.loss) for f in lint_source(source)]
    [('BSG501', 4, 12, 'loss')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .finding import Finding
from .prefilter import may_contain_loss
from .lazy_re import compile_lazily

_NOQA = compile_lazily(rb"#\s*noqa(?::[ \t]*(?P<codes>[A-Za-z]+[0-9]*(?:[ \t]*,?[ \t]*[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = compile_lazily(rb"#\s*bsguard:\s*noqa\b", re.IGNORECASE)
_STACK_BYTES = 512 * 2**20  # reserved address space; only the pages a deep parse touches are used


@dataclass(frozen=True)
class LintSettings:
    """What to check: the active rule codes and extra loss-name patterns."""

    codes: frozenset[str] = field(default_factory=lambda: _default_codes())
    loss_patterns: tuple[str, ...] = ()


def _default_codes() -> frozenset[str]:
    from .rules import select_rules

    return frozenset(rule.code for rule in select_rules())


def lint_source(source: str | bytes, filename: str = "<string>", settings: LintSettings | None = None) -> list[Finding]:
    """Findings for one Python file's source, sorted by position.

    Never raises for any input: a file that does not decode or parse is one BSG000 finding, and
    so is a failure inside the analysis ("internal error: ...", a bug to report).
    """
    settings = settings or LintSettings()
    data = source.encode("utf-8") if isinstance(source, str) else source
    try:
        return _lint_python(data, filename, settings)
    except Exception as error:  # noqa: BLE001 - one file's failure must not end the run
        return internal_error(filename, error, settings)


def lint_data(data: bytes, filename: str, settings: LintSettings | None = None) -> list[Finding]:
    """Findings for a file's bytes: a notebook (by its ``.ipynb`` name) or Python source. Never raises."""
    from .notebook import is_notebook, lint_notebook

    settings = settings or LintSettings()
    if not is_notebook(filename):
        return lint_source(data, filename, settings)
    try:
        return lint_notebook(data, filename, settings)
    except Exception as error:  # noqa: BLE001
        return internal_error(filename, error, settings)


def needs_parse(data: bytes, filename: str, settings: LintSettings) -> bool:
    """Whether linting these bytes may parse them with libcst (the costly step); cheap."""
    from .notebook import is_notebook

    return is_notebook(filename) or may_contain_loss(data, settings.loss_patterns, filename)


def _lint_python(data: bytes, filename: str, settings: LintSettings) -> list[Finding]:
    if _FILE_NOQA.search(data):
        return []
    problem = decode_problem(data)
    if problem is not None:
        return syntax_finding(filename, *problem, settings, prefix="file does not decode: ")
    if not may_contain_loss(data, settings.loss_patterns, filename):
        problem = parse_problem(data)  # nothing to lint, but a file that does not parse is still BSG000
        return syntax_finding(filename, *problem, settings) if problem else []
    too_deep, tree = _beyond_cpython(data)  # at Python's default recursion limit, not the big stack
    if too_deep is not None:  # CPython cannot build this file either: say so at once
        return syntax_finding(filename, *too_deep, settings)
    if tree is not None and len(data) > PIECES_ABOVE_BYTES and _utf8(data):
        from .pieces import split_into_pieces

        pieces = split_into_pieces(data, tree)
        del tree  # CPython's tree of a large file is hundreds of MB: gone before libcst starts
        if len(pieces) > 1:
            findings = on_big_stack(_lint_pieces, pieces, filename, settings)
            if findings is not None:
                return _apply_noqa(findings, data)
        return on_big_stack(_parse_and_lint, data, filename, settings, None)
    top_lines = [statement.lineno for statement in tree.body] if tree is not None else None
    del tree
    return on_big_stack(_parse_and_lint, data, filename, settings, top_lines)


PIECES_ABOVE_BYTES = 1024 * 1024  # larger files are linted piece by piece (lint/pieces.py)


def _utf8(data: bytes) -> bool:
    """Pieces are copied line by line: only for UTF-8 text without a coding cookie to keep."""
    head = b"\n".join(data.split(b"\n", 2)[:2])
    return b"coding" not in head


def _lint_pieces(pieces, filename: str, settings: LintSettings) -> list[Finding] | None:
    """Findings of every piece, on the file's own lines; None when a piece does not parse
    (libcst and CPython disagree: the caller parses the whole file instead)."""
    import dataclasses

    import libcst as cst

    findings: list[Finding] = []
    seen: set[tuple] = set()
    for piece in pieces:
        try:
            module = cst.parse_module(piece.source)
        except cst.ParserSyntaxError:
            return None
        for finding in _lint_module(module, filename, settings, piece.source, None):
            moved = dataclasses.replace(
                finding, row=piece.original_line(finding.row), end_row=piece.original_line(finding.end_row),
                related=tuple((piece.original_line(line), column) for line, column in finding.related))
            key = (moved.code, moved.row, moved.column)
            if key not in seen:  # a constant copied into every piece is reported once
                seen.add(key)
                findings.append(moved)
        del module
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _parse_and_lint(data: bytes, filename: str, settings: LintSettings,
                    top_lines: list[int] | None = None) -> list[Finding]:
    import libcst as cst  # imported lazily: files without a loss never pay for it

    tab_shift: dict[int, tuple[int, int]] = {}
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as error:
        module = _parse_tab_indented(data, tab_shift)
        if module is None:
            return syntax_finding(filename, *_syntax_place(data, error), settings)
    findings = _lint_module(module, filename, settings, data, top_lines)
    if tab_shift:
        findings = [_columns_of_the_file(f, tab_shift) for f in findings]
    return _apply_noqa(findings, data)


def _columns_of_the_file(finding: Finding, tab_shift: dict[int, tuple[int, int]]) -> Finding:
    """A finding's columns on the file's own lines (a tab one column, as on lines libcst parsed as
    they are), from those of the tab-expanded text."""
    def back(row: int, column: int) -> int:
        expanded, extra = tab_shift.get(row, (0, 0))
        return column - extra if column > expanded else column
    return replace(finding, column=back(finding.row, finding.column),
                   end_column=back(finding.end_row, finding.end_column))


def _parse_tab_indented(data: bytes, tab_shift: dict | None = None):
    """libcst's module for a file that indents with tabs and spaces mixed, which CPython accepts
    (a tab moves to the next multiple of 8 columns) and libcst's tokenizer rejects ("no matching
    outer block for dedent"): the leading tabs are expanded the way CPython reads them, so every
    line keeps its number. None when the file has no such indentation or still does not parse.

        >>> _parse_tab_indented(b"def f(x):\\n    if x:\\n\\t    return 1\\n    return 2\\n") is not None
        True
    """
    import libcst as cst

    if b"\t" not in data or _python_syntax_error(data) is not None:
        return None
    lines = data.splitlines(keepends=True)
    expanded = []
    for row, line in enumerate(lines, start=1):
        body = line.lstrip(b" \t")
        indent = line[:len(line) - len(body)]
        if b"\t" in indent:
            wide = indent.expandtabs(8)
            if tab_shift is not None:  # row -> (expanded indent width, columns added)
                tab_shift[row] = (len(wide), len(wide) - len(indent))
            line = wide + body
        expanded.append(line)
    try:
        return cst.parse_module(b"".join(expanded))
    except cst.ParserSyntaxError:
        return None


def _beyond_cpython(data: bytes):
    """``(problem, tree)``: problem is (row, column, message) when the source nests deeper than
    CPython can parse; tree CPython's ``ast.Module`` (its top-level lines are reused for
    positions, and a large file is split along its statements), or None. A sum of many
    thousand terms (``RecursionError`` while building the AST) or more than 200 nested brackets.
    libcst would spend minutes and gigabytes on such a file before failing or succeeding; CPython's
    parser answers in milliseconds. Other syntax errors are left to libcst, which knows syntax newer
    than the running Python."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return None, ast.parse(data)
    except RecursionError:
        return (1, 1, "an expression is nested too deeply for Python to compile (CPython's parser gives up)"), None
    except SyntaxError as error:
        if "too many nested" in (error.msg or "") or "too complex" in (error.msg or ""):
            return (error.lineno or 1, error.offset or 1, error.msg), None
    except (ValueError, MemoryError):
        pass
    return None, None


_DEEP_RECURSION = 20_000


def on_big_stack(function, *args):
    """``function(*args)`` in a thread with a large stack, its exception re-raised here.

    libcst's native parser recurses once per nesting level of an expression: a long sum (a few
    thousand terms) overflows the main thread's stack (8 MB by default), which is a segmentation
    fault -- the whole run and every other file's findings lost -- not an exception.
    """
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = error

    try:
        previous = threading.stack_size(_STACK_BYTES)
    except (ValueError, RuntimeError):  # a platform that cannot size thread stacks
        return function(*args)
    import sys

    limit = sys.getrecursionlimit()
    try:
        thread = threading.Thread(target=run, name="bsguard-lint", daemon=True)
        # the big stack holds Python's recursion too (libcst renders deep expressions
        # recursively): a 1,000-term sum needs a few thousand frames, far below what 512 MB holds
        sys.setrecursionlimit(max(limit, _DEEP_RECURSION))
        thread.start()
    except RuntimeError:  # no thread (address space, limits): run here, as before
        sys.setrecursionlimit(limit)
        return function(*args)
    finally:
        threading.stack_size(previous)
    try:
        thread.join()
    finally:
        sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _lint_module(module, filename: str, settings: LintSettings, data: bytes | None = None,
                 top_lines: list[int] | None = None) -> list[Finding]:
    from .engine import analyze_loss, batch_literals
    from .losses import find_losses
    from .module_index import ModuleIndex
    from .rules import ALL_RULES
    from .summaries import HelperSummaries

    rules = [rule for rule in ALL_RULES if rule.code in settings.codes and rule.code != "BSG000"]
    if not rules:
        return []
    index = ModuleIndex.build(module)
    raw = []
    call_sites: dict = {}  # helpers are found after their callers, so callers fill this first
    batch_sizes = batch_literals(index)
    summaries = HelperSummaries(index, batch_sizes)
    for loss in find_losses(index, settings.loss_patterns, filename):
        for rule, node, message, related in analyze_loss(loss, index, rules, call_sites, batch_sizes, summaries):
            raw.append((rule, node, message, related, loss.name, loss.node, loss.root))
    if not raw:
        return []
    positions = _positions(module, data, raw, top_lines)
    findings = []
    roots = []
    seen = set()
    for rule, node, message, related, loss_name, _container, root in raw:
        span = positions.get(node)
        if span is None:
            continue
        key = (rule.code, span.start.line, span.start.column)
        if key in seen:  # the same node reached from two losses (a shared helper)
            continue
        seen.add(key)
        findings.append(Finding(rule.code, rule.name, rule.severity, message, filename,
                                span.start.line, span.start.column + 1, span.end.line, span.end.column + 1,
                                loss_name, related=_related_places(related, positions)))
        roots.append(root)
    findings = _one_cause_across_helpers(findings, roots)
    findings.sort(key=lambda f: f.sort_key)
    return findings


# causes a loss has once, however many of its helpers build them: the rule's code -> the words
# its message counts the further places with
_ONE_CAUSE_PER_LOSS = {"BSG601": "batch x batch intermediates"}


def _one_cause_across_helpers(findings: list[Finding], roots: list) -> list[Finding]:
    """One finding per loss for a cause its helpers share: the B x B distance matrix one helper
    builds and the B x B label masks two others build for the same triplet loss are one cause
    (the loss pairs the batch with itself), reported once, at its first place, the others named as
    related places, as within one function.

        >>> from keras_bsguard.lint.finding import Finding
        >>> def f(row, loss): return Finding("BSG601", "n", "warning", "B x B", "x.py", row, 1, row, 9, loss)
        >>> from types import SimpleNamespace
        >>> root = SimpleNamespace(name="loss")  # the loss both helpers serve, with no place of its own
        >>> [(g.row, g.related, g.message) for g in _one_cause_across_helpers([f(9, "mask"), f(3, "dist")], [root, root])]
        [(3, ((9, 1),), 'B x B (1 more batch x batch intermediates in this loss)')]
    """
    groups: dict[tuple[str, int], list[int]] = {}
    for position, (finding, root) in enumerate(zip(findings, roots)):
        if finding.code in _ONE_CAUSE_PER_LOSS:
            groups.setdefault((finding.code, id(root)), []).append(position)
    merged: set[int] = set()
    for (code, _root), positions in groups.items():
        if len({findings[p].loss for p in positions}) < 2:
            continue  # one function: its places are counted already
        # the earliest place (a helper's matrix, before the loss's masks of it or its eye(B))
        positions.sort(key=lambda p: (findings[p].row, findings[p].column))
        first = findings[positions[0]]
        words = _ONE_CAUSE_PER_LOSS[code]
        message, extra = _split_count(first.message, words)
        related = list(first.related)
        for p in positions[1:]:
            other = findings[p]
            _, other_extra = _split_count(other.message, words)
            extra += 1 + other_extra
            for place in ((other.row, other.column), *other.related):
                if place not in related and place != (first.row, first.column):
                    related.append(place)
            merged.add(p)
        findings[positions[0]] = replace(first, message=f"{message} ({extra} more {words} in this loss)",
                                         related=tuple(related))
    return [finding for position, finding in enumerate(findings) if position not in merged]


def _split_count(message: str, words: str) -> tuple[str, int]:
    """``("B x B", 2)`` for ``"B x B (2 more <words> in this loss)"``; ``(message, 0)`` without a count."""
    suffix = f" more {words} in this loss)"
    if message.endswith(suffix):
        head, _, count = message[:-len(suffix)].rpartition(" (")
        if count.isdigit():
            return head, int(count)
    return message, 0


def _related_places(nodes, positions) -> tuple[tuple[int, int], ...]:
    """Rows and columns of the related places: nodes of the same loss, or ``(container, node)``
    pairs for places elsewhere (the calls of a helper)."""
    places = []
    for node in nodes:
        span = positions.get(node[1] if isinstance(node, tuple) else node)
        place = (span.start.line, span.start.column + 1) if span is not None else None
        if place is not None and place not in places:  # a loop body is read twice: one place, once
            places.append(place)
    return tuple(places)


def _positions(module, data: bytes | None, raw, top_lines: list[int] | None = None) -> dict:
    """Node -> CodeRange for the reported nodes (and their related places), computed only for
    files with findings and only for the statements that hold them (positions are not free)."""
    from .positions import positions_of

    placed = []
    for _rule, node, _message, related, _name, container, _root in raw:
        placed.append((container, node))
        placed.extend(other if isinstance(other, tuple) else (container, other) for other in related)
    return positions_of(module, module.bytes if data is None else data, placed, top_lines)


def syntax_finding(filename, row, column, message, settings, prefix="file does not parse: ") -> list[Finding]:
    """One BSG000 finding (none when BSG000 is not selected)."""
    if "BSG000" not in settings.codes:
        return []
    return [Finding("BSG000", "syntax-error", "error", f"{prefix}{message}", filename,
                    max(row, 1), max(column, 1), max(row, 1), max(column, 1), None)]


def internal_error(filename: str, error: BaseException, settings: LintSettings) -> list[Finding]:
    """The BSG000 finding that stands for a failure of the linter itself on one file."""
    detail = _first_line(str(error)) if str(error).strip() else ""
    name = type(error).__name__
    text = f"{name}: {detail}" if detail else name
    return syntax_finding(filename, 1, 1, f"internal error: {text} (please report this)", settings, prefix="")


def decode_problem(data: bytes) -> tuple[int, int, str] | None:
    """(row, column, reason) when the bytes are not text in their declared encoding (PEP 263), else None.

        >>> decode_problem(b"x = 1\\ny = '\\xff'\\n")
        (2, 6, 'byte 0xff at line 2, column 6 is not valid UTF-8; save the file as UTF-8 or declare its encoding')
    """
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:  # an unknown or contradictory coding cookie, or bad bytes in the first two lines
        reason = _first_line(error.msg)
        if reason.startswith("encoding problem"):
            reason = "the UTF-8 byte-order mark contradicts the declared encoding"
        return _bad_byte(data, "utf-8") or (error.lineno or 1, 1, reason)
    return _bad_byte(data, encoding)


def _bad_byte(data: bytes, encoding: str) -> tuple[int, int, str] | None:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as error:
        start = error.start
        row = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode(encoding, "replace")) + 1
        name = "UTF-8" if encoding.startswith("utf-8") else f"{encoding} (the declared encoding)"
        return row, column, (f"byte 0x{data[start]:02x} at line {row}, column {column} is not valid {name}; "
                             "save the file as UTF-8 or declare its encoding")
    except LookupError:
        return 1, 1, f"unknown encoding {encoding!r}"
    return None


def parse_problem(data: bytes) -> tuple[int, int, str] | None:
    """(row, column, message) when the source does not parse, else None: CPython's compiler first
    (fast), libcst to confirm (it knows newer syntax than the running Python)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, "<bsguard>", "exec", dont_inherit=True)
        return None
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        pass
    import libcst as cst

    try:
        on_big_stack(cst.parse_module, data)
    except cst.ParserSyntaxError as error:
        return _syntax_place(data, error)
    return None


def _syntax_place(data: bytes, error) -> tuple[int, int, str]:
    return _python_syntax_error(data) or (error.raw_line, error.raw_column + 1, _first_line(error.message))


def _python_syntax_error(data: bytes):
    """CPython's own location and wording for a syntax error (clearer than the parser's)."""
    import ast

    try:
        ast.parse(data)
    except SyntaxError as error:
        return error.lineno or 1, error.offset or 1, error.msg
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None
    return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "syntax error"


def _apply_noqa(findings: list[Finding], data: bytes) -> list[Finding]:
    if not findings or b"noqa" not in data.lower():
        return findings
    lines = data.splitlines()
    kept = []
    for finding in findings:
        line = lines[finding.row - 1] if finding.row - 1 < len(lines) else b""
        if not _suppressed(line, finding.code):
            kept.append(finding)
    return kept


def _suppressed(line: bytes, code: str) -> bool:
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    if not codes:
        return True
    wanted = [c.strip().upper() for c in re.split(rb"[,\s]+", codes) if c.strip()]
    return any(code.encode().startswith(c) for c in wanted)
