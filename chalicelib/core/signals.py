"""Signals: what must happen because a write committed, delivered at least once.

A capability declares a :class:`Signal` ("an event was recorded", "a tier moved", "a tag
came or went") and raises it *inside* the transaction of the write that caused it::

    EVENT_RECORDED = Signal("activity.event_recorded")
    EVENT_RECORDED.stage(tx, tenant_id, member_id, {"event": payload})
    tx.commit()

``stage`` adds one outbox item to the transaction (all signals of one transaction share
it), so the promise commits with the write or not at all. Right after the commit the same
process delivers it: every receiver runs, in order, and the item is deleted. If the
process dies first, or a receiver raises, the item stays listed by due time and the
``outbox_sweeper`` schedule delivers it again (with backoff), skipping receivers that
already ran; after :data:`MAX_ATTEMPTS` it is parked in a dead list for operators.

Receivers are wired in app.py (``EVENT_RECORDED.connect(tags.on_event)``) and get a
:class:`Delivery`. They must be idempotent: a receiver may run again after a crash. Its
``Delivery.id`` is the same on every redelivery, so a receiver that creates something
(an enrolment) can claim that id to do it once.

``send_now`` is the synchronous form for work that must happen *before* a write (erasure
listeners forget the member before the profile goes): errors reach the caller.

History: signals staged inside :func:`history` (an import loading a brand's past members
and orders) carry ``"history": true`` and reach only the receivers connected with
``history=True`` (rule tags: they describe what a member did, whenever). Every other
receiver (journeys, points, coupons, referrals, guides, outbound webhooks) acts on live
events only: a migration must not send a million welcome messages, earn points twice
or post five million ``order.paid`` webhooks.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import clock, observability as obs, wiring
from .ids import new_id
from .table import outbox as store
from .table.definition import OUTBOX_SHARDS
from .table.transactions import Transaction

#: the sweeper leaves a fresh item alone this long: the writer is delivering it right now
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 10
SWEEP_BATCH = 100
_BACKOFF = (30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True)
class Delivery:
    """One signal, as a receiver gets it."""

    #: stable across redeliveries of this signal: ``<outbox id>.<index>``
    id: str
    signal: str
    tenant_id: str
    member_id: str | None
    data: dict[str, Any]


Receiver = Callable[[Delivery], object]
_SIGNALS: dict[str, Signal] = {}
#: set inside :func:`history`: signals staged there are marked as history
_history: ContextVar[bool] = ContextVar("signals_history", default=False)
HISTORY = "history"


@contextmanager
def history() -> Iterator[None]:
    """Signals staged inside are history (see the module's doc): only receivers connected
    with ``history=True`` get them."""
    token = _history.set(True)
    try:
        yield
    finally:
        _history.reset(token)


def is_history(data: dict[str, Any]) -> bool:
    return bool(data.get(HISTORY))


def receiver_name(receiver: Callable[..., object]) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', repr(receiver))}"


class Signal:
    def __init__(self, name: str) -> None:
        if name in _SIGNALS:
            raise ValueError(f"signal {name!r} is declared twice")
        self.name = name
        self._receivers: list[Receiver] = []
        self._wired = -1  # core.wiring's generation last pulled
        #: receiver name -> "does it want this signal?" (tenant id, data); see :meth:`connect`
        self.wants: dict[str, Callable[[str, dict[str, Any]], bool]] = {}
        #: names of the receivers that also act on history (see :func:`history`)
        self.takes_history: set[str] = set()
        _SIGNALS[name] = self

    @property
    def receivers(self) -> list[Receiver]:
        """The connected receivers, in order; reading them first connects those app.py
        named (core.wiring: imported when the signal is first used, not at cold start)."""
        if self._wired != wiring.generation:
            generation = wiring.generation
            wiring.resolve(self)
            self._wired = generation
        return self._receivers

    @receivers.setter
    def receivers(self, value: list[Receiver]) -> None:
        self._receivers = value

    def connect(self, receiver: Receiver, wants: Callable[[str, dict[str, Any]], bool] | None = None,
                history: bool = False) -> Receiver:
        """Add a receiver (app.py wires them); connecting the same one twice is a no-op.
        ``wants(tenant_id, data)``, when given, lets :meth:`stage` skip the outbox item when
        no receiver wants the signal (a tenant without event subscriptions pays no write).
        ``history``: the receiver also gets signals staged inside :func:`history`."""
        _ = self.receivers  # app.py's receivers (core.wiring) come first, as when it connected them at import
        return self.attach(receiver, wants, history)

    def attach(self, receiver: Receiver, wants: Callable[[str, dict[str, Any]], bool] | None = None,
               history: bool = False) -> Receiver:
        """:meth:`connect` without pulling app.py's connections first (core.wiring's own)."""
        if receiver_name(receiver) not in {receiver_name(r) for r in self._receivers}:
            self._receivers.append(receiver)
        if wants is not None:
            self.wants[receiver_name(receiver)] = wants
        if history:
            self.takes_history.add(receiver_name(receiver))
        return receiver

    def receivers_of(self, data: dict[str, Any]) -> list[Receiver]:
        """The receivers ``data`` goes to: all of them, or for history those that take it."""
        if not is_history(data):
            return self.receivers
        return [r for r in self.receivers if receiver_name(r) in self.takes_history]

    def wanted(self, tenant_id: str, data: dict[str, Any]) -> bool:
        """Whether any receiver may act on it (one without a ``wants`` always may; with no
        receiver connected it is staged as before, for whoever connects later)."""
        if not self.receivers:
            return True
        for receiver in self.receivers_of(data):
            wants = self.wants.get(receiver_name(receiver))
            if wants is None or wants(tenant_id, data):
                return True
        return False

    def disconnect(self, receiver: Receiver) -> None:
        self.receivers = [r for r in self.receivers if receiver_name(r) != receiver_name(receiver)]

    def stage(self, tx: Transaction, tenant_id: str, member_id: str | None, data: dict[str, Any]) -> None:
        """Raise the signal as part of ``tx``: delivered after it commits, at least once
        (nothing is staged when no receiver wants it)."""
        if _history.get():
            data = {**data, HISTORY: True}
        if not self.wanted(tenant_id, data):
            return
        item = tx.outbox
        if item is None:
            now = clock.now()
            item = store.new_item(tenant_id, member_id, new_id(), clock.iso(now), clock.iso(now + LEASE))
            store.stage(tx, item)
            tx.outbox = item
            tx.after_commit(lambda: deliver(item))
        elif item.tenant_id != tenant_id:
            raise ValueError("one transaction's signals belong to one tenant")
        item.signals.append({"name": self.name, "member_id": member_id, "data": data})

    def send_now(self, tenant_id: str, member_id: str | None, data: dict[str, Any]) -> None:
        """Run every receiver now, in this process; the first error propagates."""
        for receiver in self.receivers:
            receiver(Delivery(id=new_id(), signal=self.name, tenant_id=tenant_id, member_id=member_id, data=data))


def deliver(item: store.OutboxItem, now: datetime | None = None) -> bool:
    """Run the receivers of every signal in ``item`` that have not run yet; delete the
    item when all succeeded (True), else record progress and the next attempt."""
    done = set(item.done or ())
    error: str | None = None
    for index, raised in enumerate(item.signals):
        signal = _SIGNALS.get(raised["name"])
        if signal is None:  # its capability is not imported in this process yet (the sweeper)
            wiring.import_sources()
            signal = _SIGNALS.get(raised["name"])
        if signal is None:
            obs.logger.warning("outbox holds a signal nothing declares", extra={"signal": raised["name"]})
            continue
        delivery = Delivery(id=f"{item.outbox_id}.{index}", signal=signal.name, tenant_id=item.tenant_id,
                            member_id=raised.get("member_id"), data=raised.get("data") or {})
        for receiver in signal.receivers_of(delivery.data):
            key = f"{index}:{receiver_name(receiver)}"
            if key in done:
                continue
            try:
                receiver(delivery)
            except Exception as exc:  # noqa: BLE001 - kept in the outbox and retried by the sweeper
                obs.logger.exception("signal receiver failed; the outbox will retry it",
                                     extra={"signal": signal.name, "receiver": receiver_name(receiver),
                                            "tenant_id": item.tenant_id, "outbox_id": item.outbox_id})
                error = f"{receiver_name(receiver)}: {type(exc).__name__}"
            else:
                done.add(key)
    if error is None:
        store.delete(item)
        return True
    now = now or clock.now()
    item.done = done or None
    item.attempts = int(item.attempts or 0) + 1
    item.last_error = error[:500]
    if item.attempts >= MAX_ATTEMPTS:
        obs.logger.error("outbox item gave up; parked in the dead list",
                         extra={"tenant_id": item.tenant_id, "outbox_id": item.outbox_id, "error": error})
        obs.count("OutboxDead", item.tenant_id)
        store.save(item, None)
    else:
        wait = _BACKOFF[min(item.attempts - 1, len(_BACKOFF) - 1)]
        store.save(item, clock.iso(now + timedelta(seconds=wait)))
    return False


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The ``outbox_sweeper`` schedule: deliver every item whose due time passed (a writer
    that died after its commit, a receiver that failed). Each item is claimed first (a
    version-checked push of its due time), so two sweepers never deliver one together."""
    now = now or clock.now()
    delivered = failed = 0
    for shard in range(OUTBOX_SHARDS):
        for item in store.due(shard, clock.iso(now), SWEEP_BATCH):
            fresh = store.get(item.tenant_id, item.member_id, item.outbox_id)
            if fresh is None or fresh.due_at > clock.iso(now):
                continue  # delivered meanwhile, or claimed by another sweeper
            if not store.save(fresh, clock.iso(now + LEASE)):
                continue
            try:
                ok = deliver(fresh, now)
            except Exception:  # noqa: BLE001 - one bad item must not stop the sweep
                obs.logger.exception("outbox delivery failed", extra={"outbox_id": fresh.outbox_id})
                ok = False
            delivered += ok
            failed += not ok
    return {"delivered": delivered, "failed": failed}
