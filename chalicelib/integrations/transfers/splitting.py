"""An import file cut into byte ranges that child jobs apply in parallel (pure: the file is
read through a callable, so unit tests need no S3).

A range owns every record that STARTS inside it: a nominal cut at byte ``t`` moves to the
first record start at or after ``t`` (just after the first newline at or after ``t - 1``).
In JSON Lines every newline ends a record (JSON escapes newlines inside strings), so a cut
needs only the bytes around it. In CSV a newline inside a quoted field does not end a record,
and whether byte ``t`` is inside quotes depends on every quote before it: the CSV plan reads
the file once from the start and counts quotes (``bytes.count``, C speed), the same rule
``parsing.split_records`` applies (every ``"`` toggles, so an escaped ``""`` toggles twice).
A cut therefore never falls inside a quoted field, embedded newlines included.
"""
from __future__ import annotations

from collections.abc import Callable

from .parsing import Format

#: read(offset, length) -> at most ``length`` bytes of the file from ``offset``
Read = Callable[[int, int], bytes]
#: bytes read at a time while scanning
CHUNK = 16 * 1024 * 1024


def range_count(data_bytes: int, range_bytes: int, max_ranges: int) -> int:
    """How many ranges a file of ``data_bytes`` (after any header) is cut into."""
    return max(1, min(max_ranges, -(-data_bytes // range_bytes)))


def spans(read: Read, begin: int, size: int, count: int, fmt: Format, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """``count`` (or fewer, when records are longer than a range) ``(start, end)`` byte ranges
    covering ``begin .. size`` exactly, each starting at a record start."""
    step = (size - begin) / count
    targets = [begin + round(step * n) for n in range(1, count)]
    cuts = _csv_cuts(read, begin, size, targets, chunk) if fmt == "csv" else _line_cuts(read, size, targets, chunk)
    edges = sorted({begin, size, *cuts})
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if a < b]


def _line_cuts(read: Read, size: int, targets: list[int], chunk: int) -> list[int]:
    """Each target moved just past the first newline at or after ``target - 1``."""
    cuts = []
    for target in targets:
        pos = target - 1
        while pos < size:
            data = read(pos, min(chunk, size - pos))
            if not data:
                break
            found = data.find(b"\n")
            if found >= 0:
                pos += found + 1
                break
            pos += len(data)
        cuts.append(min(pos, size))
    return cuts


def _csv_cuts(read: Read, begin: int, size: int, targets: list[int], chunk: int) -> list[int]:
    """As :func:`_line_cuts`, skipping newlines inside quotes (quote parity counted from ``begin``)."""
    cuts: list[int] = []
    quoted = False
    seeking = False  # past a target, looking for the first newline outside quotes
    pending = list(targets)
    pos = begin
    while pos < size and (pending or seeking):
        data = read(pos, min(chunk, size - pos))
        if not data:
            break
        i = 0
        while True:
            if seeking:
                nl = data.find(b"\n", i)
                if nl < 0:
                    quoted ^= bool(data.count(b'"', i) & 1)
                    break
                quoted ^= bool(data.count(b'"', i, nl) & 1)
                i = nl + 1
                if not quoted:
                    cuts.append(pos + i)
                    seeking = False
                continue
            if not pending:
                break
            at = max(pending[0] - 1 - pos, i)  # search from target - 1: a record starting at target is ours
            if at >= len(data):
                quoted ^= bool(data.count(b'"', i) & 1)
                break
            quoted ^= bool(data.count(b'"', i, at) & 1)
            i, seeking = at, True
            pending.pop(0)
        pos += len(data)
    if seeking:
        cuts.append(size)
    return cuts + [size] * len(pending)
