"""Event subscriptions through the API: signed deliveries to the subscribed endpoints only,
retries over an outage with every attempt logged, replay of a time range, secret rotation
with an overlap, bad input, tenant isolation, and at-least-once across a crash."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.integrations.webhooks import events as webhook_events
from chalicelib.integrations.webhooks import signing
from tests.environment import ROOT
from tests.fixtures import run_jobs, table_items
from tests.integration.journey_support import receiver  # noqa: F401 - fixture
from tests.integration.webhook_support import Receiver, deliveries, endpoint, member, order


@pytest.fixture
def receivers() -> Iterator[Any]:
    started: list[Receiver] = []

    def start() -> Receiver:
        started.append(Receiver())
        return started[-1]

    yield start
    for r in started:
        r.stop()


def _schedule(http) -> dict[str, int]:
    return http.schedule("webhook_deliveries")


def test_an_order_reaches_two_subscribed_endpoints_exactly_as_signed_and_never_a_third(http, tenant, receivers):
    # GIVEN three endpoints: two subscribed to orders (one by wildcard), one to tags only
    a, b, c = receivers(), receivers(), receivers()
    ep_a = endpoint(http, tenant, a, ["order.paid"])
    ep_b = endpoint(http, tenant, b, ["order.*"])
    endpoint(http, tenant, c, ["member.tag_added"])
    assert ep_a["secret"].startswith("whsec_") and "secret" not in http.get(
        f"/v1/webhook-endpoints/{ep_a['id']}", tenant.key).json

    # WHEN an order is recorded
    lin = member(http, tenant)
    order(http, tenant, lin, "e-1", amount=129_00)

    # THEN both subscribed endpoints got it once, signed with their own secret; the third nothing
    assert c.hits == []
    for got, ep in ((a, ep_a), (b, ep_b)):
        [hit] = got.hits
        assert hit["verified"] == [ep["secret"]]
        body = hit["body"]
        assert (body["type"], body["object"], body["data"]["member_id"], body["data"]["amount"]) == (
            "order.paid", "event", lin, 129_00)
        assert body["data"]["source_event_id"] == "e-1" and hit["event_id"] == body["id"]
    assert a.hits[0]["raw"] == b.hits[0]["raw"]  # one event object, the same bytes to both
    event = http.get(f"/v1/events-out/{a.hits[0]['body']['id']}", tenant.key)
    assert event.status == 200 and event.json == {k: a.hits[0]["body"][k] for k in ("id", "type", "created", "data")}
    [delivery] = deliveries(http, tenant, ep_a["id"])
    assert (delivery["status"], delivery["attempts"], delivery["event_type"]) == ("succeeded", 1, "order.paid")
    assert delivery["last_attempt"]["status_code"] == 200 and delivery["last_attempt"]["latency_ms"] >= 0
    assert delivery["last_attempt"]["response"].startswith('{"ok": true')
    assert set(delivery) >= {"id", "event_id", "event_type", "status", "attempts", "last_attempt", "created_at"}


def test_a_tenant_without_a_matching_endpoint_writes_no_event_object(http, tenant, other_tenant, receivers):
    # GIVEN one tenant with no endpoint and one whose endpoint wants tags only
    endpoint(http, other_tenant, receivers(), ["member.tag_added"])
    for t in (tenant, other_tenant):
        order(http, t, member(http, t), "e-1")
        # THEN no event object, no delivery and no outbox item is left behind
        assert table_items(f"T#{t.id}#WHEVT#") == [] and table_items(f"T#{t.id}#WHDLV#") == []
        assert [i for i in table_items(f"T#{t.id}#") if i["sk"]["S"].startswith("OUTBOX#")] == []


def test_member_events_are_delivered_when_subscribed(http, tenant, receivers):
    r = receivers()
    endpoint(http, tenant, r, ["member.*"])
    lin = member(http, tenant)
    patched = http.patch(f"/v1/members/{lin}", tenant.key, {"name": "Lin", "version": 1})
    assert patched.status == 200, patched
    assert http.delete(f"/v1/members/{lin}", tenant.key).status == 204
    types = [h["body"]["type"] for h in r.hits]
    assert types[0] == "member.created" and types[-1] == "member.erased" and "member.updated" in types
    assert r.hits[0]["body"]["data"]["member"]["id"] == lin and r.hits[-1]["body"]["data"] == {"member_id": lin}
    assert r.hits[0]["body"]["data"]["member"]["phone"] == "+8613800138000"
    # erasure left no profile in the event objects (they keep the member's id)
    for hit in r.hits[:-1]:
        kept = http.get(f"/v1/events-out/{hit['body']['id']}", tenant.key).json
        assert kept["data"] == {"member": {"id": lin, "erased": True}}
        assert "13800138000" not in json.dumps(kept) and "Lin" not in json.dumps(kept)


def test_an_endpoint_down_for_an_hour_gets_every_event_after_it_recovers(http, tenant, clock, receivers):
    # GIVEN an endpoint answering 500
    down = receivers()
    down.status = 500
    ep = endpoint(http, tenant, down, ["order.paid"])
    lin = member(http, tenant)

    # WHEN three orders come during the hour it is down (the schedule runs every 10 minutes)
    start = clock.now
    for n in range(6):
        if n in (0, 1, 2):
            order(http, tenant, lin, f"down-{n}")
        clock.advance(minutes=10)
        _schedule(http)
    assert down.ok_hits() == [] and len(down.hits) >= 3
    # ... and it comes back: by the next retry of each (the 4th wait is 2 h) every event arrives
    down.status = 200
    clock.now = start + timedelta(hours=3)
    _schedule(http)

    # THEN each event arrived, and each delivery logs every attempt (500s, then the 200)
    assert len({h["event_id"] for h in down.ok_hits()}) == 3
    listed = deliveries(http, tenant, ep["id"])
    assert len(listed) == 3 and {d["status"] for d in listed} == {"succeeded"}
    for d in listed:
        detail = http.get(f"/v1/webhook-endpoints/{ep['id']}/deliveries/{d['id']}", tenant.key).json
        codes = [a["status_code"] for a in detail["log"]]
        assert codes[-1] == 200 and set(codes[:-1]) == {500} and len(codes) == detail["attempts"] >= 2
        assert all(a["latency_ms"] is not None and a["at"] for a in detail["log"])
    assert deliveries(http, tenant, ep["id"], status="pending") == []
    assert {d["id"] for d in deliveries(http, tenant, ep["id"], status="succeeded")} == {d["id"] for d in listed}


def test_two_schedules_at_once_send_a_due_delivery_once(http, tenant, clock, receivers):
    r = receivers()
    r.status = 503
    endpoint(http, tenant, r, ["order.paid"])
    order(http, tenant, member(http, tenant), "e-1")
    r.status = 200
    clock.advance(minutes=2)
    threads = [threading.Thread(target=webhook_events.run_schedule) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(r.ok_hits()) == 1


def test_replay_redelivers_exactly_that_range(http, tenant, clock, receivers):
    r = receivers()
    ep = endpoint(http, tenant, r, ["order.paid"])
    lin = member(http, tenant)
    start = clock.now
    for n in range(4):
        order(http, tenant, lin, f"r-{n}")
        clock.advance(hours=1)
    first = [h["body"]["id"] for h in r.hits]
    assert len(first) == 4
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    window = {"since": iso(start + timedelta(minutes=30)), "until": iso(start + timedelta(hours=2, minutes=30))}
    reply = http.post(f"/v1/webhook-endpoints/{ep['id']}/replay", tenant.key, window)
    assert reply.status == 202, reply
    run_jobs()
    assert http.get(f"/v1/jobs/{reply.json['id']}", tenant.key).json["status"] == "succeeded"
    assert sorted(h["body"]["id"] for h in r.hits[4:]) == sorted(first[1:3])
    assert len(deliveries(http, tenant, ep["id"])) == 6


def test_rotation_keeps_the_old_secret_signing_during_the_overlap(http, tenant, clock, receivers):
    r = receivers()
    ep = endpoint(http, tenant, r, ["order.paid"])
    lin = member(http, tenant)
    rotated = http.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", tenant.key, {"overlap_hours": 1})
    assert rotated.status == 201 and rotated.json["secret"] != ep["secret"], rotated
    r.secrets.append(rotated.json["secret"])
    order(http, tenant, lin, "during")
    assert sorted(r.hits[-1]["verified"]) == sorted([ep["secret"], rotated.json["secret"]])
    assert r.hits[-1]["signature"].count("v1=") == 2
    clock.advance(hours=1, minutes=1)
    order(http, tenant, lin, "after")
    assert r.hits[-1]["verified"] == [rotated.json["secret"]] and r.hits[-1]["signature"].count("v1=") == 1


@pytest.mark.parametrize("body", [
    {"url": "https://hooks.brand.example/x", "event_types": ["order.shipped"]},
    {"url": "https://hooks.brand.example/x", "event_types": ["nothing.*"]},
    {"url": "https://hooks.brand.example/x", "event_types": []},
    {"url": "http://hooks.brand.example/x", "event_types": ["order.paid"]},
    {"url": "not a url at all", "event_types": ["order.paid"]},
    {"url": "https://169.254.169.254/latest", "event_types": ["order.paid"]},
    {"url": "https://10.0.0.7/hook", "event_types": ["*"]},
    {"url": "https://hooks.brand.example/x", "event_types": ["*"], "secret": "mine"},
], ids=["unknown_type", "unknown_namespace", "no_types", "http_url", "bad_url", "metadata", "private", "extra"])
def test_bad_input_is_a_422_and_nothing_is_written(http, tenant, body):
    r = http.post("/v1/webhook-endpoints", tenant.key, body)
    assert r.status == 422 and r.headers["content-type"].startswith("application/problem+json"), r
    assert r.json["field"] in ("url", "event_types", "secret"), r.json
    assert http.get("/v1/webhook-endpoints", tenant.key).json["data"] == []
    assert table_items(f"T#{tenant.id}#WH") == []


def test_an_analyst_may_not_manage_endpoints(http, tenant):
    r = http.post("/v1/webhook-endpoints", tenant.user_token("analyst"),
                  {"url": "https://hooks.brand.example/x", "event_types": ["*"]})
    assert r.status == 403 and table_items(f"T#{tenant.id}#WH") == []


def test_another_tenants_ids_are_404_and_change_nothing(http, tenant, other_tenant, receivers):
    r = receivers()
    ep = endpoint(http, tenant, r, ["order.paid"])
    order(http, tenant, member(http, tenant), "e-1")
    [d] = deliveries(http, tenant, ep["id"])
    before = http.get(f"/v1/webhook-endpoints/{ep['id']}", tenant.key).json
    key, base = other_tenant.key, f"/v1/webhook-endpoints/{ep['id']}"
    for method, path, body in [
        ("GET", base, None), ("PATCH", base, {"enabled": False}), ("DELETE", base, None),
        ("GET", f"{base}/deliveries", None), ("GET", f"{base}/deliveries/{d['id']}", None),
        ("POST", f"{base}/deliveries/{d['id']}/retry", None), ("POST", f"{base}/rotate-secret", {}),
        ("POST", f"{base}/replay", {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}),
        ("GET", f"/v1/events-out/{d['event_id']}", None)]:
        resp = http.call(method, path, key, json_body=body)
        assert resp.status == 404, (method, path, resp)
    assert http.get(base, tenant.key).json == before and len(r.hits) == 1
    assert table_items(f"T#{other_tenant.id}#WH") == []


def test_a_redirect_or_a_name_resolving_to_the_metadata_service_is_refused_and_logged(
        http, tenant, receivers, monkeypatch, caplog):
    import socket

    # a redirect to the metadata service / loopback: an answer like any other, never followed
    inner = receivers()
    hop = receivers()
    hop.status, hop.headers = 302, {"Location": "http://169.254.169.254/latest/meta-data/"}
    ep = endpoint(http, tenant, hop, ["order.paid"])
    lin = member(http, tenant)
    order(http, tenant, lin, "e-1")
    [d] = deliveries(http, tenant, ep["id"])
    assert (d["status"], d["last_attempt"]["status_code"]) == ("pending", 302)
    assert d["last_attempt"]["error"] == "redirects are not followed" and inner.hits == [] and len(hop.hits) == 1
    assert http.delete(f"/v1/webhook-endpoints/{ep['id']}", tenant.key).status == 204

    # a host name resolving to 169.254.169.254: refused before connecting, logged on the attempt
    real = socket.getaddrinfo

    def metadata(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.brand.example":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", metadata)
    ep2 = endpoint(http, tenant, None, ["order.paid"], url="https://hooks.brand.example/enclave")
    order(http, tenant, lin, "e-2")
    [d2] = deliveries(http, tenant, ep2["id"])
    assert d2["last_attempt"]["status_code"] is None and "link-local" in d2["last_attempt"]["error"]
    assert any("refused by the outbound rules" in rec.getMessage() for rec in caplog.records)


def _order_then_die(tenant_key: str, member_id: str) -> subprocess.CompletedProcess[str]:
    """Another process records an order and is killed right after its commit (the
    after-commit delivery replaced by an immediate exit)."""
    event = {"type": "order.paid", "event_id": "crash-1", "member": {"id": member_id}, "order_id": "o-crash",
             "amount": 500, "currency": "CNY"}
    script = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from chalice.test import Client
        from app import app
        from chalicelib.core import signals

        signals.deliver = lambda *a, **k: os._exit(137)
        with Client(app, project_dir={str(ROOT)!r}) as client:
            client.http.post("/v1/events", body=json.dumps({{"events": [{json.dumps(event)}]}}),
                             headers={{"Authorization": "Bearer {tenant_key}", "Content-Type": "application/json"}})
        sys.exit(3)
    """)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)


def test_a_process_killed_right_after_the_commit_still_delivers_through_the_schedules(http, tenant, clock, receivers):
    r = receivers()
    endpoint(http, tenant, r, ["order.paid"])
    lin = member(http, tenant)
    died = _order_then_die(tenant.key, lin)
    assert died.returncode == 137, (died.stdout, died.stderr[-2000:])
    assert r.hits == []
    clock.advance(seconds=120)  # past the killed writer's lease
    assert http.schedule("outbox_sweeper")["delivered"] >= 1
    [hit] = r.hits
    assert hit["body"]["data"]["source_event_id"] == "crash-1" and hit["verified"]
    clock.advance(minutes=10)
    http.schedule("outbox_sweeper")
    _schedule(http)
    assert len(r.hits) == 1


def test_the_fast_path_lost_after_the_deliveries_commit_is_sent_on_redelivery(http, tenant, clock, receivers,
                                                                               monkeypatch):
    r = receivers()
    endpoint(http, tenant, r, ["order.paid"])
    lin = member(http, tenant)

    def die(*args: Any, **kwargs: Any) -> None:
        raise SystemError("the process died before sending")

    monkeypatch.setattr(webhook_events, "send_now", die)
    order(http, tenant, lin, "e-1")
    assert r.hits == [] and len(table_items(f"T#{tenant.id}#WHDLV#")) == 1
    monkeypatch.undo()
    clock.advance(minutes=2)
    http.schedule("outbox_sweeper")
    assert len(r.hits) == 1 and json.loads(r.hits[0]["raw"])["type"] == "order.paid"


def test_an_endpoint_failing_for_three_days_is_disabled_and_the_tenant_told(http, tenant, clock, receivers):
    bad, watcher = receivers(), receivers()
    bad.status = 500
    ep = endpoint(http, tenant, bad, ["order.paid"])
    endpoint(http, tenant, watcher, ["webhook_endpoint.disabled"])
    order(http, tenant, member(http, tenant), "e-1")
    for _ in range(8):  # 12-hour steps: the retries go on, then the endpoint is disabled
        clock.advance(hours=12)
        _schedule(http)
    got = http.get(f"/v1/webhook-endpoints/{ep['id']}", tenant.key).json
    assert got["enabled"] is False and "without a success" in got["disabled_reason"] and got["disabled_at"]
    [told] = watcher.hits
    assert told["body"]["type"] == "webhook_endpoint.disabled" and told["body"]["data"]["endpoint_id"] == ep["id"]
    again = http.patch(f"/v1/webhook-endpoints/{ep['id']}", tenant.key, {"enabled": True}).json
    assert again["enabled"] is True and again["disabled_reason"] is None


def test_signing_matches_what_a_receiver_verifies(http):
    assert signing.verify(b"{}", signing.sign(b"{}", ["whsec_a", "whsec_b"], 1_700_000_000), "whsec_b") == 1_700_000_000


def test_a_journey_message_sent_is_an_event_without_its_content(http, tenant, clock, receivers, receiver):
    from tests.integration.journey_support import T0, connect_webhook, create_journey, new_member, tick, webhook_message

    clock.now = T0
    connect_webhook(http, tenant, receiver)  # the journey's own channel (the brand's sender)
    watch = receivers()
    endpoint(http, tenant, watch, ["journey.*"])
    journey = create_journey(http, tenant, {"trigger": {"type": "api"}, "reentry": {"policy": "always"},
                                            "start": "hello", "steps": [webhook_message("hello", "Hello")]})
    lin = new_member(http, tenant)
    r = http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": [lin]})
    assert r.status == 200, r
    tick(http)
    assert receiver.texts() == ["Hello"]
    [hit] = watch.hits
    data = hit["body"]["data"]
    assert hit["body"]["type"] == "journey.message_sent" and hit["verified"]
    assert (data["member_id"], data["journey_id"], data["status"], data["channel"]) == (lin, journey["id"], "sent",
                                                                                       "webhook")
    assert "Hello" not in hit["raw"].decode()
