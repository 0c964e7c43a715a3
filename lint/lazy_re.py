"""Regular expressions compiled on first use.

The linter's modules hold about 120 patterns. Compiling them all at import costs about 30 ms, a
tenth of linting one small file from a pre-commit hook, and most runs use a fraction of them. A
:class:`LazyPattern` compiles its pattern the first time one of its methods is called and keeps it.

    >>> WORD = compile_lazily(r"^[a-z]+$")
    >>> bool(WORD.match("loss")), bool(WORD.match("Loss"))
    (True, False)
"""

from __future__ import annotations

import re


class LazyPattern:
    """A ``re.Pattern`` that compiles itself on first use. The first lookup of a method
    (``search``, ``match``, ``sub``, ...) compiles the pattern and keeps that method of the compiled
    pattern on the instance, so later calls go straight to it.

        >>> LazyPattern(r"\\d+").findall("b1 b22")
        ['1', '22']
    """

    def __init__(self, source, flags: int = 0) -> None:
        self.pattern, self._flags, self._compiled = source, flags, None

    def compiled(self) -> re.Pattern:
        """The compiled pattern (compiled now if this is the first use)."""
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self._flags)
        return self._compiled

    def __getattr__(self, name: str):
        if name.startswith("_"):  # (copy and pickle probe for hooks before __init__ has run)
            raise AttributeError(name)
        method = getattr(self.compiled(), name)
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r})"


def compile_lazily(source, flags: int = 0) -> LazyPattern:
    """``re.compile``'s signature, compiled on first use.

        >>> compile_lazily(r"loss$", re.IGNORECASE).search("FocalLoss") is not None
        True
    """
    return LazyPattern(source, flags)
