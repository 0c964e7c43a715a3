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
    """One rule firing at one place: positions are 1-based (column like ruff), ``loss`` names the loss."""

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
    # other places of the same root cause, or the calls of the helper it is in, as (row, column)
    # pairs (SARIF relatedLocations)
    related: tuple[tuple[int, int], ...] = ()
    # notebooks: the cell (1-based, as the notebook shows it); row/column are then inside that cell
    cell: int | None = None

    def to_dict(self) -> dict:
        """Every field, for the cache."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        """The inverse of ``to_dict``."""
        data = dict(data)
        data["related"] = tuple(tuple(place) for place in data.get("related", ()))
        return cls(**data)

    @property
    def sort_key(self):
        """File, then position (cells in order for notebooks), then code."""
        return (self.filename, self.cell or 0, self.row, self.column, self.code)
