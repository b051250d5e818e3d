"""Plain-text tables that fit a terminal of 100 columns."""

from __future__ import annotations

import pandas

WIDTH = 100
ELLIPSIS = "…"


def fit(frame: pandas.DataFrame, shrinkable: tuple[tuple[str, int], ...], width: int = WIDTH) -> str:
    """``frame`` as left-aligned text no wider than ``width``. Each (column, minimum) step of
    ``shrinkable``, in order, cuts the longest cells of that column, down to ``minimum`` at most."""
    frame = frame.astype(str)
    for column, minimum in shrinkable:
        overflow = max(len(line) for line in _left_aligned(frame).splitlines()) - width
        longest = int(frame[column].str.len().max()) if len(frame) else 0
        keep = max(minimum, len(column), longest - overflow)
        if overflow > 0 and keep < longest:
            frame[column] = frame[column].map(
                lambda cell, keep=keep: cell if len(cell) <= keep else cell[: keep - 1] + ELLIPSIS)
    return _left_aligned(frame)


def _left_aligned(frame: pandas.DataFrame) -> str:
    widths = {column: max([len(column), *frame[column].str.len()]) for column in frame.columns}
    header = " ".join(f"{column:<{widths[column]}}" for column in frame.columns)
    lines = [" ".join(f"{cell:<{widths[column]}}" for column, cell in row.items())
             for _, row in frame.iterrows()]
    return "\n".join(line.rstrip() for line in [header, *lines])
