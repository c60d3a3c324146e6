"""The ``points_expiry`` schedule: expires due lots and sends ``points.expiring`` notices.

It reads only balances that are due: each balance is listed in its tenant's sharded due
list (GSI1, ``T#<t>#POINTS_DUE#<n>``) under the time it next needs this pass (its first
expiry or expiry notice), so the pass is a Query per shard, never a scan. Reads do not
wait for it (they apply time themselves); it makes the ledger and the counters catch up.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...core import clock, observability as obs
from ...core.table import keys
from ...core.table.transactions import backoff, retrying
from ...tenants import service as tenants
from . import ledger, store
from .posting import Posting
from .program import Loaded, load

BATCH = 100
#: notices per member per pass (each is a domain event in the same transaction)
MAX_NOTICES = 20


@dataclass
class Tally:
    members: int = 0
    lots_expired: int = 0
    notices: int = 0


def _process(tenant_id: str, member_id: str, loaded: Loaded, now: datetime, tally: Tally) -> None:
    def write(_: int) -> tuple[int, int]:
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone, now)
        notice_before = clock.iso(now + timedelta(days=loaded.program.expiring_notice_days))
        due = ledger.due_notices(p.balance, p.now_iso, notice_before, MAX_NOTICES)
        for lot in due:
            p.domain_event("points.expiring", f"points.expiring:{member_id}:{lot.id}",
                           {"points": lot.points, "expires_at": lot.expires_at, "lot_id": lot.id})
        p.commit()
        return p.expired_lots, len(due)

    expired, notices = retrying(write, attempts=20, pause=lambda n: backoff(n, cap=0.25),
                                conflict="The member's points kept changing.")
    tally.members += 1
    tally.lots_expired += expired
    tally.notices += notices


def run_tenant(tenant_id: str, now: datetime | None = None) -> Tally:
    now = now or clock.now()
    tally = Tally()
    loaded = load(tenant_id)
    if not loaded.exists:  # without a program nothing expires (adjusted lots never do)
        return tally
    for shard in range(keys.POINTS_DUE_SHARDS):
        seen: set[str] = set()
        while True:
            items = [i for i in store.due_balances(tenant_id, shard, clock.iso(now), BATCH) if i.member_id not in seen]
            if not items:
                break
            for item in items:
                seen.add(item.member_id)
                _process(tenant_id, item.member_id, loaded, now, tally)
    if tally.lots_expired:
        obs.count("PointsLotsExpired", tenant_id, tally.lots_expired)
    return tally


def run(tenant_ids: Sequence[str] | None = None, now: datetime | None = None) -> dict[str, int]:
    tallies = tenants.for_each_tenant(lambda t: run_tenant(t, now), only=tenant_ids)
    return {"members": sum(t.members for t in tallies), "lots_expired": sum(t.lots_expired for t in tallies),
            "notices": sum(t.notices for t in tallies)}
