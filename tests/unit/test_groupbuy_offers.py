"""Pure checks of a group offer's shape and of the deadline timer's name (no servers)."""
from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from chalicelib.loyalty.groupbuys.deadlines import timer_name
from chalicelib.loyalty.groupbuys.schemas import OfferCreate

SKU = {"name": "Trio", "sku": "serum", "group_price": 99_00, "currency": "CNY", "group_size": 3,
       "time_limit_minutes": 60}
TEMPLATE_ID = "01" + "A" * 24


def test_an_offer_is_a_sku_at_a_group_price_or_a_coupon_template_never_both():
    assert OfferCreate(**SKU).sku == "serum"
    coupon = OfferCreate(name="Half", coupon_template_id=TEMPLATE_ID, group_size=2, time_limit_minutes=5)
    assert (coupon.sku, coupon.per_member_limit, coupon.leaders) == (None, 1, "anyone")
    for bad in ({**SKU, "coupon_template_id": TEMPLATE_ID}, {**SKU, "group_price": None},
                {k: v for k, v in SKU.items() if k not in ("sku", "group_price", "currency")}):
        with pytest.raises(ValidationError, match="sku"):
            OfferCreate(**bad)


@pytest.mark.parametrize("changes", [{"group_size": 1}, {"group_size": 51}, {"group_size": 2.0},
                                     {"time_limit_minutes": 0}, {"per_member_limit": 0}, {"stock": -1},
                                     {"leaders": "segment"}, {"leader_segment_id": TEMPLATE_ID},
                                     {"currency": "cny"}, {"unknown": 1}])
def test_out_of_range_or_inconsistent_terms_are_refused(changes):
    with pytest.raises(ValidationError):
        OfferCreate(**{**SKU, **changes})


def test_a_segment_offer_names_its_segment():
    offer = OfferCreate(**SKU, leaders="segment", leader_segment_id=TEMPLATE_ID)
    assert offer.leader_segment_id == TEMPLATE_ID


def test_deadline_timer_names_fit_step_functions_execution_names():
    name = timer_name("01" + "Z" * 24, "ABC234")
    assert len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert name != timer_name("01" + "Y" * 24, "ABC234")  # unique across tenants (one state machine)
