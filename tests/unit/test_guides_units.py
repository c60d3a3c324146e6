"""Pure pieces of the guides capability: months in a store's zone, guide codes, request
rules, task templates."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.core.errors import Unprocessable
from chalicelib.guides import counting, service, tasks
from chalicelib.guides.schemas import BoardQuery, GuideLeave, StoreCreate


def test_an_event_counts_in_the_month_of_the_stores_zone() -> None:
    # 31 March 17:00 UTC is already 1 April in Shanghai, still 31 March in Los Angeles
    assert counting.month_of("2026-03-31T17:00:00.000Z", "Asia/Shanghai") == "2026-04"
    assert counting.month_of("2026-03-31T17:00:00.000Z", "America/Los_Angeles") == "2026-03"


def test_counter_names_are_per_guide_and_month() -> None:
    names = counting.board_names("T1", "G1", "2026-04")
    assert names[counting.MEMBERS] == "T#T1#CNT#guide_members#G1"
    assert names[counting.DONE] == "T#T1#CNT#guide_tasks_done#G1#2026-04"
    assert len(set(names.values())) == len(names)


def test_a_guide_code_names_its_guide_and_nothing_else() -> None:
    guide_id = "01M8Y0WDK2W57WBM1Z8NW1XW1T"
    assert service.guide_id_of_code(service.guide_code(guide_id)) == guide_id
    for code in (None, "", "mall", "guide-", "guide-notanid", "xguide-01m8y0wdk2w57wbm1z8nw1xw1t"):
        assert service.guide_id_of_code(code) is None


def test_leave_takes_exactly_one_destination() -> None:
    gid = "01M8Y0WDK2W57WBM1Z8NW1XW1T"
    assert GuideLeave(transfer_to=gid).transfer_to == gid
    for body in ({}, {"transfer_to": gid, "spread_over_store": gid}):
        with pytest.raises(ValidationError):
            GuideLeave(**body)


def test_store_zone_and_board_month_are_checked() -> None:
    with pytest.raises(ValidationError):
        StoreCreate(name="x", timezone="Asia/Atlantis")
    with pytest.raises(ValidationError):
        BoardQuery(month="2026-13")
    assert StoreCreate(name="x", timezone="Asia/Shanghai").task_pool is False


def test_task_templates_use_member_variables_only() -> None:
    tasks.check_templates("Call {{ member.name | default: them }}", "Likes {{member.attributes.scent}}")
    for title in ("{{ coupon.code }}", "{{ member.nope }}", "{{ unclosed"):
        with pytest.raises(Unprocessable):
            tasks.check_templates(title, None)


def test_a_task_is_rendered_from_the_member() -> None:
    from types import SimpleNamespace

    member = SimpleNamespace(id="M", name=None, phone="+86138", email=None, gender=None, attributes={"shade": "rose"})
    assert tasks.render("Call {{member.name|default:them}}", "{{member.attributes.shade}}", member, "UTC") == (
        "Call them", "rose")
