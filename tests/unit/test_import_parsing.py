"""Import files cut into pages and rows (pure: no servers)."""
from __future__ import annotations

import pytest

from chalicelib.integrations.transfers import parsing
from chalicelib.integrations.transfers.parsing import HeaderError, RowError


def test_pages_end_on_record_boundaries_and_quoted_newlines_stay_inside_a_record():
    data = b'phone,name\n+861,"Lin\nWang"\n+862,"a ""b"""\n+863,c'
    records, used = parsing.split_records(data, at_eof=False, max_records=10, fmt="csv")
    # WHEN the range ends mid-record THEN that record waits for the next page
    assert records == [b"phone,name", b'+861,"Lin\nWang"', b'+862,"a ""b"""'] and data[used:] == b"+863,c"
    records, used = parsing.split_records(data, at_eof=True, max_records=10, fmt="csv")
    assert records[-1] == b"+863,c" and used == len(data)


def test_a_page_stops_at_max_records_and_resumes_exactly_after():
    data = b"a\nb\nc\nd\n"
    first, used = parsing.split_records(data, at_eof=True, max_records=2, fmt="jsonl")
    rest, _ = parsing.split_records(data[used:], at_eof=True, max_records=10, fmt="jsonl")
    assert first + rest == [b"a", b"b", b"c", b"d"]


def test_crlf_line_ends_and_quotes_in_jsonl_are_plain_text():
    records = parsing.split_records(b'{"a": "\\""}\r\n{"b": 1}\r\n', True, 10, "jsonl")[0]
    assert records == [b'{"a": "\\""}', b'{"b": 1}']


def test_the_header_maps_columns_to_fields_with_aliases_and_the_mapping():
    assert parsing.check_header("members", ["Mobile", "name", "x"], {"Mobile": "phone", "x": "_ignore"}) == [
        "phone", "name", "_ignore"]
    assert parsing.check_header("orders", ["order_id", "amount", "currency", "phone"], {})[-1] == "member.phone"
    assert parsing.known_field("members", "attributes.shoe_size")
    assert not parsing.known_field("members", "member.phone") and not parsing.known_field("orders", "attributes.x")


@pytest.mark.parametrize("columns, mapping, says", [
    (["phone", "phone"], {}, "twice"),
    (["phone", ""], {}, "no name"),
    (["phone"], {"Mobile": "phone"}, "does not have"),
    (["name"], {}, "identity"),
    (["order_id", "amount", "phone"], {}, "currency"),
])
def test_a_bad_header_says_what_is_wrong(columns, mapping, says):
    kind = "orders" if "order_id" in columns else "members"
    with pytest.raises(HeaderError, match=says):
        parsing.check_header(kind, columns, mapping)


def test_rows_become_fields_and_bad_values_name_their_field():
    assert parsing.csv_row(b'+861,"Lin, W",', ["phone", "name", "email"]) == {"phone": "+861", "name": "Lin, W"}
    with pytest.raises(RowError, match="expected 2 columns"):
        parsing.csv_row(b"a,b,c", ["phone", "name"])
    row = parsing.jsonl_row("orders", b'{"order_id": "o1", "member": {"phone": "+861"}, "items": [{"sku": "x"}]}', {})
    assert parsing.nest(row) == {"order_id": "o1", "member": {"phone": "+861"}, "items": [{"sku": "x"}]}
    with pytest.raises(RowError) as bad:
        parsing.jsonl_row("orders", b'{"order_id": "o1", "coupon": 3}', {})
    assert bad.value.field == "coupon"
    assert parsing.birthday("1990-05-07") == {"year": 1990, "month": 5, "day": 7}
    assert parsing.birthday("05-07") == {"month": 5, "day": 7}
    assert parsing.integer("amount", "12900") == 12900
    for bad_amount in ("129.00", "1e3", True):
        with pytest.raises(RowError):
            parsing.integer("amount", bad_amount)
