"""Participants: another capability's writes joined to a write's OWN transaction.

A :class:`~core.signals.Signal` runs after the commit, at least once. Some work must
instead commit or fail *with* the write: an order that carries coupon codes redeems them in
the order's own transaction, and a coupon whose condition fails rejects the order. The
writing capability declares a :class:`Join` and stages it while it builds its transaction;
the other capability connects a participant in app.py, so the writer never imports it
(activity -> loyalty would be a cycle)::

    ORDER_PAID = Join("activity.order_paid")
    ORDER_PAID.stage(tx, tenant_id, member_id, {"order_id": ..., "coupon_codes": [...]})
    tx.commit()

A participant adds its actions to ``tx`` (labels of its own: the writer maps only its own
labels) and may raise a ``core.errors.Problem`` to refuse the whole write. It runs again
when the writer retries a lost race, so it reads afresh each time and stays idempotent.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import wiring
from .table.transactions import Transaction

Participant = Callable[[Transaction, str, str, dict[str, Any]], None]
_JOINS: dict[str, Join] = {}


class Join:
    def __init__(self, name: str) -> None:
        if name in _JOINS:
            raise ValueError(f"join {name!r} is declared twice")
        self.name = name
        self._participants: list[Participant] = []
        self._wired = -1  # core.wiring's generation last pulled
        _JOINS[name] = self

    @property
    def participants(self) -> list[Participant]:
        """The connected participants; reading them first connects those app.py named
        (core.wiring)."""
        if self._wired != wiring.generation:
            generation = wiring.generation
            wiring.resolve(self)
            self._wired = generation
        return self._participants

    @participants.setter
    def participants(self, value: list[Participant]) -> None:
        self._participants = value

    def connect(self, participant: Participant) -> Participant:
        """Add a participant (app.py wires them); connecting the same one twice is a no-op."""
        _ = self.participants  # app.py's participants (core.wiring) come first
        return self.attach(participant)

    def attach(self, participant: Participant) -> Participant:
        """:meth:`connect` without pulling app.py's connections first (core.wiring's own)."""
        if participant not in self._participants:
            self._participants.append(participant)
        return participant

    def disconnect(self, participant: Participant) -> None:
        self.participants = [p for p in self.participants if p is not participant]

    def stage(self, tx: Transaction, tenant_id: str, member_id: str, data: dict[str, Any]) -> None:
        """Let every participant add its writes to ``tx``; the first Problem raised refuses it."""
        for participant in self.participants:
            participant(tx, tenant_id, member_id, data)
