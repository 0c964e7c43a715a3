"""Every ``>>>`` example in the linter's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import keras_bsguard.lint as lint_package

MODULES = sorted(
    ["keras_bsguard.lint"]
    + [f"keras_bsguard.lint.{m.name}" for m in pkgutil.iter_modules(lint_package.__path__)]
    + [f"keras_bsguard.lint.rules.{m.name}" for m in pkgutil.iter_modules(importlib.import_module("keras_bsguard.lint.rules").__path__)]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_exist():
    attempted = sum(doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).attempted
                    for name in MODULES)
    assert attempted >= 20
