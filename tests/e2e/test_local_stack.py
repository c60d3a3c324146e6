"""``make run``'s stack, tried as a new user would: served over real HTTP on 127.0.0.1,
data kept across a restart, the demo tenant reused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devstack.dynamodb_local import free_port
from tests.conftest import ROOT


def start_stack(local_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run", "--port", str(port), "--dynamodb-port", str(free_port()),
         "--local-dir", str(local_dir), "--no-autoreload"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stack exited: {proc.stdout.read().decode()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the stack did not serve in time")


def stop_stack(proc: subprocess.Popen[bytes]) -> str:
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out.decode()


def test_make_run_stack_serves_keeps_data_and_reuses_the_demo_tenant(tmp_path):
    port = free_port()
    proc = start_stack(tmp_path, port)
    try:
        dev = json.loads((tmp_path / "dev.json").read_text())
        assert dev["base_url"] == f"http://127.0.0.1:{port}"
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
    finally:
        output = stop_stack(proc)
    assert "curl" in output and "Stopped" in output
    proc = start_stack(tmp_path, port)
    try:
        again = json.loads((tmp_path / "dev.json").read_text())
        assert again["demo_tenant_id"] == dev["demo_tenant_id"] and again["demo_api_key"] == dev["demo_api_key"]
        found = requests.get(f"{dev['base_url']}/v1/members/lookup", params={"phone": "+86-138-0013-8000"}, headers=key)
        assert found.status_code == 200 and found.json()["id"] == created.json()["id"]
        member_url = f"{dev['base_url']}/v1/members/{created.json()['id']}"
        assert requests.get(member_url, headers=other_key).status_code == 404
        assert requests.get(f"{dev['base_url']}/v1/channels/mall-qr-01", headers=key).json()["member_count"] == 1
    finally:
        stop_stack(proc)
