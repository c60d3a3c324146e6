"""Helpers of the import tests: files made up with known bad rows, the upload as a client
does it (PUT to the presigned URL over plain HTTP), and a run of the import's job."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import requests

from tests.fixtures import Http, Tenant, run_jobs

#: kinds of bad member rows, each with the field the error names
BAD_MEMBER_ROWS = [
    (["not-a-phone", "", "Ann", "1990-01-01"], "phone"),
    (["", "", "Nobody", ""], ""),  # no identity at all
    (["", "bad-email", "Bo", ""], "email"),
    (["", "", "", "1990-13-40"], "birthday"),
]


def members_csv(n: int, bad_every: int = 100, phone_base: int = 13_100_000_000) -> tuple[bytes, set[int]]:
    """``n`` data rows; every ``bad_every``-th row is bad (1%). (file, numbers of bad rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "email", "name", "birthday"])
    bad: set[int] = set()
    for row in range(1, n + 1):
        if row % bad_every == 0:
            values, _ = BAD_MEMBER_ROWS[(row // bad_every) % len(BAD_MEMBER_ROWS)]
            if not values[1] and not values[0] and values[3]:
                values = [f"+86{phone_base + row}", "", "", values[3]]
            writer.writerow(values)
            bad.add(row)
        else:
            writer.writerow([f"+86{phone_base + row}", f"m{row}@example.com" if row % 3 == 0 else "",
                             f"Member, \"{row}\"", "1990-05-17" if row % 2 else ""])
    return out.getvalue().encode(), bad


def orders_jsonl(orders: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in orders)


def upload(http: Http, tenant: Tenant, kind: str, fmt: str, body: bytes, mapping: dict[str, str] | None = None
           ) -> dict[str, Any]:
    """Create the import and PUT the file to its presigned URL, as a client would."""
    request: dict[str, Any] = {"kind": kind, "format": fmt}
    if mapping is not None:
        request["mapping"] = mapping
    created = http.post("/v1/imports", tenant.key, request)
    assert created.status == 201, created
    up = created.json["upload"]
    put = requests.put(up["url"], data=body, headers=up["headers"], timeout=30)
    assert put.status_code == 200, put.text
    return created.json  # type: ignore[no-any-return]


def run_import(http: Http, tenant: Tenant, kind: str, fmt: str, body: bytes) -> dict[str, Any]:
    created = upload(http, tenant, kind, fmt, body)
    started = http.post(f"/v1/imports/{created['id']}/start", tenant.key)
    assert started.status == 202, started
    run_jobs()
    done = http.get(f"/v1/imports/{created['id']}", tenant.key)
    assert done.status == 200 and done.json["status"] == "succeeded", done
    return done.json  # type: ignore[no-any-return]


def error_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """The errors file, downloaded by its presigned URL."""
    got = requests.get(result["errors"]["url"], timeout=30)
    assert got.status_code == 200, got.text
    return list(csv.DictReader(io.StringIO(got.text)))
