"""Plain-text tables that fit a terminal of 100 columns.

Plain lists of strings, not pandas: `list` draws a table of a few dozen rows, and importing pandas
alone cost it ~0.35 s.
"""

from __future__ import annotations

from typing import Sequence

WIDTH = 100
ELLIPSIS = "…"


def fit(rows: Sequence[dict], columns: Sequence[str], shrinkable: tuple[tuple[str, int], ...],
        width: int = WIDTH) -> str:
    """``rows`` (each a dict by column) as left-aligned text no wider than ``width``. Each (column,
    minimum) step of ``shrinkable``, in order, cuts the longest cells of that column, down to
    ``minimum`` at most."""
    cells = {column: [str(row[column]) for row in rows] for column in columns}
    for column, minimum in shrinkable:
        overflow = max(len(line) for line in _left_aligned(cells, len(rows)).splitlines()) - width
        longest = max((len(cell) for cell in cells[column]), default=0)
        keep = max(minimum, len(column), longest - overflow)
        if overflow > 0 and keep < longest:
            cells[column] = [cell if len(cell) <= keep else cell[: keep - 1] + ELLIPSIS
                             for cell in cells[column]]
    return _left_aligned(cells, len(rows))


def _widths(cells: dict[str, list[str]]) -> dict[str, int]:
    return {column: max([len(column), *map(len, values)]) for column, values in cells.items()}


def _left_aligned(cells: dict[str, list[str]], count: int) -> str:
    widths = _widths(cells)
    header = " ".join(f"{column:<{widths[column]}}" for column in cells)
    lines = [" ".join(f"{values[index]:<{widths[column]}}" for column, values in cells.items())
             for index in range(count)]
    return "\n".join(line.rstrip() for line in [header, *lines])
