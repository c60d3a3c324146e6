"""Standing: tier programs, lifecycle stages and RFM, applied on every event and by the
nightly pass; analytics from O(1) counters.

Events reach here through :func:`stage_event`, which adds the member's new standing to
the caller's transaction (the activity capability commits it together with the event),
so an event and the standing it changes are written together or not at all.
"""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from ..core import audit, clock, jobs, observability as obs
from ..core.errors import Conflict, NotFound, Unprocessable
from ..core.ids import new_id
from ..core.signals import Delivery, Signal
from ..core.table import generations
from ..core.table.definition import STANDING_SHARDS
from ..core.table.transactions import Transaction, TransactionCancelled, retrying
from ..core.tenancy import TenantContext
from ..members import service as members
from ..tenants import service as tenants
from . import rules, store
from .rules import Change, Program, Standing, StageRules, Tier
from .schemas import (
    CountsOut,
    HistoryOut,
    JobOut,
    JobRef,
    ManualTierIn,
    MemberTierOut,
    ProgressOut,
    StageRulesIn,
    StageRulesOut,
    StandingOut,
    TierOut,
    TierProgramIn,
    TierProgramOut,
    TierProgramSaved,
)

REEVALUATE_JOB, NIGHTLY_JOB = "tier_reevaluation", "nightly"
#: one range (standings shard) of those passes, run as a child job of the pass
REEVALUATE_RANGE_JOB, NIGHTLY_RANGE_JOB = "tier_reevaluation_range", "nightly_range"
PAGE = 100
#: members sampled per tenant to compute RFM cut-offs (quintiles of a uniform sample)
RFM_SAMPLE = 20_000
MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class Config:
    program: Program
    stage_rules: StageRules
    rfm_bounds: dict[str, list[float]]
    timezone: str
    currency: str
    program_updated_at: str | None = None


# --- configuration ----------------------------------------------------------------------------
def _program_from(body: dict[str, Any], version: int) -> Program:
    tiers = tuple(Tier(id=t["id"], name=t["name"], threshold=t["threshold"], benefits=tuple(t.get("benefits", [])))
                  for t in body.get("tiers", []))
    downgrade = body.get("downgrade") or {}
    return Program(tiers=tiers, metric=body.get("metric", "rolling_spend"),
                   window_months=body.get("window_months", 12), downgrade=downgrade.get("policy", "anniversary"),
                   grace_days=downgrade.get("grace_days", 30), refund_drops_tier=body.get("refund_drops_tier", False),
                   version=version)


@dataclass(frozen=True)
class _Stored:
    program: Program
    stage_rules: StageRules
    rfm_bounds: dict[str, list[float]]
    program_updated_at: str | None


def _read_config(tenant_id: str) -> _Stored:
    configs = store.get_configs(tenant_id)  # one Query for all three
    program_item = configs.get(store.PROGRAM_SK)
    rules_item = configs.get(store.STAGE_RULES_SK)
    rfm_item = configs.get(store.RFM_SK)
    return _Stored(
        program=_program_from(program_item.body, program_item.version) if program_item else Program(),
        stage_rules=StageRules(**rules_item.body) if rules_item else StageRules(),
        rfm_bounds=rfm_item.body if rfm_item else {},
        program_updated_at=program_item.updated_at if program_item else None,
    )


#: read on every event: cached per process, reloaded when a config item changed (any process)
_configs = generations.TenantCache(store.CONFIG_GENERATION, _read_config)


def load_config(tenant_id: str) -> Config:
    settings = tenants.tenant_settings(tenant_id)
    stored = _configs.get(tenant_id)
    return Config(
        program=stored.program,
        stage_rules=stored.stage_rules,
        rfm_bounds=copy.deepcopy(stored.rfm_bounds),
        timezone=settings.timezone,
        currency=settings.currency,
        program_updated_at=stored.program_updated_at,
    )


def _program_out(program: Program, updated_at: str | None) -> TierProgramOut:
    return TierProgramOut(
        metric=program.metric, window_months=program.window_months,
        tiers=[TierOut(id=t.id, name=t.name, threshold=t.threshold, benefits=list(t.benefits)) for t in program.tiers],
        downgrade={"policy": program.downgrade, "grace_days": program.grace_days},
        refund_drops_tier=program.refund_drops_tier, version=program.version, updated_at=updated_at,
    )


def get_program(ctx: TenantContext) -> TierProgramOut:
    config = load_config(ctx.tenant_id)
    return _program_out(config.program, config.program_updated_at)


def put_program(ctx: TenantContext, body: TierProgramIn) -> TierProgramSaved:
    """Save the program, then re-evaluate existing members in a background job."""
    current = store.get_config(ctx.tenant_id, store.PROGRAM_SK)
    current_version = current.version if current else 0
    if body.version is not None and body.version != current_version:
        raise Conflict(f"The tier program is at version {current_version}.", field="version",
                       code="version_conflict", current_version=current_version)
    data = body.model_dump(mode="json", exclude={"version"})
    now = clock.iso(clock.now())
    tx = Transaction()  # the program and the job that re-evaluates members commit together
    audit.stage(tx, ctx.tenant_id, "tier_program.replaced", "tier_program", ctx.tenant_id,
                current.body if current else None, data)
    item = store.stage_config(tx, ctx.tenant_id, store.PROGRAM_SK, data, now, current)
    job = jobs.stage(tx, REEVALUATE_JOB, ctx.tenant_id, {"program_version": current_version + 1})
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The tier program changed meanwhile.", code="version_conflict") from exc
    obs.count("TierProgramChanged", ctx.tenant_id)
    return TierProgramSaved(program=_program_out(_program_from(item.body, item.version), now),
                            job=JobRef(id=job.job_id, status=job.status))


def get_stage_rules(ctx: TenantContext) -> StageRulesOut:
    return StageRulesOut(**asdict(load_config(ctx.tenant_id).stage_rules))


def put_stage_rules(ctx: TenantContext, body: StageRulesIn) -> StageRulesOut:
    current = store.get_config(ctx.tenant_id, store.STAGE_RULES_SK)
    tx = Transaction()  # the rules and their audit record commit together
    audit.stage(tx, ctx.tenant_id, "stage_rules.replaced", "stage_rules", ctx.tenant_id,
                current.body if current else None, body.model_dump(mode="json"))
    store.stage_config(tx, ctx.tenant_id, store.STAGE_RULES_SK, body.model_dump(), clock.iso(clock.now()), current)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The stage rules changed meanwhile.", code="version_conflict") from exc
    return StageRulesOut(**body.model_dump())


# --- events ---------------------------------------------------------------------------------------
Mutation = Callable[[Standing], bool]
"""Applies an event's effect to a standing; returns True if the event was a refund."""


def stage_event(tx: Transaction, tenant_id: str, member_id: str, config: Config, now: datetime,
                mutate: Mutation) -> list[Change]:
    """Load the member's standing, apply ``mutate`` and the rules, and add the writes to
    ``tx`` (version-checked: a concurrent event cancels the transaction and the caller
    retries with a fresh read)."""
    item = store.get_standing(tenant_id, member_id)
    before = item.standing() if item else None
    if item is None:
        item = store.new_standing_item(tenant_id, member_id)
    after = copy.deepcopy(before) if before else Standing()
    refund = mutate(after)
    changes = rules.update_tier_on_event(after, config.program, now, config.timezone, refund)
    changes += rules.update_stage(after, config.stage_rules, now, "event")
    store.stage_standing(tx, item, before, after, changes, clock.iso(now), after.effective_tier(now, config.program),
                         [new_id() for _ in changes])
    _raise_changes(tx, tenant_id, member_id, changes)
    return changes


#: Raised in the transaction of every committed tier or stage move; receivers (journeys
#: triggered by "tier changed") get ``{"changes": [{dimension, old, new, reason}, ...]}``.
STANDING_CHANGED = Signal("tiers.standing_changed")


def _raise_changes(tx: Transaction, tenant_id: str, member_id: str, changes: list[Change]) -> None:
    if changes:
        STANDING_CHANGED.stage(tx, tenant_id, member_id, {"changes": [
            {"dimension": c.dimension, "old": c.old, "new": c.new, "reason": c.reason} for c in changes]})


def changes_of(data: dict[str, Any]) -> list[Change]:
    """The moves a :data:`STANDING_CHANGED` delivery carries."""
    return [Change(c["dimension"], c["old"], c["new"], c["reason"]) for c in data.get("changes") or []]


def record_changes(tenant_id: str, changes: list[Change]) -> None:
    """Metrics for committed moves (what must follow them is in :data:`STANDING_CHANGED`)."""
    for change in changes:
        obs.count(f"{change.dimension.capitalize()}Changed", tenant_id)


# --- re-evaluation (program change, nightly) ----------------------------------------------------------
def _with_retries(action: Callable[[], bool]) -> bool:
    return retrying(lambda _: action(), attempts=MAX_ATTEMPTS,
                    conflict="The member's standing kept changing; try again.")


def reevaluate_member(tenant_id: str, member_id: str, config: Config, now: datetime,
                      with_rfm: bool = False, item: store.StandingItem | None = None) -> bool:
    """Apply time-driven rules (and RFM scores) to one member; True if anything changed.
    ``item``, when the caller just read it (a job's page), saves a read: a stale copy only
    costs a retry, since the write is version-checked."""
    first = [item]

    def attempt() -> bool:
        item = first.pop() if first and first[0] is not None else store.get_standing(tenant_id, member_id)
        first.clear()
        if item is None:
            return False
        before = item.standing()
        after = copy.deepcopy(before)
        changes = rules.reevaluate(after, config.program, config.stage_rules, now, config.timezone)
        if with_rfm:
            after.rfm = rules.rfm_of(after, config.rfm_bounds, now)
        if after == before:
            return False
        tx = Transaction()
        store.stage_standing(tx, item, before, after, changes, clock.iso(now),
                             after.effective_tier(now, config.program), [new_id() for _ in changes])
        _raise_changes(tx, tenant_id, member_id, changes)
        tx.commit()
        record_changes(tenant_id, changes)
        return True

    return _with_retries(attempt)


def _evaluate_range(tenant_id: str, config: Config, shard: int, checkpoint: dict[str, Any], with_rfm: bool
                    ) -> tuple[dict[str, Any] | None, int, int]:
    """One page of one range (a standings shard): (next checkpoint or None when the range
    is done, seen, changed)."""
    items, last = store.standings_page(tenant_id, shard, checkpoint.get("after"), PAGE)
    now = clock.now()
    changed = sum(reevaluate_member(tenant_id, i.member_id, config, now, with_rfm, item=i) for i in items)
    return ({"after": last} if last is not None else None), len(items), changed


def _ranges(kind: str, tenant_id: str, params: dict[str, Any]) -> list[jobs.Child]:
    """A tenant's whole-member pass split into independent ranges, one per standings shard,
    each its own checkpointed job: in AWS each range runs on its own Lambda, locally on the
    dispatcher's worker threads."""
    return [jobs.Child(kind, tenant_id, {**params, "shard": shard}) for shard in range(STANDING_SHARDS)]


def _reevaluation_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """A program change: fan out over the tenant's ranges, done when they all are."""
    assert tenant_id is not None
    if checkpoint is None:
        return jobs.Step(checkpoint={"ranges": STANDING_SHARDS},
                         fan_out=_ranges(REEVALUATE_RANGE_JOB, tenant_id, {"with_rfm": False}))
    return jobs.Step(checkpoint=None)


def _range_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """One page of one range of a re-evaluation or nightly pass (``params["shard"]``)."""
    assert tenant_id is not None
    config = load_config(tenant_id)
    nxt, seen, changed = _evaluate_range(tenant_id, config, int(params["shard"]), checkpoint or {},
                                         with_rfm=bool(params.get("with_rfm")))
    if params.get("with_rfm"):
        obs.count("NightlyMembersEvaluated", tenant_id, seen)
    return jobs.Step(checkpoint=nxt, processed=seen, changed=changed)


def compute_rfm_cutoffs(tenant_id: str, now: datetime) -> dict[str, list[float]]:
    """Quintile cut-offs from (a uniform sample of) the tenant's buyers; saved to config."""
    recency: list[float] = []
    frequency: list[float] = []
    monetary: list[float] = []
    per_shard = RFM_SAMPLE // STANDING_SHARDS
    for shard in range(STANDING_SHARDS):
        after = None
        taken = 0
        while taken < per_shard:
            items, after = store.standings_page(tenant_id, shard, after, min(PAGE * 10, per_shard - taken))
            for item in items:
                inputs = rules.rfm_inputs(item.standing(), now)
                if inputs:
                    recency.append(inputs[0])
                    frequency.append(inputs[1])
                    monetary.append(inputs[2])
            taken += len(items)
            if after is None:
                break
    bounds = {"recency": rules.cutoffs(recency), "frequency": rules.cutoffs(frequency),
              "monetary": rules.cutoffs(monetary), "sample_size": [float(len(recency))]}
    current = store.get_config(tenant_id, store.RFM_SK)
    store.put_config(tenant_id, store.RFM_SK, bounds, clock.iso(now), current)
    return bounds


def _nightly_step(_: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """Visits every tenant in turn: RFM cut-offs (one sample per tenant), then every member's
    standing, the tenant's ranges in parallel (the job waits for them, then moves on)."""
    cp = dict(checkpoint or {})
    tenant_id = cp.get("tenant")
    if tenant_id is None:
        tenant_id = tenants.next_tenant(cp.get("last_tenant"), params.get("tenant_ids"))
        if tenant_id is None:
            return jobs.Step(checkpoint=None)
        compute_rfm_cutoffs(tenant_id, clock.now())
        return jobs.Step(checkpoint={"tenant": tenant_id},
                         fan_out=_ranges(NIGHTLY_RANGE_JOB, tenant_id, {"day": params["day"], "with_rfm": True}))
    return jobs.Step(checkpoint={"last_tenant": tenant_id})


def run_nightly(now: datetime | None = None, tenant_ids: list[str] | None = None) -> str:
    """Start the nightly pass, once per UTC day (a second start that day returns the same
    job); ``tenant_ids`` restricts it (an operator re-running it for some tenants)."""
    day = (now or clock.now()).strftime("%Y%m%d")
    params: dict[str, Any] = {"day": day}
    job_id = f"NIGHTLY-{day}"
    if tenant_ids is not None:
        params["tenant_ids"] = sorted(tenant_ids)
        job_id += "-" + hashlib.sha256(",".join(params["tenant_ids"]).encode()).hexdigest()[:16]
    return jobs.start(NIGHTLY_JOB, None, params, job_id=job_id).job_id


jobs.register(REEVALUATE_JOB, _reevaluation_step)
jobs.register(REEVALUATE_RANGE_JOB, _range_step)
jobs.register(NIGHTLY_JOB, _nightly_step)
jobs.register(NIGHTLY_RANGE_JOB, _range_step)


def get_job(ctx: TenantContext, job_id: str) -> JobOut:
    job = jobs.get_job(ctx.tenant_id, job_id) if len(job_id) <= 64 else None
    if job is None:
        raise NotFound("No such job.", code="job_not_found")
    return JobOut(id=job.job_id, kind=job.kind, status=job.status, progress=jobs.live_progress(job), error=job.error,
                  created_at=job.created_at, updated_at=job.updated_at, finished_at=job.finished_at)


# --- reads -----------------------------------------------------------------------------------------------
def _history(tenant_id: str, member_id: str, dimension: str) -> list[HistoryOut]:
    return [HistoryOut(old=h.old, new=h.new, reason=h.reason, at=h.at)
            for h in store.history(tenant_id, member_id, dimension)]


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def member_tier(ctx: TenantContext, member_id: str) -> MemberTierOut:
    members.get_member(ctx, member_id)  # 404 / 410 like every member route
    config = load_config(ctx.tenant_id)
    item = store.get_standing(ctx.tenant_id, member_id)
    s = item.standing() if item else Standing()
    now = clock.now()
    effective = s.effective_tier(now, config.program)
    tier = config.program.tier(effective)
    prog = rules.progress(s, config.program, now, config.timezone)
    nxt = config.program.tier(prog["next_tier"])
    message = (f"Spend {_money(prog['amount_to_next_tier'], config.currency)} more to reach {nxt.name}"
               if nxt and prog["amount_to_next_tier"] else None)
    manual = effective is not None and effective == s.manual_tier and effective != s.tier
    granted = not manual and effective is not None and effective == s.plan_tier and effective != s.tier
    history = _history(ctx.tenant_id, member_id, "tier")
    since = s.manual_since if manual else s.plan_since if granted else s.tier_since
    if since is None and (manual or granted):  # set before these fields existed: the move that made it
        since = next((h.at for h in history if h.new == effective), None)
    return MemberTierOut(
        tier=(TierOut(id=tier.id, name=tier.name, threshold=tier.threshold, benefits=list(tier.benefits))
              if tier else None),
        source="manual" if manual else "plan" if granted else ("earned" if tier else "none"),
        since=since,
        manual_expires_at=s.manual_expires_at if manual else None,
        next_requalification_at=rules.next_requalification(s, config.program),
        progress=ProgressOut(**prog, message=message),
        history=history,
    )


def _manual(standing: Standing | None) -> dict[str, Any]:
    """A hand-assigned tier as the audit log compares it (the reason is masked there)."""
    if standing is None:
        return {"manual_tier": None}
    return {"manual_tier": standing.manual_tier, "expires_at": standing.manual_expires_at,
            "reason": standing.manual_reason}


def set_manual_tier(ctx: TenantContext, member_id: str, body: ManualTierIn | None) -> MemberTierOut:
    """Assign a tier by hand (complimentary, until ``expires_at``), or remove it (None)."""
    members.get_member(ctx, member_id)
    config = load_config(ctx.tenant_id)
    if body is not None and config.program.tier(body.tier_id) is None:
        raise Unprocessable("No tier with this id in the program.", field="tier_id", code="unknown_tier")
    now = clock.now()
    if body is not None and body.expires_at is not None and body.expires_at <= now:
        raise Unprocessable("expires_at must be in the future.", field="expires_at", code="validation_failed")

    def attempt() -> bool:
        item = store.get_standing(ctx.tenant_id, member_id)
        before = item.standing() if item else None
        item = item or store.new_standing_item(ctx.tenant_id, member_id)
        after = copy.deepcopy(before) if before else Standing(stage_since=clock.iso(now))
        if body is None:
            after = replace(after, manual_tier=None, manual_expires_at=None, manual_reason=None, manual_since=None)
        else:
            same = (before is not None and before.manual_tier == body.tier_id
                    and before.effective_tier(now, config.program) == body.tier_id)
            after = replace(after, manual_tier=body.tier_id,
                            manual_expires_at=clock.iso(body.expires_at) if body.expires_at else None,
                            manual_reason=body.reason,
                            manual_since=before.manual_since if same and before else clock.iso(now))
        eff_before, eff_after = (item.tier if before else None), after.effective_tier(now, config.program)
        changes = [Change("tier", eff_before, eff_after, "manual" if body else "manual_removed")] \
            if eff_before != eff_after else []
        tx = Transaction()
        store.stage_standing(tx, item, before, after, changes, clock.iso(now), eff_after,
                             [new_id() for _ in changes])
        _raise_changes(tx, ctx.tenant_id, member_id, changes)
        audit.stage(tx, ctx.tenant_id, "member.tier_set" if body else "member.tier_removed", audit.MEMBER,
                    member_id, _manual(before), _manual(after))
        tx.commit()
        moved[:] = changes
        return True

    moved: list[Change] = []
    _with_retries(attempt)
    record_changes(ctx.tenant_id, moved)
    return member_tier(ctx, member_id)


def set_plan_tier(tenant_id: str, member_id: str, tier_id: str | None, reason: str) -> list[Change]:
    """For billing: the tier an active paid plan grants (None when the plan ends). The
    member gets the higher of it and the earned tier; the earned tier returns after."""
    config = load_config(tenant_id)
    if tier_id is not None and config.program.tier(tier_id) is None:
        raise Unprocessable("No tier with this id in the program.", field="tier_id", code="unknown_tier")
    result: list[Change] = []

    def attempt() -> bool:
        now = clock.now()
        item = store.get_standing(tenant_id, member_id)
        before = item.standing() if item else None
        if before is not None and before.plan_tier == tier_id:
            return False
        item = item or store.new_standing_item(tenant_id, member_id)
        after = replace(copy.deepcopy(before) if before else Standing(stage_since=clock.iso(now)), plan_tier=tier_id,
                        plan_since=clock.iso(now) if tier_id else None)
        eff_before, eff_after = (item.tier if before else None), after.effective_tier(now, config.program)
        changes = [Change("tier", eff_before, eff_after, reason)] if eff_before != eff_after else []
        tx = Transaction()
        store.stage_standing(tx, item, before, after, changes, clock.iso(now), eff_after, [new_id() for _ in changes])
        _raise_changes(tx, tenant_id, member_id, changes)
        tx.commit()
        result[:] = changes
        return True

    _with_retries(attempt)
    record_changes(tenant_id, result)
    return result


def standings(tenant_id: str, member_ids: list[str]) -> dict[str, Standing]:
    """Standings by member id (members without one are left out); for segments."""
    return {i.member_id: i.standing() for i in store.get_standings(tenant_id, member_ids)}


def stage_count(tenant_id: str, dimension: str, value: str) -> int:
    """Members with this tier / stage / RFM segment (O(1), the analytics counters)."""
    name = {"tier": store.tier_counter, "stage": store.stage_counter, "rfm": store.rfm_counter}[dimension](
        tenant_id, value)
    return store.read_counters([name])[name]


def member_standing(ctx: TenantContext, member_id: str) -> StandingOut:
    members.get_member(ctx, member_id)
    item = store.get_standing(ctx.tenant_id, member_id)
    s = item.standing() if item else Standing()
    return StandingOut(
        member_id=member_id, lifetime_spend=s.lifetime_spend, refunded=s.refunded, orders=s.orders,
        first_order_at=s.first_order_at, last_order_at=s.last_order_at, interactions=s.interactions,
        last_interaction_at=s.last_interaction_at, monthly_spend=dict(sorted(s.monthly.items())),
        stage=s.stage, stage_since=s.stage_since, stage_history=_history(ctx.tenant_id, member_id, "stage"),
        rfm=s.rfm,
    )


def forget_member(delivery: Delivery) -> None:
    """Erasure hook: drop the member's standing and take it out of every counter."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None
    def attempt() -> bool:
        item = store.get_standing(tenant_id, member_id)
        if item is None:
            return False
        tx = Transaction()
        store.unstage_standing(tx, item)
        tx.commit()
        return True

    _with_retries(attempt)


# --- analytics -------------------------------------------------------------------------------------------
def _counts(ctx: TenantContext, names: dict[str, str], implicit: str) -> CountsOut:
    """Counters for ``names`` ({value: counter name}); members with no standing yet count
    under ``implicit``."""
    totals = store.read_counters(list(names.values()))
    counts = {value: totals[name] for value, name in names.items()}
    total = members.member_count(ctx.tenant_id)
    counts[implicit] = counts.get(implicit, 0) + max(0, total - sum(counts.values()))
    return CountsOut(counts=counts, total=total)


def tier_counts(ctx: TenantContext) -> CountsOut:
    program = load_config(ctx.tenant_id).program
    values = [t.id for t in program.tiers] + [rules.NO_TIER]
    return _counts(ctx, {v: store.tier_counter(ctx.tenant_id, v) for v in values}, rules.NO_TIER)


def stage_counts(ctx: TenantContext) -> CountsOut:
    return _counts(ctx, {v: store.stage_counter(ctx.tenant_id, v) for v in rules.STAGES}, "prospect_aware")


def rfm_counts(ctx: TenantContext) -> CountsOut:
    values = list(rules.RFM_SEGMENTS) + [rules.NO_RFM]
    return _counts(ctx, {v: store.rfm_counter(ctx.tenant_id, v) for v in values}, rules.NO_RFM)


def member_benefits(tenant_id: str, member_id: str) -> tuple[dict[str, Any], ...]:
    """The benefits of the member's effective tier now (points use ``points_multiplier``)."""
    config = load_config(tenant_id)
    item = store.get_standing(tenant_id, member_id)
    if item is None:
        return ()
    tier = config.program.tier(item.standing().effective_tier(clock.now(), config.program))
    return tier.benefits if tier else ()
