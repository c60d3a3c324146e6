"""User tokens: the tenant claim is checked before any key is built from it."""
from __future__ import annotations

import pytest

from tests.conftest import ISSUER


@pytest.mark.parametrize("shape", ["suffix", "lowercase", "short", "not_a_string"])
def test_a_malformed_tenant_claim_is_a_401_and_reads_nothing(http, tenant, shape):
    # GIVEN a member of the tenant, and a token whose tenant claim is the tenant's id bent
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000", "name": "Lin"}).json
    claim = {
        "suffix": f"{tenant.id}#M#{member['id']}",
        "lowercase": tenant.id.lower(),
        "short": tenant.id[:20],
        "not_a_string": [tenant.id],
    }[shape]
    token = ISSUER.token("user-1", role="owner", **{"custom:tenant_id": claim})
    # WHEN it is used THEN 401 problem+json, and nothing of the tenant is shown
    for path in ["/v1/tenant", f"/v1/members/{member['id']}", "/v1/members"]:
        r = http.get(path, token)
        assert r.status == 401 and r.json["code"] == "invalid_token", (path, r)
        assert r.headers["content-type"] == "application/problem+json"
        assert "Lin" not in r.text and tenant.id not in r.text


def test_a_well_formed_tenant_claim_still_works(http, tenant):
    assert http.get("/v1/tenant", tenant.user_token()).status == 200
