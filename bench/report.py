"""Small statistics and plain-text tables for the bench output."""
from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def p90(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[-1]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "", indent: int = 2) -> str:
    """``align``: one letter per column, ``l`` or ``r``; by default the first column is
    left-aligned and the others (figures) right-aligned."""
    cells = [list(headers)] + [list(r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=False)]
        return " " * indent + "  ".join(parts).rstrip()

    rule = " " * indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def heading(title: str) -> str:
    return f"\n{title}\n{'=' * len(title)}"


def progress(msg: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)
