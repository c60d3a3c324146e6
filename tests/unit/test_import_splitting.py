"""An import file cut into ranges at record starts (pure: no servers)."""
from __future__ import annotations

import random

from chalicelib.integrations.transfers import parsing, splitting


def _reader(data: bytes):
    return lambda offset, length: data[offset:offset + length]


def _records(data: bytes, begin: int, end: int, fmt: parsing.Format) -> list[bytes]:
    return parsing.split_records(data[begin:end], at_eof=True, max_records=10**9, fmt=fmt)[0]


def _random_csv(rng: random.Random, rows: int) -> bytes:
    cells = ["+8613", "Lin", '"Lin\nWang"', '"a ""b"""', '"x,\n\ny"', "", '"q""\n"""']
    lines = [b"phone,name,note"]
    lines += [",".join(rng.choice(cells) for _ in range(3)).encode() for _ in range(rows)]
    return b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")


def test_csv_ranges_start_at_records_even_inside_quoted_newlines_and_cover_the_file():
    rng = random.Random(5)
    for _ in range(200):
        data = _random_csv(rng, rng.randint(1, 40))
        header = data.index(b"\n") + 1
        count = rng.randint(1, 12)
        spans = splitting.spans(_reader(data), header, len(data), count, "csv", chunk=rng.randint(1, 17))
        # THEN the ranges tile the data, and their records together are exactly the file's records
        assert spans[0][0] == header and spans[-1][1] == len(data) and len(spans) <= count
        assert all(a < b and b == c for (a, b), (c, _) in zip(spans, spans[1:], strict=False))
        whole = _records(data, header, len(data), "csv")
        assert [r for a, b in spans for r in _records(data, a, b, "csv")] == whole


def test_jsonl_ranges_cut_after_newlines_and_a_record_starting_at_the_cut_belongs_to_the_later_range():
    data = b'{"a":1}\n{"a":2}\n{"a":3}\n{"a":4}\n'
    spans = splitting.spans(_reader(data), 0, len(data), 4, "jsonl", chunk=3)
    assert spans == [(0, 8), (8, 16), (16, 24), (24, 32)]
    rng = random.Random(9)
    for _ in range(100):
        data = b"\n".join(b"x" * rng.randint(0, 9) for _ in range(rng.randint(1, 30)))
        spans = splitting.spans(_reader(data), 0, len(data), rng.randint(1, 9), "jsonl", chunk=rng.randint(1, 5))
        assert [r for a, b in spans for r in _records(data, a, b, "jsonl")] == _records(data, 0, len(data), "jsonl")


def test_records_longer_than_a_range_give_fewer_ranges():
    data = b"h\n" + b"y" * 100 + b"\n" + b"z\n"
    spans = splitting.spans(_reader(data), 2, len(data), 8, "jsonl")
    assert spans == [(2, 103), (103, 105)]


def test_range_count_follows_size_and_its_cap():
    assert splitting.range_count(10, 8 * 1024**2, 32) == 1
    assert splitting.range_count(60 * 1024**2, 8 * 1024**2, 32) == 8
    assert splitting.range_count(1500 * 1024**2, 8 * 1024**2, 32) == 32
