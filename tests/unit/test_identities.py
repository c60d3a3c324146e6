"""Identity normalization: every notation of one phone or email is one key."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import Unprocessable
from chalicelib.members.identities import normalize_email, normalize_phone


@pytest.mark.parametrize("raw", ["138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "(+86)13800138000",
                                 "+86.138.0013.8000"])
def test_chinese_mobile_notations_share_one_e164_form(raw):
    assert normalize_phone(raw, "CN") == "+8613800138000"


def test_default_country_applies_only_without_a_country_code():
    assert normalize_phone("(415) 555-2671", "US") == "+14155552671"
    assert normalize_phone("+1 415 555 2671", "CN") == "+14155552671"
    assert normalize_phone("020 7946 0018", "GB") == "+442079460018"


@pytest.mark.parametrize("raw", ["12345", "abc", "+86 138", "+999 1234567"])
def test_invalid_phones_are_rejected_with_the_field(raw):
    with pytest.raises(Unprocessable) as err:
        normalize_phone(raw, "CN")
    assert err.value.field == "phone" and err.value.code == "invalid_phone"


def test_emails_are_trimmed_and_lowercased():
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize("raw", ["nobody", "a@b", "a b@c.com", "@example.com"])
def test_invalid_emails_are_rejected(raw):
    with pytest.raises(Unprocessable):
        normalize_email(raw)
