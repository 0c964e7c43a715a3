"""The kinds of synthetic targets and predictions ``bsguard probe`` can make (no NumPy needed).

Example::

    >>> "sparse" in TARGETS, "logits" in PREDICTIONS
    (True, True)
"""

TARGETS = ("regression", "binary", "onehot", "sparse")
PREDICTIONS = ("values", "probabilities", "logits")
