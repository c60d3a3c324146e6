"""One import row applied through the capability that owns it: a member upserted by
identity (``members.service``), an order recorded as an ``order.paid`` event whose id is
derived from the order id (``activity.service``), so a row applied twice changes nothing
the second time: aggregates, tiers and RFM count each order once.

Rows are history (``core.signals.history``): what they stage reaches only the receivers that
take history (rule tags), so loading a brand's past enrols no journey, earns no points, posts
no outbound webhooks and counts no guide's sales; aggregates, tiers, RFM and the timeline
are written in the row's own transaction as for a live event.

Each function answers True when the row changed something (a member created, an order
recorded) and raises ``RowError`` (field, message) when the row cannot be applied, or
``Busy`` when it lost races with concurrent writers of the same member (another range of
the import, live traffic) more often than the service retries: the page tries it again.
"""
from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError

from ...activity import service as activity
from ...activity.schemas import EventBatch
from ...core import signals
from ...core.errors import Problem
from ...core.tenancy import TenantContext
from ...members import service as members
from ...members.schemas import MemberCreate
from .parsing import RowError, birthday, integer, nest


class Busy(Exception):
    """The row lost its races (a 409 ``concurrent_update``): not the row's fault, try again."""


BUSY = "concurrent_update"


def _validation_error(exc: ValidationError) -> RowError:
    err = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function", "constrained")))
    return RowError(field, str(err["msg"]))


def apply_member(ctx: TenantContext, row: dict[str, Any]) -> bool:
    payload = nest(row)
    if "birthday" in payload:
        payload["birthday"] = birthday(payload["birthday"])
    try:
        body = MemberCreate.model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    try:
        with signals.history():
            _, created = members.upsert_member(ctx, body)
    except Problem as problem:
        if problem.code == BUSY:
            raise Busy(problem.detail or problem.title) from None
        raise RowError(problem.field or "", problem.detail or problem.title) from None
    return created


def order_event_id(order_id: str) -> str:
    """The event id of an imported order: the same order id always gives the same event."""
    text = f"import-order:{order_id}"
    if len(text) <= 128 and text.isascii() and text.isprintable() and " " not in text:
        return text
    return "import-order#" + hashlib.sha256(order_id.encode()).hexdigest()


def apply_order(ctx: TenantContext, row: dict[str, Any]) -> bool:
    event = nest(row)
    if "order_id" not in event:
        raise RowError("order_id", "order_id is required")
    event["amount"] = integer("amount", event.get("amount", ""))
    if isinstance(event.get("items"), str):
        raise RowError("items", "order lines are taken from JSON Lines files only")
    event.update(type="order.paid", event_id=order_event_id(str(event["order_id"])), order_id=str(event["order_id"]))
    with signals.history():
        result = activity.ingest(ctx, EventBatch.model_validate({"events": [event]})).results[0]
    if result.status == "accepted":
        return True
    if result.status == "duplicate":
        return False
    error = result.error or {}
    if error.get("code") == BUSY:
        raise Busy(str(error.get("detail") or "concurrent update"))
    if error.get("code") == "order_exists":  # recorded before under another event id: counted once already
        return False
    field = str(error.get("field") or "").removeprefix("events[0]").lstrip(".")
    raise RowError(field, str(error.get("detail") or error.get("title") or "rejected"))
