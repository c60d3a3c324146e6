"""Which event types exist and which an endpoint's patterns select.

An endpoint subscribes with exact types (``order.paid``), a namespace wildcard
(``member.*``: every type under ``member.``) or ``*`` (everything). A pattern that selects
no known type is an error the API reports (422), never a silent subscription to nothing.
"""
from __future__ import annotations

from collections.abc import Iterable

#: every event type Enclave emits, with what causes it
EVENT_TYPES: dict[str, str] = {
    "member.created": "a member was created (API, or an event naming an unknown identity)",
    "member.updated": "a member's profile changed",
    "member.erased": "a member was erased (the data carries the id only)",
    "member.tier_changed": "a member's tier moved",
    "member.stage_changed": "a member's lifecycle stage moved",
    "member.tag_added": "a member got a tag",
    "member.tag_removed": "a member lost a tag",
    "order.paid": "an order was recorded",
    "order.refunded": "an order was (partly) refunded",
    "interaction.recorded": "an interaction (follow, page view, check-in...) was recorded",
    "membership.activated": "a paid membership started",
    "membership.renewed": "a paid membership renewed",
    "membership.past_due": "a renewal payment failed",
    "membership.canceled": "a paid membership ended or was set to end",
    "membership.resumed": "a scheduled cancellation was undone",
    "membership.renewal_upcoming": "a paid membership renews or ends in 7 days",
    "coupon.granted": "a journey granted a coupon",
    "coupon.issued": "a coupon was issued to a member (by hand, a job, a journey or a reward)",
    "coupon.redeemed": "a member's coupon was redeemed by an order",
    "points.earned": "a member earned points (an order, an interaction rule)",
    "points.expiring": "a lot of a member's points expires soon (once per lot)",
    "points.redeemed": "a member spent points (a redemption or a reward)",
    "group.completed": "a member's group-buy completed (every member paid): its reward was given",
    "group.failed": "a member's group-buy missed its deadline: nobody is rewarded (refund those who paid)",
    "journey.message_sent": "a journey's message was sent (its channel accepted it)",
    "journey.message_failed": "a journey's message failed for good",
    "journey.message_blocked": "a journey's SMS was blocked by the tenant's daily cap",
    "webhook_endpoint.disabled": "one of the tenant's endpoints was disabled after failing for days",
}
MAX_PATTERNS = 50


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be subscribed to, or None."""
    if pattern == "*" or pattern in EVENT_TYPES:
        return None
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        if any(t.startswith(prefix) for t in EVENT_TYPES):
            return None
        return f"no event type starts with '{prefix}'"
    return f"'{pattern}' is not an event type"


def matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def selected(patterns: Iterable[str]) -> list[str]:
    """The known types the patterns select (for the endpoint's description)."""
    kept = list(patterns)
    return [t for t in EVENT_TYPES if matches(kept, t)]
