"""SMS cost the platform per message: each tenant has a daily cap (its messaging settings,
up to the platform's ceiling; a default otherwise). Over it an SMS is not sent: the
message ends ``blocked`` with reason ``sms_daily_cap``. The cap holds exactly when many
deliverers send at once (the quota is taken in the claim's transaction)."""
from __future__ import annotations

import threading

import pytest

from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
    aws,
    create_journey,
    messages,
    new_member,
    sent_sms,
    tick,
)

pytestmark = pytest.mark.usefixtures("aws")

SMS = {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "frequency_capped": False, "start": "sms",
       "steps": [{"id": "sms", "type": "send_message", "channel": "sms", "template": {"body": "Hi {{member.name}}"}}]}


def _cap(http, tenant, cap: int | None) -> None:
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"sms_daily_cap": cap})
    assert r.status == 200 and r.json["sms_daily_cap"] == cap, r


def _members(http, tenant, n: int) -> list[str]:
    return [new_member(http, tenant, phone=f"1380013{i:04d}", name=f"M{i}") for i in range(n)]


def _enrol(http, tenant, jid: str, members: list[str]) -> None:
    r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": members})
    assert r.status == 200 and {x["status"] for x in r.json["results"]} == {"enrolled"}, r


def test_an_sms_over_the_daily_cap_is_blocked_and_the_next_day_sends_again(http, tenant, clock, caplog):
    clock.now = T0
    _cap(http, tenant, 2)
    jid = create_journey(http, tenant, SMS)["id"]
    caplog.clear()
    _enrol(http, tenant, jid, _members(http, tenant, 3))  # the steps run (and send) in the enrolling request
    tick(http)
    assert [(r.levelname, r.tenant_id, r.sms_daily_cap) for r in caplog.records if "SMS blocked" in r.getMessage()] \
        == [("WARNING", tenant.id, 2)]
    log = messages(http, tenant, journey_id=jid)
    assert sorted((m["status"], m["reason"]) for m in log) == [
        ("blocked", "sms_daily_cap"), ("sent", None), ("sent", None)]
    assert len(sent_sms()) == 2

    clock.advance(days=1)
    late = new_member(http, tenant, phone="13900139000", name="Late")
    _enrol(http, tenant, jid, [late])
    tick(http)
    assert [m["status"] for m in messages(http, tenant, member_id=late)] == ["sent"] and len(sent_sms()) == 3


def test_the_cap_holds_exactly_under_concurrent_sends(http, tenant, clock, monkeypatch):
    from chalicelib.core.table import limits
    from chalicelib.journeys import delivery, store

    clock.now = T0
    _cap(http, tenant, 5)
    jid = create_journey(http, tenant, SMS)["id"]
    members = _members(http, tenant, 12)
    with monkeypatch.context() as patched:  # the steps commit; their messages wait in the outbox
        patched.setattr(delivery, "deliver", lambda message, **_: "queued")
        _enrol(http, tenant, jid, members)
        tick(http)
    queued = [m for member in members for m in store.member_message_items(tenant.id, member)]
    assert [m.status for m in queued] == ["queued"] * 12
    start = threading.Barrier(len(queued), timeout=20)
    results: list[str] = []

    def send(message: store.MessageItem) -> None:
        start.wait()
        results.append(delivery.deliver(message))

    threads = [threading.Thread(target=send, args=(m,)) for m in queued]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["blocked"] * 7 + ["sent"] * 5
    assert len(sent_sms()) == 5
    log = messages(http, tenant, journey_id=jid)
    assert sorted(m["status"] for m in log) == ["blocked"] * 7 + ["sent"] * 5
    assert {m["reason"] for m in log if m["status"] == "blocked"} == {"sms_daily_cap"}
    assert limits.used(tenant.id, f"sms_{T0.date().isoformat()}") == 5


def test_the_default_cap_applies_until_a_tenant_sets_its_own(http, tenant, other_tenant):
    from chalicelib.core.config import get_settings

    assert http.get("/v1/messaging/settings", tenant.key).json["sms_daily_cap"] == get_settings().sms_daily_cap
    _cap(http, tenant, 10)
    assert http.get("/v1/messaging/settings", other_tenant.key).json["sms_daily_cap"] == get_settings().sms_daily_cap


@pytest.mark.parametrize("cap", [-1, "ten", 1.5, 10_001, 2_000_000])
def test_a_bad_cap_is_a_422_and_nothing_changes(http, tenant, cap):
    _cap(http, tenant, 7)
    before = http.get("/v1/messaging/settings", tenant.key).json
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"sms_daily_cap": cap})
    assert r.status == 422 and "sms_daily_cap" in (r.json.get("field") or r.text), r
    assert http.get("/v1/messaging/settings", tenant.key).json == before


def test_a_retry_of_a_capped_sms_takes_no_second_unit(http, tenant, clock, monkeypatch):
    """The quota counts SMS, not attempts: a throttled send retried later takes none."""
    from chalicelib.core.table import limits
    from chalicelib.journeys.channels import Outcome, channel

    clock.now = T0
    _cap(http, tenant, 1)
    jid = create_journey(http, tenant, SMS)["id"]
    [member] = _members(http, tenant, 1)
    sns = channel("sms")
    with monkeypatch.context() as patched:
        patched.setattr(sns, "send", lambda message: Outcome.of("retry", "Throttling: slow down"))
        _enrol(http, tenant, jid, [member])
        tick(http)
    assert [m["status"] for m in messages(http, tenant, member_id=member)] == ["queued"]
    clock.advance(seconds=31)
    http.schedule("journey_sweeper")
    assert [(m["status"], m["attempts"]) for m in messages(http, tenant, member_id=member)] == [("sent", 2)]
    assert limits.used(tenant.id, f"sms_{T0.date().isoformat()}") == 1 and len(sent_sms()) == 1
