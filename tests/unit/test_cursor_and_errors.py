"""Signed cursors and problem details."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import BadRequest, Conflict
from chalicelib.core.table import cursor

TENANT_A, TENANT_B = "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01BX5ZZKBKACTAV9WEVGEMMVRZ"


def test_cursor_round_trips_for_its_tenant_and_list():
    token = cursor.encode(TENANT_A, "members||", "2026-01-01T00:00:00.000Z#X")
    assert cursor.decode(token, TENANT_A, "members||") == "2026-01-01T00:00:00.000Z#X"


@pytest.mark.parametrize("tenant,scope", [(TENANT_B, "members||"), (TENANT_A, "members|vip|")])
def test_cursor_is_refused_for_another_tenant_or_list(tenant, scope):
    token = cursor.encode(TENANT_A, "members||", "pos")
    with pytest.raises(BadRequest):
        cursor.decode(token, tenant, scope)


def test_tampered_cursor_is_refused():
    token = cursor.encode(TENANT_A, "members||", "pos")
    payload, sig = token.split(".")
    forged = cursor.encode(TENANT_A, "members||", "other").split(".")[0] + "." + sig
    for bad in [forged, payload, token + "x", "", "...."]:
        with pytest.raises(BadRequest):
            cursor.decode(bad, TENANT_A, "members||")


def test_problem_details_carry_type_code_field_and_extras():
    body = Conflict("Taken", field="phone", code="identity_taken", member_ids=["a", "b"]).to_dict("/v1/members")
    assert body == {"type": "https://enclave.dev/problems/identity_taken", "title": "Conflict", "status": 409,
                    "code": "identity_taken", "detail": "Taken", "field": "phone", "instance": "/v1/members",
                    "member_ids": ["a", "b"]}
