"""Message templates (pure): placeholders are checked when a journey is saved and
rendered when a message is queued; a missing value fails the message, never a hole."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.journeys import templates
from chalicelib.journeys.templates import MissingVariable, Placeholder, TemplateError

VALUES: dict[str, Any] = {
    "member": {"id": "m1", "name": "Night", "attributes": {"skin": "dry", "anniversary": "2026-03-14"}},
    "tier": {"name": "Gold", "amount_to_next_tier": 0},
    "trigger": {"at": "2026-03-14T17:30:00Z", "amount": 12_900},
    "journey": {"name": "Welcome"},
}


# --- checking at save time -------------------------------------------------------------
def test_given_known_variables_when_parsed_then_each_placeholder_keeps_its_filter_and_argument() -> None:
    found = templates.placeholders("Hi {{member.name | default: friend }}, {{ trigger.at|date }} {{tier.name}}")
    assert found == [Placeholder("member.name", "default", "friend"), Placeholder("trigger.at", "date", None),
                     Placeholder("tier.name", None, None)]
    assert [p.root for p in found] == ["member", "trigger", "tier"]


@pytest.mark.parametrize("text", [
    "{{ member.attributes.skin }}", "{{ trigger.order_id }}", "{{ coupon.code }}", "{{ journey.name }}",
    "{{ tier.progress_message }}", "no placeholders at all",
])
def test_given_a_documented_variable_when_checked_then_it_is_accepted(text: str) -> None:
    templates.placeholders(text)


@pytest.mark.parametrize("text", [
    "{{ member.password }}",              # not a member field
    "{{ member.attributes }}",            # the whole map
    "{{ member.attributes.a.b }}",        # deeper than one attribute
    "{{ trigger }}", "{{ trigger.a.b }}",
    "{{ secrets.key }}",                  # unknown root
])
def test_given_an_unknown_variable_when_checked_then_it_is_refused_by_name(text: str) -> None:
    with pytest.raises(TemplateError, match="unknown variable"):
        templates.placeholders(text)


@pytest.mark.parametrize("text", ["Hi {{ member.name", "Hi member.name }}", "{{ member.name | upper }}",
                                  "{{ Member.Name }}", "{{ }}"])
def test_given_stray_or_malformed_braces_when_checked_then_the_template_is_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="malformed"):
        templates.placeholders(text)


def test_given_several_texts_then_roots_lists_the_variable_families_they_use() -> None:
    assert templates.roots(["{{ member.name }} {{ coupon.code }}", "{{ member.id }}"]) == {"member", "coupon"}


# --- rendering at send time ------------------------------------------------------------
def test_given_values_when_rendered_then_placeholders_are_replaced_and_text_kept() -> None:
    text = "Hi {{ member.name }} ({{member.attributes.skin}}): {{ tier.name }}, {{ trigger.amount }}"
    assert templates.render(text, VALUES, "UTC") == "Hi Night (dry): Gold, 12900"


def test_given_a_zero_value_when_rendered_then_it_is_shown_not_treated_as_missing() -> None:
    assert templates.render("{{ tier.amount_to_next_tier }} to go", VALUES, "UTC") == "0 to go"


@pytest.mark.parametrize("values", [{}, {"member": {"name": ""}}, {"member": {"name": None}}, {"member": "x"}])
def test_given_a_missing_value_with_a_default_when_rendered_then_the_default_is_used(values: Any) -> None:
    assert templates.render("Hi {{ member.name | default: friend }}!", values, "UTC") == "Hi friend!"
    assert templates.render("Hi {{ member.name | default }}!", values, "UTC") == "Hi !"


def test_given_a_missing_value_without_default_when_rendered_then_the_message_fails_naming_it() -> None:
    with pytest.raises(MissingVariable) as caught:
        templates.render("Your code: {{ coupon.code }}", VALUES, "UTC")
    assert caught.value.path == "coupon.code"


def test_given_a_time_when_rendered_as_date_then_it_is_the_tenants_local_date() -> None:
    # 17:30 UTC on 14 March is already 15 March in Shanghai, still 14 March in New York
    assert templates.render("{{ trigger.at | date }}", VALUES, "Asia/Shanghai") == "2026-03-15"
    assert templates.render("{{ trigger.at | date }}", VALUES, "America/New_York") == "2026-03-14"


def test_given_a_date_without_a_zone_when_rendered_as_date_then_it_stays_that_day_in_every_zone() -> None:
    # a plain date (or a time with no zone) is already local: converting it as if it were
    # the host's time moved 14 March to 13 March for tenants west of the host
    for tz in ("America/Los_Angeles", "America/New_York", "UTC", "Asia/Shanghai", "Pacific/Auckland"):
        assert templates.render("{{ member.attributes.anniversary | date }}", VALUES, tz) == "2026-03-14", tz
        naive = {"trigger": {"at": "2026-03-14T23:30:00"}}
        assert templates.render("{{ trigger.at | date }}", naive, tz) == "2026-03-14", tz


def test_given_a_value_that_is_not_a_time_when_rendered_as_date_then_it_is_shown_as_given() -> None:
    assert templates.render("{{ trigger.at | date }}", {"trigger": {"at": "soon"}}, "UTC") == "soon"
