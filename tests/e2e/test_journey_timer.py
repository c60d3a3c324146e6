"""A journey with a 1-minute wait really fires on ``make run``: real time, real HTTP, the
local timers kept in DynamoDB Local and fired by the stack's own schedules."""
from __future__ import annotations

import time

import requests

from tests.e2e.stack import Stacks
from tests.integration.journey_support import CONSENTS, receiver, webhook_message  # noqa: F401 - fixture

ONE_MINUTE = {
    "name": "Welcome after a minute",
    "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
    "start": "w",
    "steps": [
        {"id": "w", "type": "wait", "duration": "PT1M", "next": "hello"},
        webhook_message("hello", "Hello {{member.name}}, one minute later"),
    ],
}


def test_a_one_minute_wait_fires_on_make_run(stacks: Stacks, receiver):  # noqa: F811
    # timers checked every 3 s instead of every minute
    stack = stacks.start(env={"SCHEDULE_INTERVAL": "3"})
    base, auth = stack.base, stack.auth()
    assert requests.put(f"{base}/v1/messaging/settings", headers=auth,
                        json={"webhook_url": receiver.url}).status_code == 200
    receiver.secret = requests.post(f"{base}/v1/messaging/webhook-secret", headers=auth).json()["secret"]
    journey = requests.post(f"{base}/v1/journeys", headers=auth, json=ONE_MINUTE).json()
    assert requests.post(f"{base}/v1/journeys/{journey['id']}/activate", headers=auth).status_code == 200
    member = requests.post(f"{base}/v1/members", headers=auth,
                           json={"phone": "13700137000", "name": "Lin", "consents": CONSENTS}).json()
    sent_at = time.monotonic()
    r = requests.post(f"{base}/v1/events", headers=auth, json={
        "type": "interaction", "event_id": "follow-1", "member": {"id": member["id"]}, "name": "follow"})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    while not receiver.received and time.monotonic() - sent_at < 120:
        time.sleep(1)
    waited = time.monotonic() - sent_at
    assert receiver.received, "the journey's message did not arrive within 2 minutes"
    assert waited >= 59, f"sent after {waited:.0f} s: the wait did not hold"
    message = receiver.received[0]
    assert message["verified"] and message["json"]["content"]["body"] == "Hello Lin, one minute later"
