"""Members: one identity is one member, across every channel the brand sells on.

Rules kept here (no HTTP, no PynamoDB):

* ``upsert``: a request whose phone/email/channel id is known returns that member (and
  fills in what the member lacks, never overwriting); unknown identities make a new member.
  Identities of two different members in one request are a 409 naming both. Concurrent
  upserts of one identity converge on one member: the transaction that loses the identity
  item's conditional put retries and then finds the winner.
* ``source`` (first-touch attribution) is set once; its channel must be a known code.
* Erasure keeps a tombstone (id, times, source channel) and frees the identities.
"""
from __future__ import annotations

import calendar
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from ..core import audit, clock, idempotency, jobs, observability as obs
from ..core.errors import Conflict, Gone, NotFound, Unprocessable
from ..core.ids import is_id, new_id
from ..core.objects import objects
from ..core.participants import Join
from ..core.schema import Download
from ..core.signals import Signal
from ..core.table import cursor, keys
from ..core.table.definition import MEMBER_LIST_SHARDS
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled, retrying
from ..core.tenancy import TenantContext
from ..tenants import service as tenants
from . import store
from .identities import EMAIL, PHONE, normalize_channel_id, normalize_email, normalize_phone
from .schemas import (
    ChannelCreate,
    ChannelIdKind,
    ChannelListQuery,
    ChannelOut,
    ChannelPage,
    ConsentChannel,
    ConsentIn,
    IdentityOut,
    LookupQuery,
    MemberCreate,
    MemberExport,
    MemberExportLink,
    MemberListQuery,
    MemberOut,
    MemberPage,
    MemberPatch,
    Source,
)

#: Raised in the transaction of the write: ``{"member": <the member as the API shows it>}``
#: (erased: ``{"member_id": ...}``, staged outside the member's collection, which erasure
#: empties). Receivers: outbound event subscriptions.
MEMBER_CREATED = Signal("members.created")
MEMBER_UPDATED = Signal("members.updated")
MEMBER_ERASED = Signal("members.erased")


def _staging(signal: Signal, item: store.MemberItem) -> store.Staging:
    """The member as the API will show it once the write commits (its version one up)."""
    def stage(tx: Transaction) -> None:
        member = to_out(item.__class__(item.pk, item.sk, **{**item.attribute_values,
                                                            "version": int(item.version or 0) + 1}))
        signal.stage(tx, item.tenant_id, item.member_id, {"member_id": item.member_id,
                                                          "member": member.model_dump(mode="json")})
    return stage


#: attempts of an upsert that keeps losing races before it answers 409 "try again"
MAX_ATTEMPTS = 5


def _default_country(tenant_id: str) -> str:
    return tenants.tenant_settings(tenant_id).default_country


# --- mapping ----------------------------------------------------------------------------
_NON_CHANNEL_KINDS = (PHONE, EMAIL)


def to_out(item: store.MemberItem) -> MemberOut:
    ids = dict(item.identities or {})
    return MemberOut(
        id=item.member_id,
        phone=ids.get(PHONE),
        email=ids.get(EMAIL),
        channel_ids={k: v for k, v in ids.items() if k not in _NON_CHANNEL_KINDS},
        name=item.name,
        birthday=item.birthday,
        gender=item.gender,
        attributes=item.attributes or {},
        consents=item.consents or {},
        source=item.source,
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=item.version,
    )


def _audited(item: store.MemberItem) -> dict[str, Any]:
    """The member as its audit records compare it (core.audit masks the personal values)."""
    ids = dict(item.identities or {})
    return {"phone": ids.get(PHONE), "email": ids.get(EMAIL),
            "channel_ids": {k: v for k, v in ids.items() if k not in _NON_CHANNEL_KINDS},
            "name": item.name, "birthday": item.birthday, "gender": item.gender, "attributes": item.attributes or {},
            "consents": item.consents or {}, "source": item.source}


def _identities(tenant_id: str, phone: str | None, email: str | None,
                channel_ids: Mapping[ChannelIdKind, str | None] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if phone:
        found[PHONE] = normalize_phone(phone, _default_country(tenant_id))
    if email:
        found[EMAIL] = normalize_email(email)
    for kind, value in (channel_ids or {}).items():
        if value is not None:
            found[kind] = normalize_channel_id(value)
    return found


def _consents(given: Mapping[ConsentChannel, ConsentIn], now: str) -> dict[str, dict[str, Any]]:
    return {
        channel: {"granted": c.granted, "at": clock.iso(c.at) if c.at else now}
        for channel, c in given.items()
    }


def _source(source: Source | None) -> dict[str, Any] | None:
    if source is None:
        return None
    data = source.model_dump(exclude_none=True)
    return data or None


def _list_keys(item: store.MemberItem) -> None:
    """Place the member in the tenant-wide list and, if attributed, its channel's list. A
    listed member keeps its shard (listed when there were fewer shards, it stays found)."""
    sort_key = keys.member_list_sk(item.created_at, item.member_id)
    shard = keys.list_shard(item.gsi1pk) if item.gsi1pk else keys.shard_of(item.member_id, MEMBER_LIST_SHARDS)
    item.gsi1pk, item.gsi1sk = keys.members_list(item.tenant_id, shard), sort_key
    channel = (item.source or {}).get("channel")
    if channel:
        item.gsi2pk, item.gsi2sk = keys.members_by_channel(item.tenant_id, channel, shard), sort_key


def _raise_for(exc: TransactionCancelled, tenant_id: str) -> None:
    """Turn a cancelled member write into the client's error, if it is the client's."""
    if "channel" in exc.failed:
        raise Unprocessable("source.channel is not a channel code of this tenant.",
                            field="source.channel", code="unknown_channel")
    if "referrer" in exc.failed:
        raise Unprocessable("source.referrer_member_id is not a member of this tenant.",
                            field="source.referrer_member_id", code="unknown_referrer")


def _load(ctx: TenantContext, member_id: str) -> store.MemberItem:
    item = store.get_member(ctx.tenant_id, member_id) if is_id(member_id) else None
    if item is None:
        raise NotFound("No such member.", code="member_not_found")
    if item.erased_at:
        raise Gone("This member was erased.", code="member_erased")
    return item


# --- upsert ---------------------------------------------------------------------------
def upsert_member(ctx: TenantContext, body: MemberCreate) -> tuple[MemberOut, bool]:
    """(member, created): an existing member for a known identity, else a new one."""
    identities = _identities(ctx.tenant_id, body.phone, body.email, body.channel_ids)

    def attempt(_: int) -> tuple[MemberOut, bool]:
        found = store.find_identities(ctx.tenant_id, identities)
        owners = sorted(set(found.values()))
        if len(owners) > 1:
            raise Conflict(
                "These identities belong to different members.",
                code="identities_of_different_members",
                member_ids=owners,
                identities=dict(sorted(found.items())),
            )
        try:
            if not owners:
                return to_out(_create(ctx, body, identities)), True
            presented = _presenting(ctx, owners[0], body, identities)
            member = _merge_into(ctx, owners[0], body, identities, found)
            if member is not None:
                presented.commit()
        except TransactionCancelled as exc:
            _raise_for(exc, ctx.tenant_id)
            raise  # lost a race for an identity or the profile version: look again
        if member is None:
            raise StaleVersion("the owner of the identities vanished: look again")
        return to_out(member), False

    return retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The member is being changed concurrently; try again.")


def _create(ctx: TenantContext, body: MemberCreate, identities: dict[str, str]) -> store.MemberItem:
    now = clock.iso(clock.now())
    member_id = new_id()
    item = store.MemberItem(
        keys.member(ctx.tenant_id, member_id), keys.PROFILE_SK,
        tenant_id=ctx.tenant_id, member_id=member_id, identities=identities,
        name=body.name, birthday=body.birthday.model_dump() if body.birthday else None,
        gender=body.gender, attributes=dict(body.attributes), consents=_consents(body.consents, now),
        source=_source(body.source), created_at=now, updated_at=now,
    )
    _list_keys(item)
    source: dict[str, Any] = dict(item.source or {})
    data = {"source": source, "created_at": now, "identities": dict(identities),
            "referral_code": body.referral_code, "device_id": body.device_id}
    after = _audited(item)

    def contribute(tx: Transaction) -> None:
        MEMBER_CREATING.stage(tx, ctx.tenant_id, member_id, data)
        if source != dict(item.source or {}):  # a participant completed it (a referral's referrer)
            item.source = after["source"] = dict(source) or None

    store.create_member(item, now, audit.Entry(ctx.tenant_id, "member.created", audit.MEMBER, member_id,
                                               None, after),
                        _staging(MEMBER_CREATED, item), contribute)
    obs.count("MemberCreated", ctx.tenant_id)
    return item


def _presenting(ctx: TenantContext, member_id: str, body: MemberCreate, identities: dict[str, str]) -> Transaction:
    """What an existing member's request with a referral code records (the referral capability
    notes it, e.g. rejected as ``not_new``; it never re-attributes): staged before the merge, so
    an unknown code refuses the request before anything is written."""
    tx = Transaction()
    if body.referral_code:
        MEMBER_MATCHED.stage(tx, ctx.tenant_id, member_id, {"identities": dict(identities),
                                                            "referral_code": body.referral_code,
                                                            "device_id": body.device_id})
    return tx


def _merge_into(ctx: TenantContext, member_id: str, body: MemberCreate, identities: dict[str, str],
                found: dict[str, str]) -> store.MemberItem | None:
    """Fill what the member lacks from ``body``; None if the member vanished (retry)."""
    member = store.get_member(ctx.tenant_id, member_id)
    if member is None or member.erased_at:
        return None
    before = _audited(member)
    current = dict(member.identities or {})
    new = {k: v for k, v in identities.items() if k not in found}
    clashes = sorted(k for k in new if k in current)
    if clashes:
        raise Conflict(
            f"Member {member_id} already has a different {clashes[0]}; change it with PATCH.",
            code="identity_mismatch", field=clashes[0], member_id=member_id,
        )
    changed = bool(new)
    now = clock.iso(clock.now())
    for name in ("name", "gender"):
        if getattr(member, name) is None and getattr(body, name) is not None:
            setattr(member, name, getattr(body, name))
            changed = True
    birthday_was = member.birthday
    if member.birthday is None and body.birthday is not None:
        member.birthday, changed = body.birthday.model_dump(), True
    missing_attrs = {k: v for k, v in body.attributes.items() if k not in (member.attributes or {})}
    if missing_attrs:
        member.attributes, changed = {**(member.attributes or {}), **missing_attrs}, True
    missing_consents = {k: v for k, v in body.consents.items() if k not in (member.consents or {})}
    if missing_consents:
        member.consents, changed = {**(member.consents or {}), **_consents(missing_consents, now)}, True
    new_source = None
    if member.source is None and _source(body.source):
        member.source = new_source = _source(body.source)
        _list_keys(member)
        changed = True
    if not changed:
        return member
    member.identities = {**current, **new}
    member.updated_at = now
    store.update_member(member, added=new, removed={}, now=now, new_source=new_source, birthday_was=birthday_was,
                        audit=audit.Entry(ctx.tenant_id, "member.updated", audit.MEMBER, member_id,
                                          before, _audited(member)),
                        signal=_staging(MEMBER_UPDATED, member))
    return member


def resolve_member(ctx: TenantContext, member_id: str | None, phone: str | None, email: str | None,
                   channel_ids: dict[ChannelIdKind, str], create_unknown: bool) -> str:
    """The id of the member an event names: by id (404/410 if not a live member of this
    tenant), or by identities; unknown identities create a prospect member when
    ``create_unknown``, else 422."""
    if member_id:
        return _load(ctx, member_id).member_id
    identities = _identities(ctx.tenant_id, phone, email, channel_ids)
    owners = sorted(set(store.find_identities(ctx.tenant_id, identities).values()))
    if len(owners) > 1:
        raise Conflict("These identities belong to different members.", code="identities_of_different_members",
                       field="member", member_ids=owners)
    if owners:
        return owners[0]
    if not create_unknown:
        raise Unprocessable("No member has these identities (this tenant does not create members from events).",
                            field="member", code="unknown_member")
    member, _ = upsert_member(ctx, MemberCreate(phone=phone, email=email, channel_ids=channel_ids))
    return member.id


def profiles(tenant_id: str, member_ids: list[str]) -> dict[str, MemberOut]:
    """Live members by id (erased and unknown ids are left out); for segments and jobs."""
    return {mid: to_out(item) for mid, item in store.get_members(tenant_id, member_ids).items() if not item.erased_at}


def member_ids_page(tenant_id: str, channel: str | None, shard: int, after: str | None,
                    limit: int) -> list[tuple[str, str]]:
    """One page of (position, member id) of the tenant's member list, or of a source
    channel's list, in one of its shards; ``position`` is the ``after`` of the next page."""
    return store.member_ids_page(tenant_id, channel, shard, after, limit)


def channel_member_count(tenant_id: str, code: str) -> int:
    return store.channel_member_count(tenant_id, code)


def member_count(tenant_id: str) -> int:
    """Live members of the tenant (O(1): a sharded counter)."""
    return store.member_count(tenant_id)


#: a whole-member walk of a tenant with fewer members runs as one range over every shard:
#: 32 child jobs cost more than they save for a small tenant
FAN_OUT_MIN = 2000


def member_ranges(tenant_id: str) -> list[list[int]]:
    """The independent ranges (lists of member list shards) a walk of every member of the
    tenant fans out over: one per shard, or a single one for a small tenant."""
    n = 1 if store.member_count(tenant_id) < FAN_OUT_MIN else MEMBER_LIST_SHARDS
    return [list(range(k, MEMBER_LIST_SHARDS, n)) for k in range(n)]


def range_page(tenant_id: str, shards: list[int], checkpoint: dict[str, Any] | None, limit: int
               ) -> tuple[list[str], dict[str, Any] | None]:
    """One page of member ids of a range (its shards one after the other): (ids, the next
    checkpoint, None at the range's end)."""
    cp = checkpoint or {}
    i, after = int(cp.get("i", 0)), cp.get("after")
    page = store.member_ids_page(tenant_id, None, shards[i], after, limit)
    ids = [m for _, m in page]
    if len(page) >= limit:
        return ids, {"i": i, "after": page[-1][0]}
    return ids, ({"i": i + 1, "after": None} if i + 1 < len(shards) else None)


#: Participants add to a new member's creating transaction (data: ``source``, ``created_at``,
#: ``identities`` (normalized), ``referral_code``, ``device_id``): a sign-up through a guide's code
#: is bound to that guide in the same commit. A participant may add ``referrer_member_id`` to
#: ``data["source"]`` (referrals do): the member is saved with it.
MEMBER_CREATING = Join("members.creating")
#: Participants add to a transaction of their own when an EXISTING member is upserted with a
#: ``referral_code`` (data: ``identities``, ``referral_code``, ``device_id``); a Problem refuses the request.
MEMBER_MATCHED = Join("members.matched")


#: Sent, synchronously, before a member's collection is deleted: every capability forgets
#: the member (counters included) first; a receiver's error fails the erasure, and a repeated
#: erasure sends it again (receivers are idempotent). Receivers get no data.
MEMBER_ERASING = Signal("members.erasing")


# --- read, change, erase --------------------------------------------------------------
# --- the birthday index -----------------------------------------------------------------------
BIRTHDAY_INDEX_JOB, BIRTHDAY_RANGE_JOB = "birthday_index", "birthday_index_range"
BIRTHDAY_PAGE = 100
#: tenants whose index is complete, per container (once complete it stays so: every
#: profile write keeps its entry)
_birthday_index_done: set[str] = set()


def ensure_birthday_index(tenant_id: str) -> bool:
    """Whether every member of the tenant is in the birthday index. If not, starts the
    one-off backfill of the members created before the index existed (one job per tenant,
    a repeated start is a no-op); until it is done, callers walk the member list."""
    if tenant_id in _birthday_index_done:
        return True
    if store.birthday_index_complete(tenant_id):
        _birthday_index_done.add(tenant_id)
        return True
    jobs.start(BIRTHDAY_INDEX_JOB, tenant_id, {}, job_id="BIRTHDAY-INDEX")
    return False


def birthday_member_ids(tenant_id: str, day: date, checkpoint: dict[str, Any] | None
                        ) -> tuple[list[str], dict[str, Any] | None]:
    """One page of the members whose birthday falls on ``day`` (29 February counts on
    28 February in other years), from the index: (ids, next checkpoint or None)."""
    days = [f"{day:%m-%d}"]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        days.append("02-29")
    cp = checkpoint or {"day": 0, "after": None}
    which = int(cp["day"])
    ids = store.birthday_ids_page(tenant_id, days[which], cp.get("after"), BIRTHDAY_PAGE)
    if len(ids) >= BIRTHDAY_PAGE:
        return ids, {"day": which, "after": ids[-1]}
    return ids, ({"day": which + 1, "after": None} if which + 1 < len(days) else None)


def _birthday_index_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None
                         ) -> jobs.Step:
    """The backfill fans out over the member list's ranges; once every range is done the
    index is complete. (A checkpoint of the earlier sequential walk restarts as a fan-out:
    adding an entry is conditional, so members already done are not added twice.)"""
    assert tenant_id is not None
    if not (checkpoint or {}).get("ranges"):
        ranges = member_ranges(tenant_id)
        return jobs.Step(checkpoint={"ranges": len(ranges)}, fan_out=[
            jobs.Child(BIRTHDAY_RANGE_JOB, tenant_id, {"shards": shards}) for shards in ranges])
    job = jobs.get_job(tenant_id, params["job_id"])  # its ranges' progress was added to it
    if job is not None and job.progress.get("error_count"):  # a failed range: the index is not complete
        raise RuntimeError(f"a range of the birthday index backfill failed: {job.progress.get('errors')}"[:500])
    store.mark_birthday_index_complete(tenant_id, clock.iso(clock.now()))
    return jobs.Step(checkpoint=None)


def _birthday_range_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None
                         ) -> jobs.Step:
    """One page of one range of the member list: each member with a birthday and no entry gets one."""
    assert tenant_id is not None
    ids, nxt = range_page(tenant_id, params["shards"], checkpoint, BIRTHDAY_PAGE)
    added = sum(store.add_to_birthday_index(tenant_id, member_id, item.birthday)
                for member_id, item in store.get_members(tenant_id, ids).items() if not item.erased_at)
    return jobs.Step(checkpoint=nxt, processed=len(ids), changed=added)


jobs.register(BIRTHDAY_INDEX_JOB, _birthday_index_step)
jobs.register(BIRTHDAY_RANGE_JOB, _birthday_range_step)


def get_member(ctx: TenantContext, member_id: str) -> MemberOut:
    return to_out(_load(ctx, member_id))


def update_member(ctx: TenantContext, member_id: str, patch: MemberPatch) -> MemberOut:
    member = _load(ctx, member_id)
    if patch.version != member.version:
        raise Conflict(f"The member is at version {member.version}.", field="version",
                       code="version_conflict", current_version=member.version)
    given = patch.model_fields_set
    before = _audited(member)
    now = clock.iso(clock.now())
    old = dict(member.identities or {})
    new = dict(old)
    if "phone" in given:
        new.pop(PHONE, None)
        new.update(_identities(ctx.tenant_id, patch.phone, None, None))
    if "email" in given:
        new.pop(EMAIL, None)
        new.update(_identities(ctx.tenant_id, None, patch.email, None))
    for kind, value in (patch.channel_ids or {}).items():
        new.pop(kind, None)
        if value is not None:
            new[kind] = normalize_channel_id(value)
    if not new:
        raise Unprocessable("A member keeps at least one identity.", field="phone", code="last_identity")
    added = {k: v for k, v in new.items() if old.get(k) != v}
    removed = {k: v for k, v in old.items() if new.get(k) != v}
    member.identities = new
    for name in ("name", "gender"):
        if name in given:
            setattr(member, name, getattr(patch, name))
    birthday_was = member.birthday
    if "birthday" in given:
        member.birthday = patch.birthday.model_dump() if patch.birthday else None
    if patch.attributes:
        merged = {**(member.attributes or {}), **patch.attributes}
        member.attributes = {k: v for k, v in merged.items() if v is not None}
    if patch.consents:
        member.consents = {**(member.consents or {}), **_consents(patch.consents, now)}
    new_source = None
    if "source" in given and _source(patch.source) != member.source:
        if member.source:
            raise Conflict("source is set once, at first touch.", field="source", code="source_already_set")
        member.source = new_source = _source(patch.source)
        _list_keys(member)
    member.updated_at = now
    try:
        store.update_member(member, added=added, removed=removed, now=now, new_source=new_source,
                            birthday_was=birthday_was,
                            audit=audit.Entry(ctx.tenant_id, "member.updated", audit.MEMBER, member_id,
                                              before, _audited(member)),
                            signal=_staging(MEMBER_UPDATED, member))
    except TransactionCancelled as exc:
        _raise_for(exc, ctx.tenant_id)
        taken = sorted(label.split(":", 1)[1] for label in exc.failed if label.startswith("identity:"))
        if taken:
            owner = store.find_identities(ctx.tenant_id, {taken[0]: new[taken[0]]}).get(taken[0])
            raise Conflict(f"This {taken[0]} belongs to another member.", field=taken[0],
                           code="identity_taken", member_ids=sorted({member_id, owner} - {None})) from exc
        raise Conflict("The member changed meanwhile; read it and try again.", field="version",
                       code="version_conflict") from exc
    return to_out(member)


def erase_member(ctx: TenantContext, member_id: str) -> None:
    """Erasure: PII removed, identities freed, tombstone kept. Repeating it is harmless."""
    member = store.get_member(ctx.tenant_id, member_id) if is_id(member_id) else None
    if member is None:
        raise NotFound("No such member.", code="member_not_found")
    MEMBER_ERASING.send_now(ctx.tenant_id, member_id, {})
    idempotency.forget_member(ctx.tenant_id, member_id)  # stored responses that hold the member's data
    others = [i for i in store.member_collection(ctx.tenant_id, member_id) if i.sk != keys.PROFILE_SK]
    if member.erased_at:
        for item in others:
            item.delete()
        return
    identities = dict(member.identities or {})
    channel = (member.source or {}).get("channel")
    now = clock.iso(clock.now())
    member.identities, member.name, member.birthday, member.gender = {}, None, None, None
    member.attributes, member.consents = {}, {}
    member.source = {"channel": channel} if channel else None
    member.gsi1pk = member.gsi1sk = member.gsi2pk = member.gsi2sk = None
    member.erased_at = member.updated_at = now
    try:
        store.erase_member(member, identities, channel, others,
                           audit.Entry(ctx.tenant_id, "member.erased", audit.MEMBER, member_id),
                           lambda tx: MEMBER_ERASED.stage(tx, ctx.tenant_id, None, {"member_id": member_id}))
    except TransactionCancelled as exc:
        raise Conflict("The member changed meanwhile; try again.", code="concurrent_update") from exc
    obs.count("MemberErased", ctx.tenant_id)


def export_member(ctx: TenantContext, member_id: str) -> MemberExportLink:
    """Everything stored about the member (data-subject access), as a JSON file in S3
    (``tenants/<t>/exports/members/...``, encrypted, deleted by the bucket's lifecycle) behind
    a presigned URL: a member with years of history outgrows an API Gateway answer."""
    member = _load(ctx, member_id)
    records = [json.loads(json.dumps(r, default=str)) for r in store.export_records(ctx.tenant_id, member_id)]
    now = clock.now()
    document = MemberExport(
        exported_at=clock.iso(now),
        member=to_out(member),
        identities=[IdentityOut(kind=k, value=v) for k, v in sorted((member.identities or {}).items())],
        records=records,
    )
    key = keys.object_key(ctx.tenant_id, "exports", "members", member_id, f"{now:%Y%m%dT%H%M%S%f}.json")
    objects().write(key, [document.model_dump_json().encode()], "application/json", "export")
    link = objects().presign_get(key, f"member-{member_id}.json")
    return MemberExportLink(status="succeeded", exported_at=document.exported_at,
                            download=Download(url=link.url, expires_at=clock.iso(link.expires_at)))


def lookup_member(ctx: TenantContext, query: LookupQuery) -> MemberOut:
    if query.channel and query.external_id:
        wanted: dict[str, str] = {query.channel: normalize_channel_id(query.external_id)}
    else:
        wanted = _identities(ctx.tenant_id, query.phone, query.email, None)
    found = store.find_identities(ctx.tenant_id, wanted)
    if not found:
        raise NotFound("No member has this identity.", code="member_not_found")
    return to_out(_load(ctx, next(iter(found.values()))))


def list_members(ctx: TenantContext, query: MemberListQuery) -> MemberPage:
    after = clock.iso(query.created_after) if query.created_after else None
    scope = f"members|{query.channel or ''}|{after or ''}"
    below = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    if query.channel:
        partitions, index = keys.members_by_channel_shards(ctx.tenant_id, query.channel), "gsi2"
    else:
        partitions, index = keys.members_list_shards(ctx.tenant_id), "gsi1"
    # '~' sorts after every id character: "after T" excludes members created at T itself
    page = store.list_members(partitions, index, below, f"{after}#~" if after else None, query.limit)
    next_cursor = None
    if page.more and page.items:
        last = page.items[-1]
        next_cursor = cursor.encode(ctx.tenant_id, scope, last.gsi1sk)
    return MemberPage(data=[to_out(m) for m in page.items], next_cursor=next_cursor)


# --- channels ------------------------------------------------------------------------
def _channel_out(item: store.ChannelItem, count: int | None = None) -> ChannelOut:
    return ChannelOut(code=item.code, name=item.name, platform=item.platform, description=item.description,
                      created_at=item.created_at, member_count=count,
                      type="guide" if item.type == "guide" else "channel")


def stage_guide_channel(tx: Transaction, tenant_id: str, code: str, name: str) -> None:
    """A guide's personal channel code, typed ``guide``, written in the guide's own transaction."""
    store.stage_channel(tx, store.ChannelItem(
        keys.channels(tenant_id), keys.channel_sk(code), code=code, name=name[:100], platform="guide",
        created_at=clock.iso(clock.now()), type="guide"))


def create_channel(ctx: TenantContext, body: ChannelCreate) -> ChannelOut:
    item = store.ChannelItem(
        keys.channels(ctx.tenant_id), keys.channel_sk(body.code), code=body.code, name=body.name,
        platform=body.platform, description=body.description, created_at=clock.iso(clock.now()),
    )
    after = {"name": body.name, "platform": body.platform, "description": body.description}
    if not store.create_channel(item, audit.Entry(ctx.tenant_id, "channel.created", "channel", body.code, None,
                                                  json.loads(json.dumps(after, default=str)))):
        raise Conflict(f"The channel code '{body.code}' exists.", field="code", code="channel_exists")
    return _channel_out(item, 0)


def get_channel(ctx: TenantContext, code: str) -> ChannelOut:
    item = store.get_channel(ctx.tenant_id, code) if len(code) <= 64 else None
    if item is None:
        raise NotFound("No such channel.", code="channel_not_found")
    return _channel_out(item, store.channel_member_count(ctx.tenant_id, code))


def list_channels(ctx: TenantContext, query: ChannelListQuery) -> ChannelPage:
    after = cursor.decode(query.cursor, ctx.tenant_id, "channels") if query.cursor else None
    items, last = store.list_channels(ctx.tenant_id, after, query.limit)
    return ChannelPage(
        data=[_channel_out(i) for i in items],
        next_cursor=cursor.encode(ctx.tenant_id, "channels", last) if last else None,
    )
