"""What a journey definition must satisfy beyond its schema, each failure a 422 naming the
field: a connected graph (no unreachable step, no dangling reference), no cycle a member
could loop through without waiting, valid durations and templates, and tags, tiers,
stages, plans and segments that exist for the tenant.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..core.errors import NotFound, Problem, Unprocessable
from ..core.tenancy import TenantContext
from ..tiers import rules as tier_rules
from . import engine, templates

#: the journey-only condition term, rewritten to a filter term at evaluation time
ORDERED_SINCE_ENROLMENT = "ordered_since_enrolment"
_PLACEHOLDER_TIME = "2000-01-01T00:00:00Z"


def _fail(field: str, message: str, code: str = "invalid_journey") -> Unprocessable:
    return Unprocessable(f"{field}: {message}", field=field, code=code)


def expand_condition(tree: Any, enrolled_at: str) -> Any:
    """``{"ordered_since_enrolment": true}`` becomes ``{"last_order_since": <enrolled_at>}``
    (``false``: its negation); everything else is the segment filter language."""
    if isinstance(tree, dict):
        if set(tree) == {ORDERED_SINCE_ENROLMENT}:
            term = {"last_order_since": enrolled_at}
            return term if tree[ORDERED_SINCE_ENROLMENT] is True else {"not": term}
        return {k: expand_condition(v, enrolled_at) for k, v in tree.items()}
    if isinstance(tree, list):
        return [expand_condition(v, enrolled_at) for v in tree]
    return tree


def successors(step: dict[str, Any]) -> list[str]:
    if step["type"] == "branch":
        return [s for s in (step.get("then"), step.get("else")) if s]
    return [step["next"]] if step.get("next") else []


def check_graph(definition: dict[str, Any]) -> None:
    steps = definition["steps"]
    index: dict[str, int] = {}
    for n, step in enumerate(steps):
        if step["id"] in index:
            raise _fail(f"steps.{n}.id", f"step id {step['id']!r} is used twice")
        index[step["id"]] = n
    if definition["start"] not in index:
        raise _fail("start", f"no step has the id {definition['start']!r}")
    for n, step in enumerate(steps):
        for key in ("next", "then", "else"):
            target = step.get(key)
            if target and target not in index:
                raise _fail(f"steps.{n}.{key}", f"no step has the id {target!r}")
    reached, todo = set(), [definition["start"]]
    while todo:
        current = todo.pop()
        if current not in reached:
            reached.add(current)
            todo += successors(steps[index[current]])
    for n, step in enumerate(steps):
        if step["id"] not in reached:
            raise _fail(f"steps.{n}", f"step {step['id']!r} cannot be reached from the start", "unreachable_step")
    # A cycle is safe only through a wait: without the waits' edges the graph must be acyclic.
    state: dict[str, int] = {}

    def visit(step_id: str) -> None:
        state[step_id] = 1
        step = steps[index[step_id]]
        if step["type"] != "wait":
            for nxt in successors(step):
                if state.get(nxt) == 1:
                    raise _fail(f"steps.{index[nxt]}", f"steps loop back to {nxt!r} without a wait",
                                "cycle_without_wait")
                if nxt not in state:
                    visit(nxt)
        state[step_id] = 2

    for step in steps:
        if step["id"] not in state:
            visit(step["id"])


def _check_wait(step: dict[str, Any], where: str) -> None:
    try:
        if step.get("duration"):
            duration = engine.parse_duration(step["duration"])
            if duration.negative:
                raise ValueError("a wait cannot be negative")
            probe = datetime(2001, 1, 1, tzinfo=timezone.utc)
            if duration.after(probe) - probe > engine.MAX_WAIT or duration.after(probe) <= probe:
                raise ValueError("a wait lasts more than nothing and at most 365 days")
        elif step.get("until_date") and step["until_date"].get("offset"):
            offset = engine.parse_duration(step["until_date"]["offset"])
            probe = datetime(2001, 1, 1, tzinfo=timezone.utc)
            if abs(offset.after(probe) - probe) > engine.MAX_WAIT:
                raise ValueError("an offset is at most 365 days either way")
    except ValueError as exc:
        field = "duration" if step.get("duration") else "until_date.offset"
        raise _fail(f"{where}.{field}", str(exc), "invalid_duration") from exc


def _check_condition(ctx: TenantContext, tree: Any, where: str) -> None:
    """The filter language's own checks and that the things a term names exist (one place:
    ``segments.check_filter``)."""
    expanded = expand_condition(tree, _PLACEHOLDER_TIME)
    from ..segments import service as segments

    segments.check_filter(ctx, expanded, where)  # the filter language's own checks, unknown ids included


def _check_standing_value(ctx: TenantContext, dimension: str, value: str, field: str) -> None:
    if dimension == "stage":
        if value not in tier_rules.STAGES:
            raise _fail(field, f"stages are {', '.join(tier_rules.STAGES)}", "unknown_stage")
        return
    from ..tiers import service as tiers

    if value != tier_rules.NO_TIER and tiers.load_config(ctx.tenant_id).program.tier(value) is None:
        raise _fail(field, "no tier with this id in the tier program", "unknown_tier")


def check_definition(ctx: TenantContext, definition: dict[str, Any]) -> None:
    """Every rule above, in the order a reader would fix them."""
    check_graph(definition)
    if definition.get("entry_filter") is not None:
        _check_condition(ctx, definition["entry_filter"], "entry_filter")
    grants_coupon = any(s["type"] == "grant_coupon" for s in definition["steps"])
    for n, step in enumerate(definition["steps"]):
        where = f"steps.{n}"
        if step["type"] == "wait":
            _check_wait(step, where)
        elif step["type"] == "branch":
            _check_condition(ctx, step["condition"], f"{where}.condition")
        elif step["type"] in ("add_tag", "remove_tag"):
            _check_tag(ctx, step["tag_id"], f"{where}.tag_id")
        elif step["type"] == "grant_coupon" and (step.get("coupon") or {}).get("template_id"):
            _check_coupon_template(ctx, step["coupon"]["template_id"], f"{where}.coupon.template_id")
        elif step["type"] in ("send_message", "create_task"):
            texts = step["template"] if step["type"] == "send_message" else step
            prefix = f"{where}.template" if step["type"] == "send_message" else where
            for part in ("subject", "body") if step["type"] == "send_message" else ("title", "body"):
                text = texts.get(part)
                if not text:
                    continue
                try:
                    used = templates.placeholders(text)
                except templates.TemplateError as exc:
                    raise _fail(f"{prefix}.{part}", str(exc), "invalid_template") from exc
                if any(p.root == "coupon" for p in used) and not grants_coupon:
                    raise _fail(f"{prefix}.{part}", "coupon variables need a grant_coupon step",
                                "invalid_template")
    _check_trigger(ctx, definition["trigger"])


def _check_tag(ctx: TenantContext, tag_id: str, field: str) -> None:
    from ..tags import service as tags

    try:
        tags.require_user_tag(ctx, tag_id)
    except Problem as exc:
        raise _fail(field, "no such tag (system tags follow tier and stage: use those triggers)",
                    "unknown_tag") from exc


def _check_coupon_template(ctx: TenantContext, template_id: str, field: str) -> None:
    from ..loyalty.coupons import service as coupons

    if not coupons.template_exists(ctx.tenant_id, template_id):
        raise _fail(field, "no such coupon template", "unknown_coupon_template")


def _check_trigger(ctx: TenantContext, trigger: dict[str, Any]) -> None:
    kind = trigger["type"]
    if kind in ("tag_added", "tag_removed"):
        _check_tag(ctx, trigger["tag_id"], "trigger.tag_id")
    elif kind == "tier_changed" and trigger.get("to"):
        _check_standing_value(ctx, "tier", trigger["to"], "trigger.to")
    elif kind == "stage_changed":
        for key in ("to", "previous"):
            if trigger.get(key):
                _check_standing_value(ctx, "stage", trigger[key], f"trigger.{key}")
    elif kind == "membership" and trigger.get("plan_id"):
        _check_plan(ctx, trigger["plan_id"], "trigger.plan_id")
    elif kind == "segment_entry":
        from ..segments import service as segments

        try:
            segments.get_segment(ctx, trigger["segment_id"])
        except NotFound as exc:
            raise _fail("trigger.segment_id", "no such segment", "unknown_segment") from exc


def _check_plan(ctx: TenantContext, plan_id: str, field: str) -> None:
    try:
        from ..billing import service as billing
    except ImportError as exc:  # billing not deployed in this build
        raise _fail(field, "paid plans are not available", "unknown_plan") from exc
    try:
        billing.get_plan(ctx, plan_id)
    except NotFound as exc:
        raise _fail(field, "no such plan", "unknown_plan") from exc
