"""Keys derived from the app secret, one per purpose (pure: the secret comes from the
test environment)."""
from __future__ import annotations

import pytest

from chalicelib.core import app_keys


def test_given_two_purposes_then_their_keys_differ_and_neither_is_the_secret() -> None:
    coupons, other = app_keys.purpose_key("journey-coupons"), app_keys.purpose_key("exports")
    assert len({coupons, other, app_keys.app_secret()}) == 3


def test_given_the_coupon_purpose_then_the_key_is_the_one_issued_codes_were_made_with() -> None:
    assert app_keys.purpose_key("journey-coupons") == b"journey-coupons|" + app_keys.app_secret()


@pytest.mark.parametrize("purpose", ["", "a|b"])
def test_given_an_ambiguous_purpose_then_it_is_refused(purpose: str) -> None:
    with pytest.raises(ValueError, match="purpose"):
        app_keys.purpose_key(purpose)
