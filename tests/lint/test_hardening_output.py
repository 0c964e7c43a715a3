"""Issue 10 in the output: echoed source is safe for a terminal and carets line up under tabs and
wide characters; rule explanations render as plain text or Markdown."""

from __future__ import annotations

import re

import pytest

from keras_bsguard.lint.finding import Finding
from keras_bsguard.lint.output import render
from keras_bsguard.lint.rule_text import markdown, plain
from keras_bsguard.lint.rules import ALL_RULES
from keras_bsguard.lint.text import caret_span, display_line, escape_text, split_lines


def _finding(row, column, end_column, message="msg", filename="l.py"):
    return Finding("BSG501", "batch-sum", "warning", message, filename, row, column, row, end_column, "loss")


def _snippet(line: str, column: int, end_column: int) -> tuple[str, str]:
    out = render([_finding(1, column, end_column)], "full", sources={"l.py": line + "\n"}).splitlines()
    return out[2][len("1 | "):], out[3][len("  | "):]


@pytest.mark.parametrize("line, target", [
    ("\treturn tf.reduce_sum(y)", "tf.reduce_sum(y)"),
    ("x = '\t'; y = tf.reduce_sum(y)", "tf.reduce_sum(y)"),
    ("s = '日本'; y = tf.reduce_sum(y)", "tf.reduce_sum(y)"),
    ("s = '\x1b[2J'; y = tf.reduce_sum(y)", "tf.reduce_sum(y)"),
])
def test_carets_sit_under_the_reported_code(line, target):
    column = line.index(target) + 1
    shown, carets = _snippet(line, column, column + len(target))
    assert "\t" not in shown and "\x1b" not in shown
    wide = sum(1 for char in shown[:shown.index(target)] if char in "日本")
    assert carets.index("^") == shown.index(target) + wide
    assert carets.count("^") == len(target)


def test_messages_and_file_names_are_escaped_in_text_output():
    finding = _finding(1, 1, 2, message="`\x1b]0;pwned\x07`", filename="a\x1bb.py")
    for output_format in ("full", "concise", "github"):
        text = render([finding], output_format, sources={"a\x1bb.py": "x\n"})
        assert "\x1b" not in text and "\x07" not in text and "\\x1b]0;pwned\\x07" in text


def test_display_helpers():
    assert display_line("\u202eevil") == "\\u202eevil"  # a bidi override cannot reorder the line
    assert caret_span("\tab", 1, 3) == (8, 2)
    assert escape_text("plain") == "plain"
    assert split_lines("a\x0cb\r\nc\rd") == ["a\x0cb", "c", "d"]  # form feeds do not end lines


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_every_explanation_renders_as_plain_text_and_markdown(rule):
    text = plain(rule.explanation())
    assert "``" not in text and "**" not in text and not re.search(r"::\s*$", text, re.MULTILINE)
    md = markdown(rule.explanation())
    assert "``" not in md.replace("```", "") and md.count("```") % 2 == 0
    if "Before::" in rule.explanation():
        assert "Before:\n\n```python\n" in md and "\nBefore:\n\n    " in "\n" + text
