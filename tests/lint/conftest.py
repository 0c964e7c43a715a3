"""Shared helpers for the linter tests: fixtures are small real loss files with
``# EXPECT: CODE`` markers on the lines where a finding must be reported."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"#\s*EXPECT:\s*((?:BSG\d{3}\s*)+)")
_SELECT = re.compile(r"#\s*bsguard-select:\s*([A-Z0-9, ]+)")


def expected_findings(source: str) -> Counter:
    expected: Counter = Counter()
    for row, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for code in match.group(1).split():
                expected[(row, code)] += 1
    return expected


def extra_selection(source: str) -> list[str]:
    match = _SELECT.search(source)
    return [c.strip() for c in match.group(1).split(",") if c.strip()] if match else []
