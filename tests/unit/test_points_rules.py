"""Points arithmetic and lots, without servers: earn rounding, multipliers, proportional
reversal, expiry dates, FIFO spending, release, expiry, deficit settlement."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.loyalty.points import ledger, rules
from chalicelib.loyalty.points.ledger import Balance, InsufficientPoints, Lot

PROGRAM = rules.program_from({"order_earning": {"points_per_unit": 1, "unit": 100,
                                                 "category_multipliers": {"perfume": 1.5, "gift": 0}}}, 1)


def test_order_points_floor_once_per_order_with_tier_and_category_multipliers():
    assert rules.order_points(PROGRAM, 99_99, []) == 99
    assert rules.order_points(PROGRAM, 99_99, [], tier_pct=200) == 199
    lines = [{"qty": 1, "unit_price": 60_00, "category": "perfume"}, {"qty": 2, "unit_price": 20_00}]
    assert rules.order_points(PROGRAM, 100_00, lines) == 130  # 60 * 1.5 + 40
    assert rules.order_points(PROGRAM, 100_00, [{"qty": 1, "unit_price": 100_00, "category": "gift"}]) == 0
    assert rules.order_points(PROGRAM, 0, []) == 0
    assert rules.order_points(rules.program_from({}, 0), 100_00, []) == 0  # no order earning configured


def test_tier_percent_reads_the_points_multiplier_benefit():
    assert rules.tier_percent(()) == 100
    assert rules.tier_percent(({"type": "free_shipping"}, {"type": "points_multiplier", "multiplier": 1.25})) == 125


@pytest.mark.parametrize("refunds,expected", [([50], [50]), ([33, 33, 34], [33, 33, 34]), ([1] * 3, [1, 1, 1]),
                                              ([100], [100]), ([30, 70], [30, 70])])
def test_reversal_is_proportional_and_cumulative(refunds, expected):
    earned, amount, refunded, reversed_ = 100, 100, 0, 0
    out = []
    for r in refunds:
        refunded += r
        n = rules.reversal(earned, amount, refunded, reversed_)
        reversed_ += n
        out.append(n)
    assert out == expected


def test_a_full_refund_reverses_exactly_what_was_earned_despite_rounding():
    earned, amount = 7, 3_00
    parts = [rules.reversal(earned, amount, r, 0) for r in (1_00,)]
    total = parts[0] + rules.reversal(earned, amount, 2_00, parts[0])
    total += rules.reversal(earned, amount, 3_00, total)
    assert parts == [2] and total == 7


def test_expiry_after_days_or_at_the_end_of_the_nth_month_in_the_tenant_zone():
    earned = datetime(2026, 1, 31, 17, 0, tzinfo=timezone.utc)  # 1 February 01:00 in Shanghai
    assert rules.expires_at(earned, rules.Expiry("days", days=30), "Asia/Shanghai") == datetime(
        2026, 3, 2, 17, 0, tzinfo=timezone.utc)
    end = rules.expires_at(earned, rules.Expiry("end_of_month", months=12), "Asia/Shanghai")
    assert end is not None and end.isoformat() == "2027-03-01T00:00:00+08:00"  # end of February 2027, local
    assert rules.expires_at(earned, rules.Expiry(), "UTC") is None
    assert rules.local_day(earned, "Asia/Shanghai") == "2026-02-01"


def lot(id_, points, expires, available_at=None, order_id=None):
    return Lot(id=id_, points=points, earned=points, earned_at="2026-01-01T00:00:00.000Z", available_at=available_at,
               expires_at=expires, order_id=order_id)


def test_spending_takes_the_lots_that_expire_first():
    b = Balance([lot("late", 100, "2026-06-01"), lot("never", 100, None), lot("soon", 30, "2026-02-01"),
                 lot("pending", 500, "2026-01-15", available_at="2026-01-10")])
    assert b.available == 230 and b.pending == 500
    assert ledger.spend(b, 50) == {"soon": 30, "late": 20}
    with pytest.raises(InsufficientPoints):
        ledger.spend(b, 181)
    assert ledger.spend(b, 180) == {"late": 80, "never": 100}
    assert b.available == 0


def test_normalize_releases_then_expires_and_a_read_copy_sees_it():
    b = Balance([lot("a", 10, "2026-02-01T00:00:00.000Z"),
                 lot("b", 20, "2026-03-01T00:00:00.000Z", available_at="2026-01-20T00:00:00.000Z")])
    moves = ledger.normalize(b, "2026-01-25T00:00:00.000Z")
    assert [(m.kind, m.points) for m in moves] == [("release", 20)] and b.available == 30
    moves = ledger.normalize(b, "2026-02-01T00:00:00.000Z")
    assert [(m.kind, m.points, m.lot_id) for m in moves] == [("expire", 10, "a")] and b.available == 20
    assert ledger.expiring(b, "2026-02-01T00:00:00.000Z", "2026-03-03") == [("2026-03-01T00:00:00.000Z", 20)]


def test_reverse_takes_the_orders_lot_then_others_then_owes_or_records_a_shortfall():
    def fresh():
        return Balance([lot("o1", 200, None, order_id="o1"), lot("x", 100, "2026-05-01")])

    b = fresh()
    r = ledger.reverse(b, "o1", 500, allow_negative=True)
    assert (r.taken, r.owed, r.shortfall, b.available) == (300, 200, 0, -200)
    ledger.add_lot(b, lot("new", 50, None))  # new points pay the debt first
    assert (b.available, b.deficit) == (-150, 150)
    b = fresh()
    r = ledger.reverse(b, "o1", 500, allow_negative=False)
    assert (r.taken, r.owed, r.shortfall, b.available) == (300, 0, 200, 0)


def test_released_interaction_lots_with_one_expiry_merge_and_notices_go_once():
    b = Balance()
    for n in range(3):
        ledger.add_lot(b, lot(f"i{n}", 5, "2026-02-01T00:00:00.000Z"))
    assert len(b.lots) == 1 and b.available == 15
    assert [x.id for x in ledger.due_notices(b, "2026-01-26T00:00:00.000Z", "2026-02-02")] == ["i0"]
    assert ledger.due_notices(b, "2026-01-27T00:00:00.000Z", "2026-02-03") == []
    assert ledger.next_due(b, lambda exp: exp) == "2026-02-01T00:00:00.000Z"


def test_order_completed_releases_its_pending_lot_early():
    b = Balance([lot("o", 10, None, available_at="2026-02-01T00:00:00.000Z", order_id="o-1")])
    ledger.release_order(b, "o-1", "2026-01-05T00:00:00.000Z")
    assert [m.kind for m in ledger.normalize(b, "2026-01-05T00:00:00.000Z")] == ["release"] and b.available == 10
