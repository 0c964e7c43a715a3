"""A finding: one rule firing at one place in one loss.

    >>> Finding("BSG401", "exp-blowup", "warning", "`exp` of a scaled argument", "l.py", 3, 12, 3, 30, "my_loss")
    ... # doctest: +ELLIPSIS
    Finding(code='BSG401', ...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: str
    message: str
    filename: str
    row: int  # 1-based
    column: int  # 1-based, like ruff
    end_row: int
    end_column: int
    loss: str | None  # the enclosing loss function's name
    fix: dict | None = None
    # other places of the same root cause, as (row, column) pairs (SARIF relatedLocations)
    related: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        data = dict(data)
        data["related"] = tuple(tuple(place) for place in data.get("related", ()))
        return cls(**data)

    @property
    def sort_key(self):
        return (self.filename, self.row, self.column, self.code)
