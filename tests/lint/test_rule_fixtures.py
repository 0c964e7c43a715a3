"""Every rule fires exactly where its positive fixture says, and never on its negative fixture."""

from __future__ import annotations

from collections import Counter

import pytest

from keras_bsguard.lint import LintSettings, lint_source
from keras_bsguard.lint.rules import ALL_RULES, select_rules

from .conftest import FIXTURES, expected_findings, extra_selection

FIXTURE_FILES = sorted(FIXTURES.glob("bsg*.py"))


def _lint_fixture(path):
    source = path.read_text()
    rules = select_rules(None, extend_select=extra_selection(source))
    settings = LintSettings(codes=frozenset(r.code for r in rules))
    return source, lint_source(source, str(path), settings)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_fixture_findings_match_expect_markers(path):
    source, findings = _lint_fixture(path)
    found = Counter((f.row, f.code) for f in findings)
    assert found == expected_findings(source), "\n".join(
        f"{f.row}:{f.column} {f.code} {f.message}" for f in findings
    )


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.code != "BSG000"], ids=lambda r: r.code)
def test_every_rule_has_a_positive_and_a_negative_fixture(rule):
    positive = FIXTURES / f"{rule.code.lower()}_positive.py"
    negative = FIXTURES / f"{rule.code.lower()}_negative.py"
    assert positive.exists() and negative.exists()
    assert any(code == rule.code for _row, code in expected_findings(positive.read_text()))
    assert not expected_findings(negative.read_text())
