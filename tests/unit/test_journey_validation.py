"""Journey definitions beyond their schema (pure parts): the step graph, waits, branch
conditions, templates and stage names, each failure a 422 naming the field. Checks that
look up the tenant's tags, tiers, plans and segments are integration tests."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.errors import Unprocessable
from chalicelib.core.tenancy import TenantContext
from chalicelib.journeys import validation

CTX = TenantContext(tenant_id="01H00000000000000000000000", principal_type="api_key", principal_id="k1",
                    permissions=frozenset({"read", "write"}))
EVENT_TRIGGER = {"type": "event", "event": {"type": "interaction", "name": "follow"}}


def message(step_id: str, body: str = "Hello {{ member.name | default: friend }}", nxt: str | None = None,
            subject: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": step_id, "type": "send_message", "channel": "webhook",
                            "template": {"subject": subject, "body": body}}
    if nxt:
        step["next"] = nxt
    return step


def wait(step_id: str, nxt: str | None, **how: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "wait", **({"next": nxt} if nxt else {}), **(how or {"duration": "PT2H"})}


def branch(step_id: str, condition: Any, then: str | None, otherwise: str | None) -> dict[str, Any]:
    return {"id": step_id, "type": "branch", "condition": condition, "then": then, "else": otherwise}


def journey(*steps: dict[str, Any], start: str | None = None, trigger: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    return {"trigger": trigger or EVENT_TRIGGER, "start": start or steps[0]["id"], "steps": list(steps), **extra}


def refusal(definition: dict[str, Any]) -> Unprocessable:
    with pytest.raises(Unprocessable) as caught:
        validation.check_definition(CTX, definition)
    return caught.value


WELCOME_SERIES = journey(
    message("m1", nxt="w1"), wait("w1", "bought"),
    branch("bought", {"ordered_since_enrolment": True}, "done", "m2"),
    message("m2", nxt="w2"), wait("w2", "m1"),  # loops back to m1, through a wait
    message("done", "Thank you!"))


# --- the graph -------------------------------------------------------------------------
def test_given_a_connected_series_that_loops_only_through_waits_then_it_is_valid() -> None:
    validation.check_definition(CTX, WELCOME_SERIES)


def test_given_two_steps_with_one_id_then_the_second_is_named() -> None:
    problem = refusal(journey(message("a", nxt="b"), message("b"), message("a")))
    assert (problem.field, problem.code) == ("steps.2.id", "invalid_journey")


def test_given_a_start_that_is_no_step_then_start_is_named() -> None:
    assert refusal(journey(message("a"), start="nope")).field == "start"


@pytest.mark.parametrize(("steps", "field"), [
    ((message("a", nxt="ghost"),), "steps.0.next"),
    ((branch("b", {"stage": "loyal"}, "ghost", None),), "steps.0.then"),
    ((branch("b", {"stage": "loyal"}, None, "ghost"),), "steps.0.else"),
])
def test_given_a_reference_to_no_step_then_the_dangling_field_is_named(steps: Any, field: str) -> None:
    assert refusal(journey(*steps)).field == field


def test_given_a_step_no_path_reaches_then_it_is_named_unreachable() -> None:
    problem = refusal(journey(message("a"), message("island")))
    assert (problem.field, problem.code) == ("steps.1", "unreachable_step")


@pytest.mark.parametrize("steps", [
    (message("a", nxt="b"), message("b", nxt="a")),
    (message("a", nxt="a"),),
    (message("a", nxt="b"), branch("b", {"stage": "loyal"}, "c", "a"), message("c")),
])
def test_given_a_loop_without_a_wait_then_it_is_refused(steps: Any) -> None:
    assert refusal(journey(*steps)).code == "cycle_without_wait"


def test_given_successors_then_branches_give_both_arms_and_the_last_step_none() -> None:
    assert validation.successors(branch("b", {"stage": "loyal"}, "x", "y")) == ["x", "y"]
    assert validation.successors(branch("b", {"stage": "loyal"}, None, "y")) == ["y"]
    assert validation.successors(message("a", nxt="b")) == ["b"]
    assert validation.successors(message("a")) == []


# --- waits -----------------------------------------------------------------------------
@pytest.mark.parametrize("how", [{"duration": "PT1S"}, {"duration": "P365D"}, {"duration": "P12M"},
                                 {"until_date": {"attribute": "birthday", "offset": "-P365D", "at": "10:00"}}])
def test_given_a_wait_within_a_year_then_it_is_valid(how: dict[str, Any]) -> None:
    validation.check_definition(CTX, journey(wait("w", "m", **how), message("m")))


@pytest.mark.parametrize(("how", "field"), [
    ({"duration": "PT0S"}, "steps.0.duration"),
    ({"duration": "-PT1H"}, "steps.0.duration"),
    ({"duration": "P366D"}, "steps.0.duration"),
    ({"duration": "2 hours"}, "steps.0.duration"),
    ({"until_date": {"attribute": "birthday", "offset": "P400D", "at": "10:00"}}, "steps.0.until_date.offset"),
    ({"until_date": {"attribute": "birthday", "offset": "-P1Y1D", "at": "10:00"}}, "steps.0.until_date.offset"),
])
def test_given_a_wait_of_nothing_negative_or_over_a_year_then_it_is_refused(how: dict[str, Any],
                                                                             field: str) -> None:
    problem = refusal(journey(wait("w", "m", **how), message("m")))
    assert (problem.field, problem.code) == (field, "invalid_duration")


# --- branch conditions -----------------------------------------------------------------
def test_given_ordered_since_enrolment_then_it_expands_to_the_filter_language() -> None:
    at = "2026-03-01T00:00:00Z"
    assert validation.expand_condition({"ordered_since_enrolment": True}, at) == {"last_order_since": at}
    assert validation.expand_condition({"ordered_since_enrolment": False}, at) == {"not": {"last_order_since": at}}
    nested = {"and": [{"stage": "loyal"}, {"not": {"ordered_since_enrolment": True}}]}
    assert validation.expand_condition(nested, at) == {
        "and": [{"stage": "loyal"}, {"not": {"last_order_since": at}}]}


def test_given_a_condition_the_filter_language_refuses_then_the_path_inside_the_step_is_named() -> None:
    problem = refusal(journey(branch("b", {"and": [{"stage": "loyal"}, {"colour": "red"}]}, "m", "m"), message("m")))
    assert (problem.field, problem.code) == ("steps.0.condition.and[1]", "invalid_filter")


@pytest.mark.parametrize(("condition", "field"), [
    ({"stage": "vip"}, "steps.0.condition.stage"),
    ({"or": [{"stage": "loyal"}, {"not": {"stage": "vip"}}]}, "steps.0.condition.or[1].not.stage"),
    ({"tag": "stage:vip"}, "steps.0.condition.tag"),  # a stage's system tag
])
def test_given_a_stage_that_does_not_exist_then_the_term_is_named(condition: Any, field: str) -> None:
    problem = refusal(journey(branch("b", condition, "m", "m"), message("m")))
    assert (problem.field, problem.code) == (field, "unknown_stage")


def test_given_an_entry_filter_then_it_is_checked_like_a_condition() -> None:
    problem = refusal(journey(message("m"), entry_filter={"stage": "vip"}))
    assert (problem.field, problem.code) == ("entry_filter.stage", "unknown_stage")


# --- templates and triggers ------------------------------------------------------------
def test_given_a_template_with_an_unknown_variable_then_the_part_is_named() -> None:
    problem = refusal(journey(message("m", subject="Hi {{ member.password }}")))
    assert (problem.field, problem.code) == ("steps.0.template.subject", "invalid_template")


def test_given_coupon_variables_without_a_grant_coupon_step_then_they_are_refused() -> None:
    problem = refusal(journey(message("m", "Your code {{ coupon.code }}")))
    assert (problem.field, problem.code) == ("steps.0.template.body", "invalid_template")
    granted = journey({"id": "g", "type": "grant_coupon", "next": "m"}, message("m", "Your code {{ coupon.code }}"))
    validation.check_definition(CTX, granted)


def test_given_a_stage_trigger_naming_no_stage_then_the_trigger_field_is_named() -> None:
    problem = refusal(journey(message("m"), trigger={"type": "stage_changed", "previous": "loyal", "to": "vip"}))
    assert (problem.field, problem.code) == ("trigger.to", "unknown_stage")
