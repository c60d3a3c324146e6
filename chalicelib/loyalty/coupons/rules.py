"""Coupon terms, validity and the discount of an order. Pure: no I/O, no clock.

The service reads the coupon and the template, asks :func:`evaluate` and writes what it
answers. A refused redemption is a :class:`ConditionFailed` naming the condition, which
the API returns as a 422 with that code.

Money is integer minor units. A line's ``amount`` is the line total (all its units). The
eligible subtotal is the sum of the lines in the template's category scope (all lines when
the scope is empty); the minimum spend is checked against it; a percent discount is
rounded down to the minor unit, then capped; a fixed discount never exceeds the eligible
subtotal (a coupon never pays the member).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: within-N-days analytics keep one counter per day since issue up to this many days
MAX_DAY_BUCKETS = 90


class ConditionFailed(Exception):
    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field


@dataclass(frozen=True)
class Terms:
    """A template's terms, copied onto every coupon it issues (terms never change under a coupon)."""

    kind: str  # fixed | percent | gift
    currency: str
    amount_off: int = 0
    percent_off: int = 0
    max_discount: int | None = None
    gift_sku: str | None = None
    min_spend: int = 0
    categories: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Terms:
        return cls(kind=d["kind"], currency=d["currency"], amount_off=int(d.get("amount_off") or 0),
                   percent_off=int(d.get("percent_off") or 0),
                   max_discount=int(d["max_discount"]) if d.get("max_discount") is not None else None,
                   gift_sku=d.get("gift_sku"), min_spend=int(d.get("min_spend") or 0),
                   categories=tuple(d.get("categories") or ()))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "currency": self.currency, "amount_off": self.amount_off,
                "percent_off": self.percent_off, "max_discount": self.max_discount, "gift_sku": self.gift_sku,
                "min_spend": self.min_spend, "categories": list(self.categories)}


@dataclass(frozen=True)
class Line:
    sku: str
    category: str | None
    amount: int
    quantity: int = 1


@dataclass(frozen=True)
class Outcome:
    discount: int
    subtotal: int
    eligible_subtotal: int
    gift_sku: str | None = None
    eligible_skus: list[str] = field(default_factory=list)


def evaluate(terms: Terms, lines: list[Line], currency: str) -> Outcome:
    """The discount ``terms`` give an order of ``lines``, or :class:`ConditionFailed`
    (``currency_mismatch``, ``category_out_of_scope``, ``below_minimum_spend``)."""
    if currency != terms.currency:
        raise ConditionFailed("currency_mismatch", f"This coupon is in {terms.currency}.", "currency")
    subtotal = sum(line.amount for line in lines)
    scope = set(terms.categories)
    eligible = [line for line in lines if not scope or line.category in scope]
    if scope and not eligible:
        raise ConditionFailed("category_out_of_scope",
                              f"No line is in the coupon's categories ({', '.join(sorted(scope))}).", "lines")
    base = sum(line.amount for line in eligible)
    if base < terms.min_spend:
        raise ConditionFailed("below_minimum_spend",
                              f"The coupon needs {terms.min_spend} spent on eligible lines; the order has {base}.",
                              "lines")
    if terms.kind == "fixed":
        discount = min(terms.amount_off, base)
    elif terms.kind == "percent":
        discount = base * terms.percent_off // 100
        if terms.max_discount is not None:
            discount = min(discount, terms.max_discount)
    else:
        discount = 0
    return Outcome(discount=discount, subtotal=subtotal, eligible_subtotal=base,
                   gift_sku=terms.gift_sku if terms.kind == "gift" else None,
                   eligible_skus=[line.sku for line in eligible])


def window(validity: dict[str, Any], issued_at: datetime) -> tuple[datetime | None, datetime | None]:
    """(valid from, expires at) of a coupon issued at ``issued_at``: the template's fixed
    window, or ``days`` from issue."""
    if validity["type"] == "window":
        return parse_time(validity.get("starts_at")), parse_time(validity.get("ends_at"))
    return issued_at, issued_at + timedelta(days=int(validity["days"]))


def check_window(valid_from: datetime | None, expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and now >= expires_at:
        raise ConditionFailed("coupon_expired", "This coupon has expired.", "code")
    if valid_from is not None and now < valid_from:
        raise ConditionFailed("coupon_not_yet_valid", "This coupon is not valid yet.", "code")


def status(redeemed: bool, expires_at: datetime | None, now: datetime) -> str:
    """active | used | expired, as members and lists see it."""
    if redeemed:
        return "used"
    return "expired" if expires_at is not None and now >= expires_at else "active"


def day_bucket(issued_at: datetime, redeemed_at: datetime) -> int:
    """Whole days from issue to redemption (0 = the first 24 hours), capped at
    :data:`MAX_DAY_BUCKETS` (everything later shares that bucket)."""
    days = max(0, int((redeemed_at - issued_at).total_seconds() // 86400))
    return min(days, MAX_DAY_BUCKETS)


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
