"""keras_bsguard.lint: a static linter for custom Keras losses (libcst only, never imports keras).

    >>> from keras_bsguard.lint import lint_source
    >>> findings = lint_source("import numpy as np\\ndef loss(y_true, y_pred):\\n    return y_pred + np.random.rand()\\n")
    >>> [(f.code, f.row) for f in findings]
    [('BSG201', 3)]

``lint_data(data, "train.ipynb")`` takes a file's bytes and reads a notebook by its name. Neither
raises for any input: what cannot be linted is a BSG000 finding.
"""

from .api import LintSettings, lint_data, lint_source
from .finding import Finding

__all__ = ["Finding", "LintSettings", "lint_data", "lint_source"]
