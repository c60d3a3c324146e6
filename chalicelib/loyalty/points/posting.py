"""One write to a member's points: read the balance, bring it to now (release, expire,
settle), apply an operation, and commit the balance (version-checked), its ledger
entries, the analytics counters and the domain events in ONE transaction.

A concurrent writer to the same balance cancels the transaction; callers run a posting
inside ``retrying()`` so it is redone on a fresh read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...activity import service as activity
from ...core import clock
from ...core.ids import new_id
from ...core.table import counters, keys
from ...core.table.transactions import Transaction
from . import ledger, store
from .ledger import Balance
from .rules import PointsProgram, local_month

#: counted per month (tenant time zone): what the analytics report shows
FLOW_KINDS = ("earned", "spent", "expired", "reversed", "adjusted")
_FLOW_OF = {"earn": "earned", "spend": "spent", "expire": "expired", "reverse": "reversed", "adjust": "adjusted"}


def liability_counter(tenant_id: str) -> str:
    return keys.counter(tenant_id, "points", "liability")


def flow_counter(tenant_id: str, kind: str, month: str) -> str:
    return keys.counter(tenant_id, f"points_{kind}", month)


@dataclass
class Posting:
    tenant_id: str
    member_id: str
    program: PointsProgram
    tz: str
    now: datetime
    item: store.BalanceItem
    balance: Balance
    tx: Transaction = field(default_factory=Transaction)
    entries: list[store.LedgerItem] = field(default_factory=list)
    #: (counter name -> delta), summed so each counter item is touched once per transaction
    deltas: dict[str, int] = field(default_factory=dict)
    expired_lots: int = 0

    @classmethod
    def open(cls, tenant_id: str, member_id: str, program: PointsProgram, tz: str,
             now: datetime | None = None) -> Posting:
        now = now or clock.now()
        item = store.get_balance(tenant_id, member_id) or store.new_balance(tenant_id, member_id)
        posting = cls(tenant_id, member_id, program, tz, now, item, Balance.load(item.data))
        posting.apply_time()
        return posting

    @property
    def now_iso(self) -> str:
        return clock.iso(self.now)

    def apply_time(self) -> None:
        """Record what time did since the last write: releases and expiries (one entry each)."""
        moves = ledger.normalize(self.balance, self.now_iso)
        for kind in ("release", "expire"):
            done = [m for m in moves if m.kind == kind]
            if done:
                total = sum(m.points for m in done)
                self.entry(kind, total if kind == "release" else -total, {"lots": [m.lot_id for m in done]},
                           effective_at=max(m.at for m in done))
                self.expired_lots += len(done) if kind == "expire" else 0

    def entry(self, kind: str, points: int, cause: dict[str, Any], effective_at: str | None = None,
              shortfall: int = 0) -> store.LedgerItem:
        """A ledger entry; ``points`` is the signed change of available + pending (a release's
        points are the amount moved, outside the liability)."""
        at = effective_at or self.now_iso
        item = store.LedgerItem(entry_id=new_id(), kind=kind, points=points, at=self.now_iso, effective_at=at,
                                cause={k: v for k, v in cause.items() if v is not None}, shortfall=shortfall,
                                available_after=self.balance.available, pending_after=self.balance.pending)
        self.entries.append(item)
        if kind in _FLOW_OF:
            self.count(liability_counter(self.tenant_id), points)
            flow = abs(points) if kind != "adjust" else points
            self.count(flow_counter(self.tenant_id, _FLOW_OF[kind], local_month(clock.parse(at), self.tz)), flow)
        return item

    def count(self, name: str, delta: int) -> None:
        self.deltas[name] = self.deltas.get(name, 0) + delta

    def claim(self, event_id: str) -> None:
        store.stage_claim(self.tx, self.tenant_id, self.member_id, event_id, self.now_iso)

    def domain_event(self, event_type: str, event_id: str, data: dict[str, Any]) -> None:
        """A journey trigger (``points.earned`` ...), committed with this write."""
        activity.stage_domain_event(self.tx, self.tenant_id, self.member_id, event_type, event_id, data, self.now)

    def expires_at(self, earned_at: datetime) -> str | None:
        from .rules import expires_at

        at = expires_at(earned_at, self.program.expiry, self.tz)
        return clock.iso(at) if at else None

    def due_at(self) -> str | None:
        notice = timedelta(days=self.program.expiring_notice_days)
        return ledger.next_due(self.balance, lambda exp: clock.iso(clock.parse(exp) - notice))

    def commit(self) -> None:
        for entry in self.entries:
            store.stage_entry(self.tx, self.tenant_id, self.member_id, entry)
        for name, delta in self.deltas.items():
            if delta:
                counters.add(self.tx, name, self.member_id, delta)
        store.stage_balance(self.tx, self.item, self.balance.dump(), self.balance.available, self.balance.pending,
                            self.due_at())
        self.tx.commit()
