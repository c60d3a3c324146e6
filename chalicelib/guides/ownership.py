"""Who serves a member: at most one guide, kept in one item of the member's collection
(``GUIDE``, optimistic version) and listed under the guide (GSI1), with a history entry and
a ``guide.assigned`` timeline event for every change, all in the change's transaction.

* A sign-up through a guide's channel code binds the member inside the member's own creating
  transaction (:func:`on_member_creating`, a ``members.MEMBER_CREATING`` participant (core.participants)).
* ``assign`` (admin) transfers with a version-checked write, retried on a lost race: twenty
  concurrent transfers of one member leave one owner and a history where each entry starts
  where the previous ended.
* A leaving guide's members move by a job (``guides.transfer``) that always takes the members
  still listed under the departing guide and moves each only while it is still theirs: a
  stopped and resumed job (or a step run twice) moves every member exactly once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..activity import service as activity
from ..core import clock, jobs
from ..core.errors import Conflict, NotFound, Unprocessable
from ..core.ids import is_id, new_id
from ..core.signals import Delivery
from ..core.table import counters, cursor, keys
from ..core.table.transactions import Transaction, TransactionCancelled, backoff, retrying
from ..core.tenancy import READ, WRITE, TenantContext
from ..members import service as members
from ..segments import filters as segment_filters
from ..segments import service as segments
from ..tags import service as tags
from . import counting, service, store
from .schemas import (
    AssignIn,
    GuideLeave,
    GuideMemberPage,
    GuideMembersQuery,
    HistoryEntry,
    LeaveOut,
    OwnershipOut,
)

TRANSFER_JOB = "guides.transfer"
#: members moved per job step (each its own transaction)
TRANSFER_BATCH = 50
#: members moved in one transaction (each ~4 items + shared counters and outbox; DynamoDB takes 100)
MOVES_PER_TRANSACTION = 10
#: a transfer racing others retries this often before a 409
MAX_ATTEMPTS = 60


@dataclass
class _Zones:
    """Store time zones, read once per operation."""

    tenant_id: str
    known: dict[str, str] = field(default_factory=dict)

    def of(self, store_id: str) -> str:
        if store_id not in self.known:
            item = store.get_store(self.tenant_id, store_id)
            self.known[store_id] = item.timezone if item else "UTC"
        return self.known[store_id]


def stage_move(tx: Transaction, tenant_id: str, member_id: str, before: store.OwnerItem | None,
               to: store.GuideItem, reason: str, by: str, now: datetime, zones: _Zones,
               event_id: str | None = None, count: bool = True) -> None:
    """Everything one change of guide writes, into ``tx``: the owner item (version-checked,
    or created if none), the history entry, the timeline event and (unless the caller adds
    them up for a batch, ``count=False``) the counters."""
    at = clock.iso(now)
    entry_id = new_id()
    owner = before or store.OwnerItem(keys.member(tenant_id, member_id), keys.GUIDE_OWNER_SK, member_id=member_id)
    previous = before.guide_id if before else None
    owner.guide_id, owner.store_id, owner.since, owner.reason = to.guide_id, to.store_id, at, reason
    owner.gsi1pk, owner.gsi1sk = keys.guide_members(tenant_id, to.guide_id), f"{at}#{member_id}"
    tx.save(f"owner:{member_id}", owner)  # PynamoDB conditions it on the version read (or on no item)
    tx.save(f"history:{member_id}", store.HistoryItem(
        keys.member(tenant_id, member_id), keys.guide_history_sk(at, entry_id), entry_id=entry_id,
        from_guide_id=previous, to_guide_id=to.guide_id, reason=reason, at=at, by=by))
    if count:
        _count_moves(tx, tenant_id, member_id, {(previous, to.guide_id, to.store_id): 1}, at, zones)
    activity.stage_domain_event(
        tx, tenant_id, member_id, "guide.assigned", event_id or f"guide.assigned:{member_id}:{entry_id}",
        {"from_guide_id": previous, "guide_id": to.guide_id, "store_id": to.store_id, "reason": reason}, now)


def _count_moves(tx: Transaction, tenant_id: str, seed: str, moves: dict[tuple[str | None, str, str], int],
                 at: str, zones: _Zones) -> None:
    """Counters of ``moves`` {(from guide, to guide, to store): n}, one update per counter
    (a transaction may touch each shard once)."""
    delta: dict[str, int] = {}
    for (previous, to_guide, to_store), n in moves.items():
        if previous:
            name = counting.name(tenant_id, counting.MEMBERS, previous)
            delta[name] = delta.get(name, 0) - n
        for what, month in ((counting.MEMBERS, None), (counting.BOUND, counting.month_of(at, zones.of(to_store)))):
            name = counting.name(tenant_id, what, to_guide, month)
            delta[name] = delta.get(name, 0) + n
    for name, n in delta.items():
        if n:
            counters.add(tx, name, seed, n)


# --- sign-up through a guide's code ------------------------------------------------------------------
def on_member_creating(tx: Transaction, tenant_id: str, member_id: str, data: dict[str, Any]) -> None:
    """A new member whose source channel is a guide's code is that guide's, from the same commit."""
    guide_id = service.guide_id_of_code((data.get("source") or {}).get("channel"))
    if not guide_id or not member_id:
        return
    guide = store.get_guide(tenant_id, guide_id)
    if guide is None or guide.status != "active":
        return  # a left guide's code still attributes the sign-up; nobody is bound
    stage_move(tx, tenant_id, member_id, None, guide, "signup", f"channel:{guide.channel_code}", clock.now(),
               _Zones(tenant_id))


# --- erasure --------------------------------------------------------------------------------------------
def forget_member(delivery: Delivery) -> None:
    """``members.MEMBER_ERASING``: the member leaves their guide's count (with the owner item,
    in one transaction, so a repeated erasure uncounts nothing twice) and their tasks, which
    hold texts rendered from the member's data, are deleted."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None
    owner = store.get_owner(tenant_id, member_id)
    if owner is not None:
        tx = Transaction()
        tx.delete("owner", owner, condition=store.OwnerItem.pk.exists())
        if owner.guide_id:
            counters.add(tx, counting.name(tenant_id, counting.MEMBERS, owner.guide_id), member_id, -1)
        try:
            tx.commit()
        except TransactionCancelled:
            pass  # gone meanwhile (a concurrent erasure did it)
    store.delete_tasks(tenant_id, store.task_ref_ids(tenant_id, member_id))


# --- assign / transfer -----------------------------------------------------------------------------------
def _active_guide(tenant_id: str, guide_id: str, field: str) -> store.GuideItem:
    guide = service.load_guide(tenant_id, guide_id, field=field)
    if guide.status != "active":
        raise Unprocessable("This guide has left.", field=field, code="guide_left")
    return guide


def assign(ctx: TenantContext, member_id: str, body: AssignIn) -> OwnershipOut:
    service.acting_guide(ctx, WRITE)
    if ctx.role == "guide":
        raise NotFound("No such member.", code="member_not_found")
    members.get_member(ctx, member_id)
    guide = _active_guide(ctx.tenant_id, body.guide_id, "guide_id")
    zones = _Zones(ctx.tenant_id)

    def attempt(_: int) -> None:
        before = store.get_owner(ctx.tenant_id, member_id)
        if before is not None and before.guide_id == guide.guide_id:
            return
        tx = Transaction()
        stage_move(tx, ctx.tenant_id, member_id, before, guide, body.reason, ctx.actor, clock.now(), zones)
        tx.commit()

    retrying(attempt, attempts=MAX_ATTEMPTS, pause=lambda n: backoff(n, cap=0.1),
             conflict="The member's guide is changing concurrently; try again.")
    return ownership(ctx, member_id)


def ownership(ctx: TenantContext, member_id: str) -> OwnershipOut:
    if service.acting_guide(ctx, READ) is not None:
        my_member(ctx, member_id)  # a guide reads only their own member's ownership
    else:
        members.get_member(ctx, member_id)
    owner = store.get_owner(ctx.tenant_id, member_id)
    entries = [HistoryEntry(id=h.entry_id, from_guide_id=h.from_guide_id, to_guide_id=h.to_guide_id,
                            reason=h.reason, at=h.at, by=h.by) for h in store.history(ctx.tenant_id, member_id)]
    return OwnershipOut(member_id=member_id, guide_id=owner.guide_id if owner else None,
                        store_id=owner.store_id if owner else None, since=owner.since if owner else None,
                        history=entries)


def guide_of_member(tenant_id: str, member_id: str) -> str | None:
    owner = store.get_owner(tenant_id, member_id)
    return owner.guide_id if owner else None


# --- a guide leaves ----------------------------------------------------------------------------------------
def leave(ctx: TenantContext, guide_id: str, body: GuideLeave) -> LeaveOut:
    service.acting_guide(ctx, WRITE)
    guide = service.load_guide(ctx.tenant_id, guide_id)
    if guide.status != "active":
        raise Conflict("This guide has already left.", code="guide_left")
    if body.transfer_to:
        targets = [_active_guide(ctx.tenant_id, body.transfer_to, "transfer_to").guide_id]
        if targets == [guide_id]:
            raise Unprocessable("A guide cannot take over their own members.", field="transfer_to",
                                code="same_guide")
    else:
        assert body.spread_over_store is not None
        service.load_store(ctx.tenant_id, body.spread_over_store, field="spread_over_store")
        targets = sorted(g.guide_id for g in store.list_guides(ctx.tenant_id, body.spread_over_store)
                         if g.status == "active" and g.guide_id != guide_id)
        if not targets:
            raise Unprocessable("The store has no other active guide.", field="spread_over_store",
                                code="no_active_guides")
    now = clock.iso(clock.now())
    guide.status, guide.left_at = "left", now
    tx = Transaction()
    job = jobs.stage(tx, TRANSFER_JOB, ctx.tenant_id, {"guide_id": guide_id, "targets": targets, "by": ctx.actor,
                                                       "total": service.member_count(ctx.tenant_id, guide_id)})
    guide.leave_job_id = job.job_id
    tx.save("guide", guide)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The guide changed meanwhile; try again.", code="concurrent_update") from exc
    return LeaveOut(guide=service.guide_out(guide), job_id=job.job_id)


def _transfer_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """Move the next members still listed under the departing guide, round robin over the
    targets (``n`` in the checkpoint keeps the spread even across resumptions), a few
    members per transaction."""
    assert tenant_id is not None
    departing, targets = params["guide_id"], params["targets"]
    moved = int((checkpoint or {}).get("n", 0))
    page, more = store.members_page(tenant_id, departing, None, TRANSFER_BATCH, newest_first=False)
    guides = store.get_guides(tenant_id, targets)
    zones = _Zones(tenant_id)
    changed = 0
    for start in range(0, len(page), MOVES_PER_TRANSACTION):
        chunk = [o.member_id for o in page[start:start + MOVES_PER_TRANSACTION]]

        def attempt(_: int, chunk: list[str] = chunk, base: int = moved) -> int:
            owners = store.get_owners(tenant_id, chunk)
            # only members still the departing guide's: a repeated step or a hand transfer moves nobody twice
            still = [owners[m] for m in chunk if m in owners and owners[m].guide_id == departing]
            if not still:
                return 0
            now = clock.now()
            tx = Transaction()
            moves: dict[tuple[str | None, str, str], int] = {}
            for n, before in enumerate(still):
                to = guides[targets[(base + n) % len(targets)]]
                stage_move(tx, tenant_id, before.member_id, before, to, "guide_left", params["by"], now, zones,
                           event_id=f"guide.assigned:{before.member_id}:{params['job_id']}", count=False)
                key = (departing, to.guide_id, to.store_id)
                moves[key] = moves.get(key, 0) + 1
            _count_moves(tx, tenant_id, f"{params['job_id']}:{still[0].member_id}", moves, clock.iso(now), zones)
            tx.commit()
            return len(still)

        n = retrying(attempt, attempts=MAX_ATTEMPTS, conflict="members kept changing")
        moved += n
        changed += n
    done = not more
    return jobs.Step(checkpoint=None if done else {"n": moved}, processed=len(page), changed=changed,
                     total=params.get("total"))


jobs.register(TRANSFER_JOB, _transfer_step)


# --- the guide's view -------------------------------------------------------------------------------------
def my_member(ctx: TenantContext, member_id: str) -> Any:
    """The member, if the calling guide serves them; 404 otherwise (like a missing member)."""
    guide = service.acting_guide(ctx, READ)  # staff have no members of their "own": 404 for them too
    owner = store.get_owner(ctx.tenant_id, member_id) if is_id(member_id) else None
    if guide is None or owner is None or owner.guide_id != guide.guide_id:
        raise NotFound("No such member.", code="member_not_found")
    return members.get_member(ctx, member_id)


def _members_page(ctx: TenantContext, guide_id: str, query: GuideMembersQuery) -> GuideMemberPage:
    scope = f"guide_members|{guide_id}|{query.segment_id or ''}"
    below = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    condition = segments.get_segment(ctx, query.segment_id).filter if query.segment_id else None
    owners, more = store.members_page(ctx.tenant_id, guide_id, below, query.limit)
    ids = [o.member_id for o in owners]
    profiles = members.profiles(ctx.tenant_id, ids)
    if condition is not None:
        snaps, now = tags.snapshots(ctx.tenant_id, ids), clock.now()
        ids = [m for m in ids if m in snaps and segment_filters.matches(condition, snaps[m], now)]
    data = [profiles[m] for m in ids if m in profiles]
    next_cursor = cursor.encode(ctx.tenant_id, scope, owners[-1].gsi1sk) if more and owners else None
    return GuideMemberPage(data=data, next_cursor=next_cursor)


def my_members(ctx: TenantContext, query: GuideMembersQuery) -> GuideMemberPage:
    guide = service.require_guide(ctx)
    return _members_page(ctx, guide.guide_id, query)


def members_of_guide(ctx: TenantContext, guide_id: str, query: GuideMembersQuery) -> GuideMemberPage:
    service.acting_guide(ctx, READ)
    if ctx.role == "guide":
        raise NotFound("No such guide.", code="guide_not_found")
    service.load_guide(ctx.tenant_id, guide_id)
    return _members_page(ctx, guide_id, query)
