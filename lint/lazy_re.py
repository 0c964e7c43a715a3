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
    """A ``re.Pattern`` that compiles itself on first use, with the methods the linter calls.

        >>> LazyPattern(r"\\d+").findall("b1 b22")
        ['1', '22']
    """

    __slots__ = ("_source", "_flags", "_compiled")

    def __init__(self, source, flags: int = 0) -> None:
        self._source, self._flags, self._compiled = source, flags, None

    def compiled(self) -> re.Pattern:
        """The compiled pattern (compiled now if this is the first use)."""
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    def search(self, *args, **kwargs):
        return (self._compiled or self.compiled()).search(*args, **kwargs)

    def match(self, *args, **kwargs):
        return (self._compiled or self.compiled()).match(*args, **kwargs)

    def fullmatch(self, *args, **kwargs):
        return (self._compiled or self.compiled()).fullmatch(*args, **kwargs)

    def findall(self, *args, **kwargs):
        return (self._compiled or self.compiled()).findall(*args, **kwargs)

    def finditer(self, *args, **kwargs):
        return (self._compiled or self.compiled()).finditer(*args, **kwargs)

    def split(self, *args, **kwargs):
        return (self._compiled or self.compiled()).split(*args, **kwargs)

    def sub(self, *args, **kwargs):
        return (self._compiled or self.compiled()).sub(*args, **kwargs)

    def subn(self, *args, **kwargs):
        return (self._compiled or self.compiled()).subn(*args, **kwargs)

    @property
    def pattern(self):
        return self._source

    def __repr__(self) -> str:
        return f"LazyPattern({self._source!r})"


def compile_lazily(source, flags: int = 0) -> LazyPattern:
    """``re.compile``'s signature, compiled on first use.

        >>> compile_lazily(r"loss$", re.IGNORECASE).search("FocalLoss") is not None
        True
    """
    return LazyPattern(source, flags)
