"""A member's points as lots, and what each operation does to them (pure: times are ISO
strings passed in, nothing reads the clock or the table).

A lot is what one earning (an order, a check-in, an adjustment) left: its remaining
points, when it becomes available (pending until then) and when it expires. The balance
is the lots plus a ``deficit`` (points owed after a refund reversed points that were
already spent, under the ``allow_negative`` policy): available = released lots - deficit.

:func:`normalize` brings a balance to a moment: releases lots whose pending period ended,
expires lots whose time came, and pays the deficit from released lots (first to expire
first). Reads apply it to a copy (a read never shows expired or unreleased points as
available); writes apply it and record what it did.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NEVER = "9999-12-31T23:59:59.999Z"


class InsufficientPoints(Exception):
    def __init__(self, available: int) -> None:
        super().__init__(f"only {available} points available")
        self.available = available


@dataclass
class Lot:
    id: str
    points: int
    earned: int
    earned_at: str
    #: pending until this time; None once released
    available_at: str | None = None
    expires_at: str | None = None
    order_id: str | None = None
    #: the ``points.expiring`` notice went out for this lot
    notified: bool = False

    def pending(self) -> bool:
        return self.available_at is not None

    def expiry_key(self) -> tuple[str, str, str]:
        return (self.expires_at or NEVER, self.earned_at, self.id)


@dataclass
class Balance:
    lots: list[Lot] = field(default_factory=list)
    deficit: int = 0

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> Balance:
        data = data or {}
        return cls(lots=[Lot(**lot) for lot in data.get("lots", [])], deficit=int(data.get("deficit", 0)))

    def dump(self) -> dict[str, Any]:
        return {"lots": [asdict(lot) for lot in self.lots], "deficit": self.deficit}

    @property
    def available(self) -> int:
        return sum(lot.points for lot in self.lots if not lot.pending()) - self.deficit

    @property
    def pending(self) -> int:
        return sum(lot.points for lot in self.lots if lot.pending())

    def lot_of_order(self, order_id: str) -> Lot | None:
        return next((lot for lot in self.lots if lot.order_id == order_id), None)


@dataclass(frozen=True)
class Move:
    """What :func:`normalize` did: ``release`` (pending -> available) or ``expire``."""

    kind: str
    points: int
    lot_id: str
    at: str


def normalize(balance: Balance, now: str) -> list[Move]:
    """Release, expire and settle the deficit as of ``now``; the moves, in time order."""
    moves: list[Move] = []
    for lot in sorted(balance.lots, key=lambda lot: lot.available_at or ""):
        expired_first = (lot.expires_at is not None and lot.available_at is not None
                         and lot.expires_at <= lot.available_at)
        if lot.available_at is not None and lot.available_at <= now and not expired_first:
            moves.append(Move("release", lot.points, lot.id, lot.available_at))
            lot.available_at = None
    _settle(balance)
    for lot in sorted(balance.lots, key=Lot.expiry_key):
        if lot.expires_at is not None and lot.expires_at <= now and lot.points > 0:
            moves.append(Move("expire", lot.points, lot.id, lot.expires_at))
            lot.points = 0
    _drop_empty(balance)
    return moves


def _settle(balance: Balance) -> None:
    """Pay the deficit from released lots, first to expire first (available is unchanged)."""
    if balance.deficit > 0:
        balance.deficit -= _take(balance, balance.deficit, [lot for lot in balance.lots if not lot.pending()])


def _drop_empty(balance: Balance) -> None:
    balance.lots = [lot for lot in balance.lots if lot.points > 0]


def _take(balance: Balance, points: int, lots: list[Lot]) -> int:  # noqa: ARG001 - balance kept for symmetry
    """Take up to ``points`` from ``lots``, first to expire first; how many were taken."""
    taken = 0
    for lot in sorted(lots, key=Lot.expiry_key):
        if taken >= points:
            break
        part = min(lot.points, points - taken)
        lot.points -= part
        taken += part
    return taken


def add_lot(balance: Balance, lot: Lot) -> None:
    """A new lot; released interaction lots with the same expiry merge (bounded state)."""
    if lot.order_id is None and lot.available_at is None:
        for same in balance.lots:
            if (same.order_id is None and same.available_at is None and same.expires_at == lot.expires_at
                    and not same.notified):
                same.points += lot.points
                same.earned += lot.earned
                _settle(balance)
                _drop_empty(balance)
                return
    balance.lots.append(lot)
    _settle(balance)
    _drop_empty(balance)


def spend(balance: Balance, points: int) -> dict[str, int]:
    """Take ``points`` from available lots, first to expire first: ``{lot_id: taken}``."""
    if points > balance.available:
        raise InsufficientPoints(balance.available)
    taken: dict[str, int] = {}
    left = points
    for lot in sorted((lot for lot in balance.lots if not lot.pending()), key=Lot.expiry_key):
        if left == 0:
            break
        part = min(lot.points, left)
        lot.points -= part
        left -= part
        taken[lot.id] = part
    _drop_empty(balance)
    return taken


@dataclass(frozen=True)
class Reversal:
    #: points taken from lots (the order's own lot first, then released lots)
    taken: int
    #: points the balance now owes (allow_negative)
    owed: int
    #: points that could not be taken back (clamp_at_zero)
    shortfall: int

    @property
    def reversed(self) -> int:
        return self.taken + self.owed


def reverse(balance: Balance, order_id: str | None, points: int, allow_negative: bool) -> Reversal:
    """Take back ``points`` an order earned: from its own lot (pending or not), then from
    released lots; the rest is owed (allow_negative) or recorded as a shortfall."""
    own = balance.lot_of_order(order_id) if order_id else None
    taken = _take(balance, points, [own]) if own else 0
    taken += _take(balance, points - taken, [lot for lot in balance.lots if not lot.pending() and lot is not own])
    rest = points - taken
    owed, shortfall = (rest, 0) if allow_negative else (0, rest)
    balance.deficit += owed
    _drop_empty(balance)
    return Reversal(taken=taken, owed=owed, shortfall=shortfall)


def release_order(balance: Balance, order_id: str, at: str) -> Lot | None:
    """The order can no longer be returned: its pending lot becomes available at ``at``."""
    lot = balance.lot_of_order(order_id)
    if lot is not None and lot.available_at is not None and lot.available_at > at:
        lot.available_at = at
    return lot


def expiring(balance: Balance, now: str, until: str) -> list[tuple[str, int]]:
    """(expires_at, points) of lots expiring after ``now`` and by ``until``, soonest first,
    net of the deficit (which the first of them pays)."""
    result: list[tuple[str, int]] = []
    owed = balance.deficit
    for lot in sorted((lot for lot in balance.lots if not lot.pending()), key=Lot.expiry_key):
        part = lot.points - min(owed, lot.points)
        owed -= lot.points - part
        if lot.expires_at is not None and now < lot.expires_at <= until and part > 0:
            if result and result[-1][0] == lot.expires_at:
                result[-1] = (lot.expires_at, result[-1][1] + part)
            else:
                result.append((lot.expires_at, part))
    return result


def due_notices(balance: Balance, now: str, notice_before: str, limit: int = 20) -> list[Lot]:
    """Up to ``limit`` lots whose expiry notice is due (they expire by ``notice_before``) and
    not yet sent, soonest first; marks them notified."""
    due = sorted((lot for lot in balance.lots
                  if not lot.notified and lot.expires_at is not None and now < lot.expires_at <= notice_before),
                 key=Lot.expiry_key)[:limit]
    for lot in due:
        lot.notified = True
    return due


def next_due(balance: Balance, notice: Any) -> str | None:
    """When the expiry pass next needs this balance: the first expiry or notice time.
    ``notice(expires_at)`` gives a lot's notice time."""
    times = []
    for lot in balance.lots:
        if lot.expires_at is None:
            continue
        times.append(lot.expires_at)
        if not lot.notified:
            times.append(notice(lot.expires_at))
    return min(times) if times else None
