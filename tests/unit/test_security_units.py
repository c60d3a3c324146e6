"""Pure pieces of the security fixes: which members a stored response is about, which
Stripe key may serve which mode, and the JWKS cache's lifetime (on a file JWKS)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.billing.gateway.stripe import mode_error
from chalicelib.core.idempotency import members_in

M1, M2, M3 = "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01BX5ZZKBKACTAV9WEVGEMMVRZ", "01BX5ZZKBKACTAV9WEVGEMMVS0"


def test_members_in_finds_the_path_member_member_id_fields_at_any_depth_and_the_routes_field():
    body = {"id": M3, "results": [{"member_id": M1, "changes": [{"member_id": M2}]}, {"member_id": None}]}
    assert members_in(body) == {M1, M2}
    assert members_in(body, path_member=M3) == {M1, M2, M3}
    assert members_in({"id": M3, "name": "Lin"}, member_field="id") == {M3}
    assert members_in(None) == set() and members_in([{"id": M1}]) == set()


@pytest.mark.parametrize(("key", "livemode", "mock", "refused"), [
    ("sk_test_x", False, False, False),
    ("rk_test_x", False, False, False),
    ("sk_live_x", False, False, True),   # a sandbox never reaches live Stripe
    ("sk_live_x", False, True, True),    # not even in the dev stack
    ("sk_live_x", True, False, False),
    ("sk_test_x", True, False, True),    # a live tenant never runs on test-mode Stripe
    ("sk_test_x", True, True, False),    # ...except on stripe-mock, which has no live mode
    ("", True, False, True),
])
def test_a_stripe_key_serves_only_its_own_mode(key, livemode, mock, refused):
    assert (mode_error(key, livemode, mock=mock) is not None) == refused


@pytest.fixture
def file_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[datetime]]]:
    """A file JWKS as the verifier's issuer, and the app clock (``now[0]``) to move."""
    from chalicelib.core import clock
    from chalicelib.core.config import get_settings

    now = [datetime(2026, 12, 3, tzinfo=UTC)]
    clock.set_clock(lambda: now[0])
    monkeypatch.setattr(get_settings(), "jwks_url", (tmp_path / "jwks.json").as_uri())
    monkeypatch.setattr(get_settings(), "jwks_cache_seconds", 300)
    monkeypatch.setattr(get_settings(), "jwks_refetch_seconds", 30)
    yield tmp_path, now
    clock.set_clock(None)


def test_the_jwks_cache_forgets_a_removed_key_after_its_lifetime(file_issuer: tuple[Path, list[datetime]]):
    from chalicelib.core.errors import Unauthorized
    from chalicelib.core.tenancy import verify_jwt
    from devstack.jwt_issuer import DevIssuer

    directory, now = file_issuer
    old = DevIssuer(directory)
    old_token = old.token("u", tenant_id=M1, role="owner")
    assert verify_jwt(old_token)["sub"] == "u"
    (directory / "signing-key.pem").unlink()
    new = DevIssuer(directory)  # the JWKS now holds only the new key
    now[0] += timedelta(seconds=299)
    assert verify_jwt(old_token)["sub"] == "u"  # within the lifetime: the cached keys still verify it
    now[0] += timedelta(seconds=2)
    with pytest.raises(Unauthorized):
        verify_jwt(old_token)  # past the lifetime: refetched, and the removed key is gone
    assert verify_jwt(new.token("v", tenant_id=M1, role="owner"))["sub"] == "v"
