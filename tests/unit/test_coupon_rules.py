"""Coupon codes, discounts and conditions, and the in-transaction join: pure, no servers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.loyalty.coupons import codes, rules
from chalicelib.loyalty.coupons.rules import ConditionFailed, Line, Terms

T = datetime(2026, 3, 1, tzinfo=timezone.utc)
FIXED = Terms(kind="fixed", currency="CNY", amount_off=50_00, min_spend=299_00, categories=("skincare",))


def test_codes_are_typable_random_and_read_back_whatever_the_case_and_dashes():
    drawn = {codes.new_code("BACK") for _ in range(2000)}
    assert len(drawn) == 2000  # 50 random bits each: no collision in a few thousand
    assert all(c.startswith("BACK") and len(c) == 14 and set(c[4:]) <= set(codes.ALPHABET) for c in drawn)
    assert not set("01OI") & set(codes.ALPHABET)
    code = codes.new_code()
    assert codes.normalize(codes.grouped(code).lower()) == code
    assert codes.normalize(" ab3d ef-gh ") == "AB3DEFGH"
    assert codes.normalize("no!") is None and codes.normalize("ab") is None


def test_fixed_discount_applies_to_the_lines_in_scope_and_never_exceeds_them():
    lines = [Line("serum", "skincare", 300_00), Line("perfume", "fragrance", 500_00)]
    out = rules.evaluate(FIXED, lines, "CNY")
    assert (out.discount, out.subtotal, out.eligible_subtotal, out.eligible_skus) == (50_00, 800_00, 300_00, ["serum"])
    small = Terms(kind="fixed", currency="CNY", amount_off=50_00)
    assert rules.evaluate(small, [Line("pin", None, 30_00)], "CNY").discount == 30_00


def test_percent_rounds_down_then_caps_and_a_gift_gives_its_sku():
    pct = Terms(kind="percent", currency="CNY", percent_off=15, max_discount=40_00)
    assert rules.evaluate(pct, [Line("a", None, 99_99)], "CNY").discount == 14_99  # 1499.85 rounded down
    assert rules.evaluate(pct, [Line("a", None, 1000_00)], "CNY").discount == 40_00
    gift = Terms(kind="gift", currency="CNY", gift_sku="sample")
    out = rules.evaluate(gift, [Line("a", None, 1)], "CNY")
    assert (out.discount, out.gift_sku) == (0, "sample")


@pytest.mark.parametrize(("lines", "currency", "code"), [
    ([Line("serum", "skincare", 298_99)], "CNY", "below_minimum_spend"),
    ([Line("serum", "skincare", 200_00), Line("perfume", "fragrance", 500_00)], "CNY", "below_minimum_spend"),
    ([Line("perfume", "fragrance", 500_00)], "CNY", "category_out_of_scope"),
    ([Line("serum", "skincare", 300_00)], "USD", "currency_mismatch"),
])
def test_each_failed_condition_is_named(lines, currency, code):
    with pytest.raises(ConditionFailed) as failed:
        rules.evaluate(FIXED, lines, currency)
    assert failed.value.code == code


def test_validity_windows_status_and_day_buckets():
    assert rules.window({"type": "days_from_issue", "days": 30}, T) == (T, T + timedelta(days=30))
    fixed = rules.window({"type": "window", "starts_at": "2026-04-01T00:00:00Z", "ends_at": "2026-05-01T00:00:00Z"}, T)
    assert fixed == (datetime(2026, 4, 1, tzinfo=timezone.utc), datetime(2026, 5, 1, tzinfo=timezone.utc))
    with pytest.raises(ConditionFailed, match="expired"):
        rules.check_window(T, T + timedelta(days=30), T + timedelta(days=30))
    with pytest.raises(ConditionFailed) as early:
        rules.check_window(*fixed, T)
    assert early.value.code == "coupon_not_yet_valid"
    rules.check_window(T, T + timedelta(days=30), T + timedelta(days=29, hours=23))
    assert [rules.status(False, T, T - timedelta(1)), rules.status(False, T, T), rules.status(True, T, T)] == [
        "active", "expired", "used"]
    assert rules.day_bucket(T, T + timedelta(hours=23)) == 0
    assert rules.day_bucket(T, T + timedelta(days=14, hours=23)) == 14
    assert rules.day_bucket(T, T + timedelta(days=400)) == rules.MAX_DAY_BUCKETS


def test_a_join_lets_participants_write_in_the_writers_transaction_or_refuse_it():
    from chalicelib.core.errors import Unprocessable
    from chalicelib.core.participants import Join
    from chalicelib.core.table.transactions import Transaction

    join = Join("test.order_paid")
    seen: list[tuple[str, str, dict]] = []

    def participant(tx: Transaction, tenant_id: str, member_id: str, data: dict) -> None:
        seen.append((tenant_id, member_id, data))
        if data.get("refuse"):
            raise Unprocessable("no", code="below_minimum_spend")

    join.connect(participant)
    join.connect(participant)  # twice is once
    tx = Transaction()
    join.stage(tx, "t", "m", {"order_id": "o"})
    assert seen == [("t", "m", {"order_id": "o"})]
    with pytest.raises(Unprocessable):
        join.stage(tx, "t", "m", {"refuse": True})
    join.disconnect(participant)
    join.stage(tx, "t", "m", {"refuse": True})
    assert len(seen) == 2
    with pytest.raises(ValueError):
        Join("test.order_paid")


def test_a_journey_coupon_step_takes_a_template_or_the_derived_code_form_not_both():
    from pydantic import ValidationError

    from chalicelib.journeys.schemas import CouponSpec

    assert CouponSpec(template_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", description="50 off").template_id
    assert CouponSpec(prefix="BACK", valid_days=14).prefix == "BACK"  # the old form is unchanged
    with pytest.raises(ValidationError, match="not both"):
        CouponSpec(template_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", prefix="BACK")
