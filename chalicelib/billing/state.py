"""Memberships as pure rules: what Enclave keeps of a Stripe subscription, which of two
observations is newer, what a change means (domain events, counters), and what a member
is entitled to at a given moment. No I/O: the service feeds it Stripe objects and a clock.

Ordering. Stripe delivers events late, twice, out of order, and a re-read may race another
handler. Every observation of a subscription carries ``observed_at``, always in Stripe's
time, never our clock (ours may run ahead of Stripe's and would hide the next event): the
``created`` of the event that triggered the read (a lower bound of the read's moment), or,
for reads of our own (the answer to a cancel or resume, reconciliation), the latest moment
Stripe's own fields prove (:func:`moment_of`). The answer to our own write is newer than
the observation it was made against, so it gets that observation's moment at least and,
on a tie, the next ``revision`` (:func:`after_write`). An observation replaces the stored
one only if its key is greater:

    (terminal, observed_at, revision, current_period_end, status rank)

* terminal first: a canceled (or incomplete_expired) subscription never changes again;
* then time: a later observation is newer;
* then, within one second, the answer to our own write over what it was made against;
* then the later billing period, then the status that comes later in Stripe's lifecycle
  (incomplete < trialing < active < past_due < unpaid/paused);
* a full tie keeps what is stored (a replay changes nothing).

So any interleaving of duplicated and reordered observations ends on the greatest key,
which is the subscription's latest state.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..core import clock

TERMINAL = frozenset({"canceled", "incomplete_expired"})
#: statuses whose member keeps the plan's benefits (past_due: Stripe is still retrying)
ENTITLED = frozenset({"trialing", "active", "past_due"})
#: statuses a subscription only has before its first payment (or trial) went through
NEVER_ACTIVATED = frozenset({"incomplete", "incomplete_expired"})
#: statuses counted in MRR (Stripe's own definition: paying or being retried)
RECURRING = frozenset({"active", "past_due"})
STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "unpaid", "paused", "canceled")
STATUS_RANK = {"incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "unpaid": 4, "paused": 4,
               "canceled": 9, "incomplete_expired": 9}
META_TENANT, META_MEMBER, META_PLAN = "enclave_tenant_id", "enclave_member_id", "enclave_plan_id"


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def from_epoch(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def iso(value: int | None) -> str | None:
    """An epoch (Stripe's times) as the API's ISO 8601 UTC."""
    moment = from_epoch(value)
    return clock.iso(moment) if moment is not None else None


@dataclass(frozen=True)
class Snapshot:
    """One observation of a subscription, in the fields Enclave uses."""

    subscription_id: str
    status: str
    observed_at: int
    customer_id: str | None = None
    price_id: str | None = None
    #: per period, minor units (unit amount x quantity)
    amount: int | None = None
    currency: str | None = None
    interval: str | None = None
    interval_count: int = 1
    current_period_start: int | None = None
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    trial_end: int | None = None
    created: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: orders observations of one second: the answer to our own write over what it followed
    revision: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        return (int(self.terminal), self.observed_at, self.revision, self.current_period_end or 0,
                STATUS_RANK.get(self.status, 0))

    @property
    def moment_id(self) -> str:
        """The observation's place in the order, for ids of the events it causes."""
        return str(self.observed_at) if not self.revision else f"{self.observed_at}.{self.revision}"

    @property
    def ever_activated(self) -> bool:
        """Whether the subscription was paid (or trialing) at some point: every status but
        the two of a first payment that never went through. A membership first seen
        canceled (its earlier events late or lost) was a member all the same."""
        return self.status not in NEVER_ACTIVATED

    @property
    def activated_at(self) -> int:
        """When it became a membership, from Stripe's fields (whatever order we saw it in):
        the subscription's creation (checkout pays, or a trial starts, at once)."""
        return int(self.created or self.current_period_start or self.observed_at)

    @property
    def ends_at(self) -> int | None:
        """When a scheduled cancellation ends it (None if it renews)."""
        if self.terminal:
            return self.ended_at or self.canceled_at
        if self.cancel_at:
            return self.cancel_at
        return self.current_period_end if self.cancel_at_period_end else None

    @property
    def monthly_amount_x12(self) -> int:
        """Twelve times the monthly value (exact in integers: yearly amounts / 12 are not)."""
        if not self.amount:
            return 0
        per_year = {"day": 365, "week": 52, "month": 12, "year": 1}.get(self.interval or "month", 12)
        return self.amount * per_year // max(1, self.interval_count)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def newer(candidate: Snapshot, stored: Snapshot | None) -> bool:
    if stored is None:
        return True
    if stored.terminal:
        return False
    return candidate.key > stored.key


def moment_of(obj: dict[str, Any]) -> int:
    """The latest moment a subscription object proves it was read after, in Stripe's time:
    the greatest of its past timestamps (created, start, current period start, the last
    cancel request, the end). Future ones (period end, ``cancel_at``) prove nothing."""
    item = _item(obj)
    fields = (obj.get("created"), obj.get("start_date"), obj.get("current_period_start"),
              item.get("current_period_start"), obj.get("canceled_at"), obj.get("ended_at"), obj.get("trial_start"))
    return max((int(v) for v in fields if isinstance(v, int)), default=0)


def after_write(answer: dict[str, Any], before: Snapshot | None) -> tuple[int, int]:
    """``(observed_at, revision)`` of Stripe's answer to our own write made against the
    stored observation ``before``: at least as new as ``before`` (the write followed it)
    and never labelled with our clock, so Stripe's next event (its ``created`` a moment
    later, or the same second) is never older than it."""
    moment = moment_of(answer)
    if before is None or moment > before.observed_at:
        return moment, 0
    return before.observed_at, before.revision + 1


def _item(obj: dict[str, Any]) -> dict[str, Any]:
    items = ((obj.get("items") or {}).get("data")) or [{}]
    return items[0] or {}


def snapshot(obj: dict[str, Any], observed_at: int, revision: int = 0) -> Snapshot:
    """A Stripe subscription object (API 2025+: periods live on its items; older versions
    keep them on the subscription) as a :class:`Snapshot`."""
    item = _item(obj)
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    unit = price.get("unit_amount")
    customer = obj.get("customer")
    return Snapshot(
        subscription_id=obj["id"],
        status=str(obj.get("status") or "incomplete"),
        observed_at=int(observed_at),
        customer_id=customer.get("id") if isinstance(customer, dict) else customer,
        price_id=price.get("id"),
        amount=int(unit) * int(item.get("quantity") or 1) if unit is not None else None,
        currency=(obj.get("currency") or price.get("currency") or "").upper() or None,
        interval=recurring.get("interval"),
        interval_count=int(recurring.get("interval_count") or 1),
        current_period_start=obj.get("current_period_start") or item.get("current_period_start"),
        current_period_end=obj.get("current_period_end") or item.get("current_period_end"),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        cancel_at=obj.get("cancel_at"),
        canceled_at=obj.get("canceled_at"),
        ended_at=obj.get("ended_at"),
        trial_end=obj.get("trial_end"),
        created=obj.get("created"),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        revision=int(revision),
    )


def enclave_owner(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(tenant, member, plan) if Enclave created this object (its metadata says so)."""
    meta = obj.get("metadata") or {}
    tenant, member, plan = meta.get(META_TENANT), meta.get(META_MEMBER), meta.get(META_PLAN)
    if isinstance(tenant, str) and isinstance(member, str) and isinstance(plan, str) and tenant and member and plan:
        return tenant, member, plan
    return None


# --- what a member has at a moment ---------------------------------------------------------
def effective_status(s: Snapshot, now: int) -> str:
    """Stripe's status, except that a scheduled end that has passed is an end already
    (Stripe cancels at that moment; its event may still be on its way)."""
    if not s.terminal and s.ends_at is not None and now >= s.ends_at:
        return "canceled"
    return s.status


def entitled(s: Snapshot, now: int) -> bool:
    return effective_status(s, now) in ENTITLED


# --- what a change means -----------------------------------------------------------------
@dataclass(frozen=True)
class DomainEvent:
    type: str
    #: derived from the cause, so a replay records nothing twice
    event_id: str
    occurred_at: int
    data: dict[str, Any]


def domain_events(before: Snapshot | None, after: Snapshot, activated_before: bool, paid_through: int | None,
                  plan_id: str) -> list[DomainEvent]:
    """Enclave's own membership events for the move ``before`` -> ``after``;
    ``paid_through`` is the period end the last activation/renewal announced."""
    sub, at = after.subscription_id, after.observed_at
    base = {"membership_id": sub, "plan_id": plan_id, "status": after.status,
            "current_period_end": iso(after.current_period_end)}
    events: list[DomainEvent] = []
    was = before.status if before else None
    if after.status in ENTITLED and not activated_before:
        events.append(DomainEvent("membership.activated", f"membership.activated:{sub}", at, base))
    elif (activated_before and after.status in ("active", "trialing")
          and (after.current_period_end or 0) > (paid_through or 0)):
        events.append(DomainEvent("membership.renewed", f"membership.renewed:{sub}:{after.current_period_end}", at,
                                  {**base, "trial_converted": was == "trialing" and after.status == "active"}))
    if after.status == "past_due" and was != "past_due":
        events.append(DomainEvent("membership.past_due", f"membership.past_due:{sub}:{after.current_period_end}",
                                  at, base))
    had_end = before.ends_at if before and not before.terminal else None
    if after.terminal and not (before and before.terminal) and (activated_before or after.status == "canceled"):
        events.append(DomainEvent("membership.canceled", f"membership.canceled:{sub}:ended", at,
                                  {**base, "ended": True, "ends_at": iso(after.ends_at)}))
    elif not after.terminal and after.ends_at is not None and had_end is None:
        events.append(DomainEvent("membership.canceled", f"membership.canceled:{sub}:scheduled:{after.moment_id}", at,
                                  {**base, "ended": False, "ends_at": iso(after.ends_at),
                                   "at_period_end": after.cancel_at_period_end}))
    elif not after.terminal and after.ends_at is None and had_end is not None:
        events.append(DomainEvent("membership.resumed", f"membership.resumed:{sub}:{after.moment_id}", at, base))
    return events
