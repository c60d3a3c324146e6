"""Tags: groups (single or multi choice), tags set by hand, by rules on every event, and in
bulk; system groups mirroring tier, stage and RFM; expiry; coverage analytics; and the
member snapshots segments evaluate.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..core import audit, clock, jobs, observability as obs, signals
from ..core.errors import Conflict, NotFound, Problem, Unprocessable
from ..core.ids import is_id, new_id
from ..core.signals import Delivery, Signal
from ..core.table import generations
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled, retrying
from ..core.tenancy import TenantContext
from ..loyalty.points import service as points
from ..members import service as members
from ..segments import filters
from ..tenants import service as tenants
from ..tiers import rules as tier_rules
from ..tiers import service as tiers
from . import store
from .schemas import (
    MAX_GROUPS,
    MAX_RULES,
    MAX_TAGS_PER_GROUP,
    MAX_TAGS_PER_MEMBER,
    BulkJobOut,
    BulkTagIn,
    GroupCoverage,
    MemberTagIn,
    MemberTagList,
    MemberTagOut,
    TagAnalytics,
    TagCount,
    TagCreate,
    TagGroupCreate,
    TagGroupList,
    TagGroupOut,
    TagGroupPatch,
    TagList,
    TagOut,
    TagPatch,
    TagRuleCreate,
    TagRuleList,
    TagRuleOut,
    TagRulePatch,
)

SYSTEM_GROUPS = {"tier": "Tier", "stage": "Lifecycle stage", "rfm": "RFM segment"}
BACKFILL_JOB, BULK_JOB = "tag_rule_backfill", "bulk_tag"
MAX_ATTEMPTS = 40
PAGE = 100


# --- groups and tags --------------------------------------------------------------------------------
def _group_out(g: store.TagGroupItem) -> TagGroupOut:
    return TagGroupOut(id=g.group_id, name=g.name, selection=g.selection, description=g.description,
                       created_at=g.created_at)


def _system_tags(tenant_id: str, group_id: str) -> list[TagOut]:
    if group_id == "tier":
        values = [(t.id, t.name) for t in tiers.load_config(tenant_id).program.tiers]
    elif group_id == "stage":
        values = [(s, s.replace("_", " ")) for s in tier_rules.STAGES]
    else:
        values = [(s, s.replace("_", " ")) for s in tier_rules.RFM_SEGMENTS]
    return [TagOut(id=f"{group_id}:{v}", group_id=group_id, name=n, system=True) for v, n in values]


def list_groups(ctx: TenantContext) -> TagGroupList:
    system = [TagGroupOut(id=g, name=n, selection="single", system=True) for g, n in SYSTEM_GROUPS.items()]
    return TagGroupList(data=system + [_group_out(g) for g in store.list_groups(ctx.tenant_id)])


def _load_group(ctx: TenantContext, group_id: str) -> store.TagGroupItem:
    if group_id in SYSTEM_GROUPS:
        raise Unprocessable("System groups are read-only.", field="group_id", code="system_group_read_only")
    group = store.get_group(ctx.tenant_id, group_id) if is_id(group_id) else None
    if group is None:
        raise NotFound("No such tag group.", code="tag_group_not_found")
    return group


def get_group(ctx: TenantContext, group_id: str) -> TagGroupOut:
    if group_id in SYSTEM_GROUPS:
        return TagGroupOut(id=group_id, name=SYSTEM_GROUPS[group_id], selection="single", system=True)
    return _group_out(_load_group(ctx, group_id))


def _audited(item: Any, *fields: str) -> dict[str, Any]:
    """A group, tag or rule as its audit records compare it (a copy: the item changes after)."""
    return json.loads(json.dumps({f: getattr(item, f) for f in fields}, default=str))


_GROUP_FIELDS = ("name", "selection", "description")
_TAG_FIELDS = ("name", "description", "group_id")
_RULE_FIELDS = ("name", "tag_id", "when", "expires_after_days", "enabled")


def create_group(ctx: TenantContext, body: TagGroupCreate) -> TagGroupOut:
    group_id = new_id()
    item = store.TagGroupItem(store.groups_pk(ctx.tenant_id), f"G#{group_id}", group_id=group_id, name=body.name,
                              selection=body.selection, description=body.description,
                              created_at=clock.iso(clock.now()))
    try:
        store.create_group(ctx.tenant_id, item, MAX_GROUPS, audit.Entry(
            ctx.tenant_id, "tag_group.created", "tag_group", group_id, None, _audited(item, *_GROUP_FIELDS)))
    except TransactionCancelled as exc:
        if "quota:tag_groups" in exc.failed:
            raise Unprocessable(f"A tenant has at most {MAX_GROUPS} tag groups.", code="limit_exceeded",
                                field="name") from exc
        raise
    return _group_out(item)


def update_group(ctx: TenantContext, group_id: str, body: TagGroupPatch) -> TagGroupOut:
    group = _load_group(ctx, group_id)
    before = _audited(group, *_GROUP_FIELDS)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None or name == "description":
            setattr(group, name, value)
    store.save_group(ctx.tenant_id, group, audit.Entry(ctx.tenant_id, "tag_group.updated", "tag_group", group_id,
                                                       before, _audited(group, *_GROUP_FIELDS)))
    return _group_out(group)


def delete_group(ctx: TenantContext, group_id: str) -> None:
    group = _load_group(ctx, group_id)
    if store.list_group_tags(ctx.tenant_id, group_id):
        raise Conflict("Delete the group's tags first.", code="tag_group_not_empty")
    store.delete_group(ctx.tenant_id, group, audit.Entry(ctx.tenant_id, "tag_group.deleted", "tag_group", group_id,
                                                         _audited(group, *_GROUP_FIELDS), None))


def _tag_out(t: store.TagItem) -> TagOut:
    return TagOut(id=t.tag_id, group_id=t.group_id, name=t.name, description=t.description, created_at=t.created_at)


def list_tags(ctx: TenantContext, group_id: str) -> TagList:
    if group_id in SYSTEM_GROUPS:
        return TagList(data=_system_tags(ctx.tenant_id, group_id))
    _load_group(ctx, group_id)
    return TagList(data=sorted((_tag_out(t) for t in store.list_group_tags(ctx.tenant_id, group_id)),
                               key=lambda t: t.name))


def _load_tag(ctx: TenantContext, group_id: str | None, tag_id: str) -> store.TagItem:
    tag = store.get_tag(ctx.tenant_id, tag_id) if is_id(tag_id) else None
    if tag is None or (group_id is not None and tag.group_id != group_id):
        raise NotFound("No such tag.", code="tag_not_found")
    return tag


def get_tag(ctx: TenantContext, group_id: str, tag_id: str) -> TagOut:
    if group_id in SYSTEM_GROUPS:
        found = next((t for t in _system_tags(ctx.tenant_id, group_id) if t.id == tag_id), None)
        if found is None:
            raise NotFound("No such tag.", code="tag_not_found")
        return found
    return _tag_out(_load_tag(ctx, group_id, tag_id))


def create_tag(ctx: TenantContext, group_id: str, body: TagCreate) -> TagOut:
    _load_group(ctx, group_id)
    tag_id = new_id()
    item = store.TagItem(store.tag_pk(ctx.tenant_id, tag_id), "TAG", tag_id=tag_id, group_id=group_id,
                         name=body.name, description=body.description, created_at=clock.iso(clock.now()))
    item.gsi2pk, item.gsi2sk = store.group_tags_list(ctx.tenant_id, group_id), tag_id
    try:
        store.create_tag(ctx.tenant_id, item, MAX_TAGS_PER_GROUP, audit.Entry(
            ctx.tenant_id, "tag.created", "tag", tag_id, None, _audited(item, *_TAG_FIELDS)))
    except TransactionCancelled as exc:
        if "group" in exc.failed:
            raise NotFound("No such tag group.", code="tag_group_not_found") from exc
        if any(f.startswith("quota:") for f in exc.failed):
            raise Unprocessable(f"A group has at most {MAX_TAGS_PER_GROUP} tags.", code="limit_exceeded",
                                field="name") from exc
        raise
    return _tag_out(item)


def update_tag(ctx: TenantContext, group_id: str, tag_id: str, body: TagPatch) -> TagOut:
    _load_group(ctx, group_id)
    tag = _load_tag(ctx, group_id, tag_id)
    before = _audited(tag, *_TAG_FIELDS)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None or name == "description":
            setattr(tag, name, value)
    store.save_tag(ctx.tenant_id, tag, audit.Entry(ctx.tenant_id, "tag.updated", "tag", tag_id, before,
                                                   _audited(tag, *_TAG_FIELDS)))
    return _tag_out(tag)


def delete_tag(ctx: TenantContext, group_id: str, tag_id: str) -> None:
    _load_group(ctx, group_id)
    tag = _load_tag(ctx, group_id, tag_id)
    holders = live_tag_counts(ctx.tenant_id, [tag_id])[tag_id]  # expired holders do not block (the sweep drops them)
    if holders:
        raise Conflict(f"{holders} members hold this tag; remove it from them first (bulk remove).",
                       code="tag_in_use", members=holders)
    if any(r.tag_id == tag_id for r in store.list_rules(ctx.tenant_id)):
        raise Conflict("A tag rule applies this tag; delete the rule first.", code="tag_in_use")
    store.delete_tag(ctx.tenant_id, tag, audit.Entry(ctx.tenant_id, "tag.deleted", "tag", tag_id,
                                                     _audited(tag, *_TAG_FIELDS), None))


# --- member tags --------------------------------------------------------------------------------------
def _live(entries: dict[str, Any], now: datetime) -> dict[str, Any]:
    now_iso = clock.iso(now)
    return {k: v for k, v in entries.items() if not v.get("exp") or v["exp"] > now_iso}


def _tagset_race(exc: StaleVersion | TransactionCancelled) -> bool:
    """Only a lost race on the tag set is retried (another failed condition is an answer)."""
    return not (isinstance(exc, TransactionCancelled) and exc.failed - {"tagset"} and not exc.conflict)


def _retry(action: Callable[[], bool]) -> bool:
    return retrying(lambda _: action(), attempts=MAX_ATTEMPTS, retry_if=_tagset_race,
                    conflict="The member's tags kept changing; try again.")


#: Raised in the transaction of every write that gives a member a tag or takes one away;
#: receivers (journeys triggered by "tag added") get ``{"tag_id": ..., "added": bool}``.
TAG_CHANGED = Signal("tags.tag_changed")


def _raise_tag_moves(tx: Transaction, tenant_id: str, member_id: str, before: dict[str, Any],
                     after: dict[str, Any]) -> None:
    for tag_id in sorted(set(before) | set(after)):
        if (tag_id in before) != (tag_id in after):
            TAG_CHANGED.stage(tx, tenant_id, member_id, {"tag_id": tag_id, "added": tag_id in after})


def _update_tagset(tenant_id: str, member_id: str,
                   change: Callable[[dict[str, Any], datetime], dict[str, Any] | None],
                   audit_action: str | None = None) -> bool:
    """Read-modify-write of the member's tag set, retried on a lost version race;
    ``change(before, now)`` returns the new tags, or None for "nothing to do". Tags that
    came or went are raised as :data:`TAG_CHANGED` in the same transaction."""

    def attempt() -> bool:
        tagset = store.get_tagset(tenant_id, member_id) or store.new_tagset(tenant_id, member_id)
        before = dict(tagset.tags or {})
        after = change(before, clock.now())
        if after is None:
            return False
        tx = Transaction()
        store.stage_tagset(tx, tagset, before, after)
        _raise_tag_moves(tx, tenant_id, member_id, before, after)
        if audit_action:  # by hand or by a schedule (rule and bulk tags are not audited one by one)
            audit.stage(tx, tenant_id, audit_action, audit.MEMBER, member_id,
                        {"tags": dict.fromkeys(before, True)}, {"tags": dict.fromkeys(after, True)})
        tx.commit()
        return True

    return _retry(attempt)


def apply_tag(tenant_id: str, member_id: str, tag: store.TagItem, selection: str, source: str, by: str,
              expires_at: datetime | None, audit_action: str | None = None) -> bool:
    """Give the member the tag (replacing the group's other tag when the group is single
    choice), atomically. Re-applying changes nothing but a later expiry. True if changed."""
    exp = clock.iso(expires_at) if expires_at else None

    def change(before: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        after = _live(before, now)  # expired entries go on any write
        current = after.get(tag.tag_id)
        if current is not None:
            keeps_longer = current.get("exp") is None or (exp is not None and exp <= current["exp"])
            if keeps_longer and after == before:
                return None
            if not keeps_longer:
                after[tag.tag_id] = {**current, "exp": exp}
            return after
        if selection == "single":
            after = {k: v for k, v in after.items() if v["g"] != tag.group_id}
        if len(after) >= MAX_TAGS_PER_MEMBER:
            raise Unprocessable(f"A member holds at most {MAX_TAGS_PER_MEMBER} tags.", code="limit_exceeded",
                                field="tag_id")
        after[tag.tag_id] = {"g": tag.group_id, "src": source, "by": by, "at": clock.iso(now), "exp": exp}
        return after

    changed = _update_tagset(tenant_id, member_id, change, audit_action)
    if changed:
        obs.count("TagApplied", tenant_id)
    return changed


def remove_tag(tenant_id: str, member_id: str, tag_id: str, audit_action: str | None = None) -> bool:
    def change(before: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        if tag_id not in before:
            return None
        return {k: v for k, v in _live(before, now).items() if k != tag_id}

    return _update_tagset(tenant_id, member_id, change, audit_action)


def _system_member_tags(tenant_id: str, member_id: str) -> list[MemberTagOut]:
    config = tiers.load_config(tenant_id)
    s = tiers.standings(tenant_id, [member_id]).get(member_id) or tier_rules.Standing()
    now = clock.now()
    out = [MemberTagOut(tag_id=f"stage:{s.stage}", group_id="stage", name=s.stage, source="system", by="system",
                        at=s.stage_since)]
    tier = s.effective_tier(now, config.program)
    if tier:
        out.append(MemberTagOut(tag_id=f"tier:{tier}", group_id="tier", name=tier, source="system", by="system",
                                at=s.tier_since))
    if s.rfm:
        out.append(MemberTagOut(tag_id=f"rfm:{s.rfm_segment()}", group_id="rfm", name=s.rfm_segment(),
                                source="system", by="system"))
    return out


def member_tags(ctx: TenantContext, member_id: str) -> MemberTagList:
    members.get_member(ctx, member_id)
    tagset = store.get_tagset(ctx.tenant_id, member_id)
    live = _live(dict(tagset.tags or {}) if tagset else {}, clock.now())
    names = store.get_tags(ctx.tenant_id, list(live))
    user = [MemberTagOut(tag_id=k, group_id=v["g"], name=names[k].name if k in names else None,
                         source=v["src"], by=v["by"], at=v["at"], expires_at=v.get("exp"))
            for k, v in sorted(live.items(), key=lambda kv: kv[1]["at"])]
    return MemberTagList(data=_system_member_tags(ctx.tenant_id, member_id) + user)


def _user_tag(ctx: TenantContext, tag_id: str) -> tuple[store.TagItem, store.TagGroupItem]:
    if ":" in tag_id and tag_id.split(":", 1)[0] in SYSTEM_GROUPS:
        raise Unprocessable("System tags follow tier, stage and RFM; they are not set by hand.",
                            field="tag_id", code="system_tag_read_only")
    tag = _load_tag(ctx, None, tag_id)
    group = store.get_group(ctx.tenant_id, tag.group_id)
    if group is None:
        raise NotFound("No such tag.", code="tag_not_found")
    return tag, group


def require_user_tag(ctx: TenantContext, tag_id: str) -> None:
    """Raise unless ``tag_id`` names one of the tenant's own tags (404), one a person or a
    rule may set (422 for a system tag): for capabilities that refer to tags (journeys)."""
    _user_tag(ctx, tag_id)


def tag_member(ctx: TenantContext, member_id: str, tag_id: str, body: MemberTagIn) -> MemberTagList:
    members.get_member(ctx, member_id)
    tag, group = _user_tag(ctx, tag_id)
    if body.expires_at is not None and body.expires_at <= clock.now():
        raise Unprocessable("expires_at must be in the future.", field="expires_at")
    apply_tag(ctx.tenant_id, member_id, tag, group.selection, "manual", ctx.actor, body.expires_at,
              audit_action="member.tag_added")
    return member_tags(ctx, member_id)


def untag_member(ctx: TenantContext, member_id: str, tag_id: str) -> None:
    members.get_member(ctx, member_id)
    _user_tag(ctx, tag_id)
    remove_tag(ctx.tenant_id, member_id, tag_id, audit_action="member.tag_removed")


def forget_member(delivery: Delivery) -> None:
    """Erasure hook: drop the member's tags and take them out of the counters."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None
    def attempt() -> bool:
        tagset = store.get_tagset(tenant_id, member_id)
        if tagset is None:
            return False
        tx = Transaction()
        store.stage_tagset_gone(tx, tagset)
        tx.commit()
        return True

    _retry(attempt)


def existing_tags(tenant_id: str, tag_ids: list[str]) -> set[str]:
    """Those of ``tag_ids`` that are this tenant's live (not deleted) tags; one BatchGet."""
    return {k for k, t in store.get_tags(tenant_id, tag_ids).items() if not t.deleted}


def existing_groups(tenant_id: str, group_ids: list[str]) -> set[str]:
    """Those of ``group_ids`` that are this tenant's live tag groups."""
    return {g for g in dict.fromkeys(group_ids) if store.get_group(tenant_id, g) is not None}


def _unswept(tenant_id: str, now: datetime) -> tuple[Counter[str], Counter[str]]:
    """What the counters still count of expired-but-unswept tags: (holders per tag, members
    per group who hold no live tag of it). Counters minus these agree with reads at once,
    without waiting for the sweep; the cost is one Query per expiry shard (usually empty)
    plus a BatchGet of the few members found."""
    holders = store.expired_holders(tenant_id, clock.iso(now))
    by_tag: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    for tagset in store.get_tagsets(tenant_id, sorted(holders)).values():
        stored = dict(tagset.tags or {})
        live = _live(stored, now)
        by_tag.update(k for k in stored if k not in live)
        by_group.update({v["g"] for v in stored.values()} - {v["g"] for v in live.values()})
    return by_tag, by_group


def live_tag_counts(tenant_id: str, tag_ids: list[str]) -> dict[str, int]:
    """Members holding each tag now (expired tags excluded even before the sweep)."""
    names = {t: store.tag_counter(tenant_id, t) for t in tag_ids}
    counts = store.read_counts(list(names.values()))
    expired, _ = _unswept(tenant_id, clock.now())
    return {t: max(0, counts[name] - expired[t]) for t, name in names.items()}


def expire_tags(tenant_id: str) -> int:
    """Remove tags whose expiry has passed (reads already hide them); the count removed."""
    removed = 0
    for entry in store.expired(tenant_id, clock.iso(clock.now())):
        removed += remove_tag(tenant_id, entry.member_id, entry.tag_id, audit_action="member.tag_expired")
    return removed


def expire_all_tenants() -> int:
    return sum(tenants.for_each_tenant(expire_tags))


# --- snapshots (what segments and member rules evaluate) -----------------------------------------------------
def snapshots(tenant_id: str, member_ids: list[str], with_points: bool = True) -> dict[str, filters.Snapshot]:
    """One snapshot per live member: profile, standing and tags, with three BatchGetItems,
    and available points with a fourth (``with_points``: segments ask only when a filter
    has a ``points_available`` term)."""
    now = clock.now()
    profiles = members.profiles(tenant_id, member_ids)
    standing = tiers.standings(tenant_id, list(profiles))
    tagsets = store.get_tagsets(tenant_id, list(profiles))
    program = tiers.load_config(tenant_id).program
    tz = tenants.tenant_settings(tenant_id).timezone
    out: dict[str, filters.Snapshot] = {}
    for member_id, profile in profiles.items():
        s = standing.get(member_id) or tier_rules.Standing()
        live = _live(dict(tagsets[member_id].tags or {}) if member_id in tagsets else {}, now)
        tier = s.effective_tier(now, program) or "none"
        system = {f"stage:{s.stage}", f"tier:{tier}", f"rfm:{s.rfm_segment()}"}
        out[member_id] = filters.Snapshot(
            member_id=member_id,
            tags=set(live) | system,
            groups={v["g"] for v in live.values()},
            tier=tier, stage=s.stage, rfm=s.rfm_segment(),
            channel=(profile.source.channel if profile.source else None),
            attributes=dict(profile.attributes),
            metrics={"lifetime_spend": s.lifetime_spend, "orders": s.orders, "refunded": s.refunded,
                     "interactions": s.interactions,
                     "spend_12_months": sum(s.monthly.get(k, 0) for k in tier_rules.months_back(now, tz, 12))},
            last_order_at=tier_rules.parse(s.last_order_at),
            birthday_month=(profile.birthday or {}).get("month"),
            profile=profile,
        )
    if with_points and out:
        for member_id, available in points.available_points_of(tenant_id, list(out)).items():
            out[member_id].points_available = available
    return out


# --- rules ------------------------------------------------------------------------------------------------------
def _rule_out(r: store.TagRuleItem) -> TagRuleOut:
    return TagRuleOut(id=r.rule_id, name=r.name, tag_id=r.tag_id, when=r.when,
                      expires_after_days=int(r.expires_after_days) if r.expires_after_days else None,
                      enabled=r.enabled, created_at=r.created_at, updated_at=r.updated_at, version=r.version,
                      backfill_job_id=r.backfill_job_id)


def _check_when(ctx: TenantContext, when: dict[str, Any]) -> None:
    if when.get("member") is not None:
        from ..segments import service as segments

        segments.check_filter(ctx, when["member"], "when.member")  # the language's checks, unknown ids included


def create_rule(ctx: TenantContext, body: TagRuleCreate) -> TagRuleOut:
    _user_tag(ctx, body.tag_id)
    when = body.when.model_dump(exclude_none=True)
    _check_when(ctx, when)
    now = clock.iso(clock.now())
    rule_id = new_id()
    rule = store.TagRuleItem(store.rules_pk(ctx.tenant_id), f"R#{rule_id}", rule_id=rule_id, name=body.name,
                             tag_id=body.tag_id, when=when, expires_after_days=body.expires_after_days,
                             enabled=body.enabled, created_at=now, updated_at=now)
    tx = Transaction()
    audit.stage(tx, ctx.tenant_id, "tag_rule.created", "tag_rule", rule_id, None, _audited(rule, *_RULE_FIELDS))
    store.stage_new_rule(tx, ctx.tenant_id, rule, MAX_RULES)
    _stage_backfill(tx, ctx.tenant_id, rule)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "quota:tag_rules" in exc.failed:
            raise Unprocessable(f"A tenant has at most {MAX_RULES} tag rules.", code="limit_exceeded",
                                field="name") from exc
        raise
    return _rule_out(rule)


def _stage_backfill(tx: Transaction, tenant_id: str, rule: store.TagRuleItem) -> None:
    """The backfill job of an enabled rule commits with the rule itself, so a rule never
    exists without the job that applies it to existing members."""
    if rule.enabled:
        job = jobs.stage(tx, BACKFILL_JOB, tenant_id, {"rule_id": rule.rule_id, "version": (rule.version or 0) + 1})
        rule.backfill_job_id = job.job_id


def _load_rule(ctx: TenantContext, rule_id: str) -> store.TagRuleItem:
    rule = store.get_rule(ctx.tenant_id, rule_id) if is_id(rule_id) else None
    if rule is None:
        raise NotFound("No such tag rule.", code="tag_rule_not_found")
    return rule


def get_rule(ctx: TenantContext, rule_id: str) -> TagRuleOut:
    return _rule_out(_load_rule(ctx, rule_id))


def list_rules(ctx: TenantContext) -> TagRuleList:
    return TagRuleList(data=[_rule_out(r) for r in store.list_rules(ctx.tenant_id)])


def update_rule(ctx: TenantContext, rule_id: str, body: TagRulePatch) -> TagRuleOut:
    rule = _load_rule(ctx, rule_id)
    before = _audited(rule, *_RULE_FIELDS)
    given = body.model_dump(exclude_unset=True)
    if "when" in given and body.when is not None:
        rule.when = body.when.model_dump(exclude_none=True)
        _check_when(ctx, rule.when)
    for name in ("name", "expires_after_days", "enabled"):
        if name in given and (given[name] is not None or name == "expires_after_days"):
            setattr(rule, name, given[name])
    rule.updated_at = clock.iso(clock.now())
    tx = Transaction()
    audit.stage(tx, ctx.tenant_id, "tag_rule.updated", "tag_rule", rule_id, before, _audited(rule, *_RULE_FIELDS))
    store.stage_rule(tx, ctx.tenant_id, rule)
    _stage_backfill(tx, ctx.tenant_id, rule)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The rule changed meanwhile; read it and try again.", code="version_conflict") from exc
    return _rule_out(rule)


def delete_rule(ctx: TenantContext, rule_id: str) -> None:
    rule = _load_rule(ctx, rule_id)
    store.delete_rule(ctx.tenant_id, rule, audit.Entry(ctx.tenant_id, "tag_rule.deleted", "tag_rule", rule_id,
                                                       _audited(rule, *_RULE_FIELDS), None))


def _event_matches(trigger: dict[str, Any], event: dict[str, Any]) -> bool:
    if trigger["type"] != event.get("type"):
        return False
    if trigger.get("name") and trigger["name"] != event.get("name"):
        return False
    category = trigger.get("item_category")
    if category and not any(line.get("category") == category for line in event.get("items") or []):
        return False
    props = {**event.get("properties", {}), **{k: v for k, v in event.items() if not isinstance(v, (dict, list))}}
    return all(filters.compare(props.get(p["property"]), p.get("op", "eq"), p.get("value"))
               for p in trigger.get("where", []))


def _expiry(rule: store.TagRuleItem, start: datetime) -> datetime | None:
    return start + timedelta(days=int(rule.expires_after_days)) if rule.expires_after_days else None


def _rule_tags(tenant_id: str, rules: list[store.TagRuleItem]) -> dict[str, tuple[store.TagItem, str]]:
    tags = store.get_tags(tenant_id, [r.tag_id for r in rules])
    groups = {g.group_id: g for g in store.list_groups(tenant_id)}
    return {tid: (t, groups[t.group_id].selection) for tid, t in tags.items()
            if not t.deleted and t.group_id in groups}


def on_event(delivery: Delivery) -> int:
    """Receiver of ``activity.EVENT_RECORDED``: apply the tenant's rules to the event's
    member; the number of tags applied. Idempotent, so a redelivery, a replay or a later
    backfill changes nothing more."""
    assert delivery.member_id is not None
    if signals.is_history(delivery.data):  # an imported past order: the tags it brings are history too
        with signals.history():
            return apply_event_rules(delivery.tenant_id, delivery.member_id, delivery.data["event"],
                                     clock.parse(delivery.data["occurred_at"]))
    return apply_event_rules(delivery.tenant_id, delivery.member_id, delivery.data["event"],
                             clock.parse(delivery.data["occurred_at"]))


def _load_event_rules(tenant_id: str) -> tuple[list[store.TagRuleItem], dict[str, tuple[store.TagItem, str]]]:
    rules = [r for r in store.list_rules(tenant_id) if r.enabled]
    return rules, _rule_tags(tenant_id, rules) if rules else {}


#: the enabled rules and their tags, read on every event: cached per process, reloaded when
#: a group, tag or rule changed (in any process; see core.table.generations)
_event_rules = generations.TenantCache(store.DEFINITIONS_GENERATION, _load_event_rules)


def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:  # noqa: ARG001 - the Signal.connect shape
    """``wants`` of :func:`on_event`: only a tenant with enabled rules (cached, see above)."""
    return bool(_event_rules.get(tenant_id)[0])


def apply_event_rules(tenant_id: str, member_id: str, event: dict[str, Any], occurred_at: datetime) -> int:
    rules, tags = _event_rules.get(tenant_id)
    if not rules:
        return 0
    applied = 0
    snapshot = None
    for rule in rules:
        if rule.tag_id not in tags:
            continue
        when = rule.when
        if "event" in when:
            hit, start = _event_matches(when["event"], event), occurred_at
        else:
            if snapshot is None:
                snapshot = snapshots(tenant_id, [member_id]).get(member_id)
            hit, start = snapshot is not None and filters.matches(when["member"], snapshot, clock.now()), clock.now()
        expires = _expiry(rule, start)
        if hit and (expires is None or expires > clock.now()):
            tag, selection = tags[rule.tag_id]
            applied += apply_tag(tenant_id, member_id, tag, selection, "rule", rule.rule_id, expires)
    return applied


def _backfill_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """Apply one rule to one page of one range (``params["shards"]``) of existing members
    (member conditions on their snapshot, event triggers on their timeline)."""
    assert tenant_id is not None
    rule = store.get_rule(tenant_id, params["rule_id"])
    if rule is None or not rule.enabled:
        return jobs.Step(checkpoint=None)
    if "shards" not in params:  # the job fans out over the member list's ranges, done when they all are
        if (checkpoint or {}).get("ranges"):
            return jobs.Step(checkpoint=None)
        ranges = members.member_ranges(tenant_id)
        return jobs.Step(checkpoint={"ranges": len(ranges)}, fan_out=[
            jobs.Child(BACKFILL_JOB, tenant_id, {"rule_id": params["rule_id"], "shards": shards})
            for shards in ranges])
    ids, nxt = members.range_page(tenant_id, params["shards"], checkpoint, PAGE)
    tags = _rule_tags(tenant_id, [rule])
    changed = 0
    if rule.tag_id in tags:
        tag, selection = tags[rule.tag_id]
        now = clock.now()
        if "member" in rule.when:
            for member_id, snap in snapshots(tenant_id, ids).items():
                if filters.matches(rule.when["member"], snap, now):
                    expires = _expiry(rule, now)
                    changed += apply_tag(tenant_id, member_id, tag, selection, "rule", rule.rule_id, expires)
        else:
            from ..activity import service as activity

            since = now - timedelta(days=int(rule.expires_after_days)) if rule.expires_after_days else None
            for member_id in ids:
                for event in activity.recent_events(tenant_id, member_id, since):
                    if _event_matches(rule.when["event"], event["data"] | {"type": event["type"]}):
                        occurred = tier_rules.parse(event["occurred_at"])
                        changed += apply_tag(tenant_id, member_id, tag, selection, "rule", rule.rule_id,
                                             _expiry(rule, occurred))  # type: ignore[arg-type]
                        break  # the newest matching event gives the latest expiry
    return jobs.Step(checkpoint=nxt, processed=len(ids), changed=changed)


# --- bulk ----------------------------------------------------------------------------------------------------------
def start_bulk(ctx: TenantContext, tag_id: str, body: BulkTagIn) -> BulkJobOut:
    tag, _ = _user_tag(ctx, tag_id)
    if body.segment_id:
        from ..segments import service as segments

        segments.get_segment(ctx, body.segment_id)  # 404 for another tenant's or a missing one
    items: list[dict[str, Any]] = [{"id": m} for m in body.member_ids]
    items += [i.model_dump(exclude_none=True) for i in body.identities]
    job_id = new_id()
    params = {"tag_id": tag.tag_id, "action": body.action, "segment_id": body.segment_id,
              "expires_at": clock.iso(body.expires_at) if body.expires_at else None}
    # audited with its parameters (the member list as a count), committed with the job
    entry = audit.Entry(ctx.tenant_id, "tag.bulk_job_started", "tag", tag.tag_id, None,
                        {**params, "job_id": job_id, "members": len(items)})
    job = jobs.start(BULK_JOB, ctx.tenant_id, {**params, "actor": ctx.actor}, job_id=job_id, inputs=items,
                     audited=entry)
    return BulkJobOut(job_id=job.job_id, status=job.status)


def _bulk_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    ctx = TenantContext(tenant_id=tenant_id, principal_type="job", principal_id=params["actor"],
                        permissions=frozenset({"read", "write"}))
    tag = store.get_tag(tenant_id, params["tag_id"])
    group = store.get_group(tenant_id, tag.group_id) if tag else None
    if tag is None or group is None:
        raise RuntimeError("the tag was deleted while the job ran")
    cp = dict(checkpoint or {"offset": 0})
    errors: list[dict[str, Any]] = []
    if params.get("segment_id"):
        from ..segments import service as segments

        if "walk_range" not in params:  # a segment's members: one range per shard of its base, in parallel
            if cp.get("ranges"):
                return jobs.Step(checkpoint=None)
            found = segments.walk_ranges(ctx, params["segment_id"])
            child = {k: v for k, v in params.items() if k != "job_id"}
            return jobs.Step(checkpoint={"ranges": len(found)},
                             fan_out=[jobs.Child(BULK_JOB, tenant_id, {**child, "walk_range": r}) for r in found])
        ids, position = segments.page_ids(ctx, params["segment_id"], cp.get("position"), PAGE, params["walk_range"])
        targets = [(str(m), {"id": m}) for m in ids]
        cp["position"] = position
        done = position is None
    else:
        batch = jobs.inputs(tenant_id, params["job_id"], cp["offset"], PAGE)
        targets = []
        for n, item in enumerate(batch):
            targets.append((str(cp["offset"] + n), item))
        cp["offset"] += len(batch)
        done = len(batch) < PAGE
    expires = tier_rules.parse(params.get("expires_at"))
    changed = 0
    for ref, item in targets:
        try:
            if "id" in item:
                member_id = members.get_member(ctx, item["id"]).id
            else:
                member_id = members.lookup_member(ctx, _lookup_query(item)).id
            if params["action"] == "add":
                changed += apply_tag(tenant_id, member_id, tag, group.selection, "manual", params["actor"], expires)
            else:
                changed += remove_tag(tenant_id, member_id, tag.tag_id)
        except Problem as problem:
            errors.append({"item": ref, "code": problem.code, "detail": problem.detail})
    return jobs.Step(checkpoint=None if done else cp, processed=len(targets), changed=changed, errors=errors)


def _lookup_query(item: dict[str, Any]) -> Any:
    from ..members.schemas import LookupQuery

    return LookupQuery(**item)


# --- analytics ------------------------------------------------------------------------------------------------------
def analytics(ctx: TenantContext, top: int = 10) -> TagAnalytics:
    total = members.member_count(ctx.tenant_id)
    groups: list[GroupCoverage] = []
    expired_tags, expired_groups = _unswept(ctx.tenant_id, clock.now())
    for g in store.list_groups(ctx.tenant_id):
        tags = store.list_group_tags(ctx.tenant_id, g.group_id)
        names = [store.group_counter(ctx.tenant_id, g.group_id)] + [store.tag_counter(ctx.tenant_id, t.tag_id)
                                                                      for t in tags]
        counts = store.read_counts(names)
        tagged = max(0, counts[names[0]] - expired_groups[g.group_id])
        live = {t.tag_id: max(0, counts[store.tag_counter(ctx.tenant_id, t.tag_id)] - expired_tags[t.tag_id])
                for t in tags}
        ranked = sorted(((t, live[t.tag_id]) for t in tags),
                        key=lambda tc: (-tc[1], tc[0].name))[:top]
        groups.append(GroupCoverage(group_id=g.group_id, name=g.name, system=False, members_tagged=tagged,
                                    coverage=round(tagged / total, 4) if total else 0.0,
                                    top_tags=[TagCount(tag_id=t.tag_id, name=t.name, members=n) for t, n in ranked]))
    for group_id, name in SYSTEM_GROUPS.items():
        counts = {"tier": tiers.tier_counts, "stage": tiers.stage_counts, "rfm": tiers.rfm_counts}[group_id](ctx).counts
        named = [(k, v) for k, v in counts.items() if k != "none"]
        leading = sorted(named, key=lambda kv: (-kv[1], kv[0]))[:top]
        tagged = sum(v for _, v in named)
        groups.append(GroupCoverage(group_id=group_id, name=name, system=True, members_tagged=tagged,
                                    coverage=round(tagged / total, 4) if total else 0.0,
                                    top_tags=[TagCount(tag_id=f"{group_id}:{k}", name=k, members=v)
                                              for k, v in leading]))
    return TagAnalytics(total_members=total, groups=groups)


jobs.register(BACKFILL_JOB, _backfill_step)
jobs.register(BULK_JOB, _bulk_step)
