"""``make run``'s stack, tried as a new user would: served over real HTTP on 127.0.0.1,
data kept in the checkout's ``.local/`` across a restart, the demo tenant reused."""
from __future__ import annotations

import signal

import requests

from tests.e2e.stack import Stacks


def test_make_run_stack_serves_keeps_data_and_reuses_the_demo_tenant(stacks: Stacks) -> None:
    stack = stacks.start()
    dev = stack.dev()
    assert dev["base_url"] == f"http://127.0.0.1:{stack.port}"
    key = {"Authorization": f"Bearer {dev['demo_api_key']}"}
    created = requests.post(f"{dev['base_url']}/v1/members", headers=key,
                            json={"phone": "138 0013 8000", "name": "Lin", "source": {"channel": "mall-qr-01"}})
    assert created.status_code == 201, created.text
    user = {"Authorization": f"Bearer {dev['demo_user_jwt']}"}
    assert requests.get(f"{dev['base_url']}/v1/tenant", headers=user).json()["id"] == dev["demo_tenant_id"]
    admin = {"Authorization": f"Bearer {dev['admin_token']}"}
    second = requests.post(f"{dev['base_url']}/v1/admin/tenants", headers=admin, json={"name": "Second"})
    assert second.status_code == 201
    other_key = {"Authorization": f"Bearer {second.json()['api_key']['secret']}"}
    _, left = stack.stop(signal.SIGINT, group=True)  # Ctrl-C in the terminal
    assert not left
    output = stack.output()
    assert "curl" in output and "Stopped" in output
    assert (stack.local / "dynamodb-data").is_dir()

    again_stack = stacks.start(checkout=stack.checkout, port=stack.port)
    again = again_stack.dev()
    assert again["demo_tenant_id"] == dev["demo_tenant_id"] and again["demo_api_key"] == dev["demo_api_key"]
    found = requests.get(f"{dev['base_url']}/v1/members/lookup", params={"phone": "+86-138-0013-8000"}, headers=key)
    assert found.status_code == 200 and found.json()["id"] == created.json()["id"]
    member_url = f"{dev['base_url']}/v1/members/{created.json()['id']}"
    assert requests.get(member_url, headers=other_key).status_code == 404
    assert requests.get(f"{dev['base_url']}/v1/channels/mall-qr-01", headers=key).json()["member_count"] == 1
