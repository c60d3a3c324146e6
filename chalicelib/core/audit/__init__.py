"""The audit log: who changed what, recorded in the transaction of the change itself.

A service stages the record next to its write, so a record exists exactly when the change
committed (a 4xx, a lost race or a crash leaves none)::

    tx = Transaction()
    tx.save("config", item)
    audit.stage(tx, tenant_id, "tier_program.replaced", "tier_program", tenant_id,
                before=old_body, after=new_body)
    tx.commit()

The actor and request id are not arguments: ``core.http`` binds them for each request
(``api_key:<id>`` or ``user:<sub>`` with its role) and schedules bind ``system:<name>``
(:func:`acting_as_system`), so no service can forget or forge them. Values are masked as
:mod:`core.audit.masking` says; erasing a member also removes the values of its records
(:func:`forget_member`, a ``members.erasing`` receiver wired in app.py). Records expire
after :data:`RETENTION` (the table's TTL).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import clock
from ..ids import new_id
from . import masking

if TYPE_CHECKING:  # core.http imports this module: it stays free of PynamoDB until a record is staged
    from ..signals import Delivery
    from ..table.transactions import Transaction
    from .store import AuditItem

RETENTION = timedelta(days=365)
MEMBER = masking.MEMBER


@dataclass(frozen=True)
class Actor:
    #: ``api_key:<key id>``, ``user:<sub>``, ``platform_admin:<sub>`` or ``system:<schedule>``
    id: str
    role: str | None = None
    request_id: str | None = None


_UNATTRIBUTED = Actor("system:unattributed")
_current: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def bind(actor: Actor) -> Token[Actor | None]:
    """Make ``actor`` the author of what this request does (core.http, per request)."""
    return _current.set(actor)


def unbind(token: Token[Actor | None]) -> None:
    _current.reset(token)


@contextmanager
def acting_as_system(name: str) -> Iterator[None]:
    """Changes made inside are ``system:<name>`` (a schedule's handler)."""
    token = bind(Actor(f"system:{name}"))
    try:
        yield
    finally:
        unbind(token)


def current() -> Actor:
    return _current.get() or _UNATTRIBUTED


def bound() -> Actor | None:
    """The actor bound now, None when nobody is (what :func:`current` calls unattributed)."""
    return _current.get()


def stage(tx: Transaction, tenant_id: str, action: str, target_type: str, target_id: str,
          before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None) -> AuditItem | None:
    """Add the record of a change to ``tx``; nothing when before and after are equal (a
    no-op is no change). ``before=None``: created; ``after=None``: deleted."""
    from . import store

    changes, truncated = masking.diff(target_type, before, after)
    if before is not None and after is not None and not changes:
        return None
    actor, now = current(), clock.now()
    event_id, at = new_id(), clock.iso(now)
    item = store.new_item(tenant_id, event_id, at, actor.id)
    item.tenant_id, item.event_id, item.at = tenant_id, event_id, at
    item.actor, item.actor_role = actor.id, actor.role
    item.request_id = (actor.request_id or "")[:128] or None
    item.action, item.target_type, item.target_id = action, target_type, target_id
    item.changes, item.truncated = changes, truncated
    item.ttl = int((now + RETENTION).timestamp())
    store.stage(tx, item)
    return item


@dataclass(frozen=True)
class Entry:
    """A change to record where a store builds the transaction: the service says what
    changed, the store calls ``entry.stage(tx)`` next to its writes."""

    tenant_id: str
    action: str
    target_type: str
    target_id: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None

    def stage(self, tx: Transaction) -> None:
        stage(tx, self.tenant_id, self.action, self.target_type, self.target_id, self.before, self.after)


def forget_member(delivery: Delivery) -> None:
    """Erasure (a ``members.erasing`` receiver): the member's records keep who did what
    and when, but no value of the member, not even a masked one. Idempotent."""
    from . import store

    assert delivery.member_id is not None
    now = clock.iso(clock.now())
    for item in store.by_target(delivery.tenant_id, MEMBER, delivery.member_id):
        if not item.erased_at:
            store.erase_values(item, masking.erased(list(item.changes or [])), now)


__all__ = ["Actor", "Entry", "MEMBER", "RETENTION", "acting_as_system", "bind", "bound", "current", "forget_member",
           "stage", "unbind"]
