"""An import is history (core.signals.history): a brand's past members and orders load into
aggregates, tiers, the timeline and rule tags, and set off nothing live: no journey
enrolment, no points, no outbound webhooks. The same order sent live afterwards does all
of that, so each check below can fail."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.fixtures import make_tenant, run_jobs
from tests.integration.imports_helpers import orders_jsonl, run_import
from tests.integration.journey_support import create_journey
from tests.integration.points_support import points, set_points_program
from tests.integration.webhook_support import Receiver, endpoint

PHONES = ["+8613700000001", "+8613700000002"]


def _brand(http: Any, admin_token: str, receiver: Receiver) -> tuple[Any, str, str]:
    """A tenant where every live order tags, enrols, earns and is posted out."""
    tenant = make_tenant(http, admin_token, name="Migrating brand", unknown_identity="create")
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Buyers", "selection": "multi"}).json
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Bought"}).json
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "buyers", "tag_id": tag["id"],
                                                   "when": {"event": {"type": "order.paid"}}})
    assert rule.status == 201, rule
    journey = create_journey(http, tenant, {
        "trigger": {"type": "event", "event": {"type": "order.paid"}}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P3D", "next": "x"}, {"id": "x", "type": "exit"}]})
    set_points_program(http, tenant)
    endpoint(http, tenant, receiver, ["order.*", "member.*"])
    run_jobs()
    return tenant, tag["id"], journey["id"]


def _state(http: Any, tenant: Any, phone: str) -> dict[str, Any]:
    member = http.get(f"/v1/members/lookup?phone={quote(phone)}", tenant.key).json
    standing = http.get(f"/v1/members/{member['id']}/standing", tenant.key).json
    tags = {t["tag_id"] for t in http.get(f"/v1/members/{member['id']}/tags", tenant.key).json["data"]}
    enrolments = http.get(f"/v1/members/{member['id']}/enrolments", tenant.key).json["data"]
    return {"id": member["id"], "orders": standing["orders"], "spend": standing["lifetime_spend"], "tags": tags,
            "enrolments": len(enrolments), "points": points(http, tenant, member["id"])["available"]}


def test_imported_orders_load_aggregates_and_tags_but_set_off_nothing_live(http, admin_token):
    receiver = Receiver()
    try:
        tenant, tag_id, _ = _brand(http, admin_token, receiver)
        history = [{"order_id": f"h-{n}", "member": {"phone": PHONES[n % 2]}, "amount": 100_00 + n,
                    "currency": "CNY", "occurred_at": "2025-11-11T10:00:00Z"} for n in range(4)]

        # WHEN a brand's past orders are imported (their members created by the import)
        result = run_import(http, tenant, "orders", "jsonl", orders_jsonl(history))
        assert result["progress"]["rows_applied"] == 4
        run_jobs()
        http.schedule("outbox_sweeper")
        http.schedule("webhook_deliveries")

        # THEN aggregates and rule tags hold the history; nothing live happened
        first = _state(http, tenant, PHONES[0])
        assert (first["orders"], first["spend"]) == (2, 200_00 + 2) and tag_id in first["tags"]
        assert (first["enrolments"], first["points"]) == (0, 0)
        assert receiver.hits == []

        # WHEN the same member orders live
        live = http.post("/v1/events", tenant.key, {"events": [{
            "type": "order.paid", "event_id": "live-1", "member": {"id": first["id"]}, "order_id": "live-1",
            "amount": 50_00, "currency": "CNY"}]})
        assert live.status == 200 and live.json["results"][0]["status"] == "accepted", live
        run_jobs()
        http.schedule("webhook_deliveries")

        # THEN that one order enrols, earns and is posted out
        after = _state(http, tenant, PHONES[0])
        assert (after["orders"], after["enrolments"]) == (3, 1)
        assert after["points"] > 0
        assert [h["body"]["data"].get("source_event_id") for h in receiver.hits if h["body"]["type"] == "order.paid"
                ] == ["live-1"]
    finally:
        receiver.stop()
