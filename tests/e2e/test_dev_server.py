"""``make run``'s API server under load and when stopped, as the README runs it.

Issue 9 item 1: ``chalice local``'s reloader restarted the API on every DynamoDB write
(it polled ``.local/dynamodb-data/``), resetting in-flight requests, and its listen backlog
of 5 reset concurrent clients; and stopping ``make run`` could leave the respawned server
behind. Every server start prints ``Serving on http://...``: a restart is one more line.
"""
from __future__ import annotations

import http.client
import signal
import threading
import time
import uuid
from collections import Counter

import requests

from tests.e2e.stack import Stack, Stacks, alive

THREADS, WRITES_PER_THREAD = 20, 10  # 200 writes


def _writes(stack: Stack) -> tuple[Counter[str], list[str]]:
    """200 writes (members, events, tags) from 20 threads, each on its own keep-alive
    session; (status classes or error names, a few samples of what went wrong)."""
    base, auth = stack.base, stack.auth()
    group = requests.post(f"{base}/v1/tag-groups", headers=auth, json={"name": f"Load {uuid.uuid4().hex[:6]}"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    outcomes: Counter[str] = Counter()
    samples: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        session = requests.Session()
        for i in range(WRITES_PER_THREAD):
            phone = f"1390{n:03d}{i:04d}"
            kind = i % 3
            try:
                if kind == 0:
                    r = session.post(f"{base}/v1/members", headers=auth, timeout=30,
                                     json={"phone": phone, "name": f"Load {n}-{i}"})
                elif kind == 1:
                    r = session.post(f"{base}/v1/events", headers=auth, timeout=30, json={
                        "type": "order.paid", "event_id": f"load-{n}-{i}", "member": {"phone": phone},
                        "order_id": f"load-{n}-{i}", "amount": 1000 + i, "currency": "CNY"})
                else:
                    r = session.post(f"{base}/v1/tag-groups/{group_id}/tags", headers=auth, timeout=30,
                                     json={"name": f"load-{n}-{i}"})
                outcome = f"{r.status_code // 100}xx"
                sample = f"{r.request.method} {r.request.url} -> {r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                outcome, sample = type(exc).__name__, f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes[outcome] += 1
                if outcome != "2xx" and len(samples) < 5:
                    samples.append(sample)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return outcomes, samples


def test_200_concurrent_writes_no_connection_error_no_restart_then_sigterm_to_make_stops_all(stacks: Stacks) -> None:
    stack = stacks.start()
    assert stack.server_starts() == 1

    outcomes, samples = _writes(stack)

    assert outcomes == Counter({"2xx": THREADS * WRITES_PER_THREAD}), (outcomes, samples)
    assert stack.restarts() == 0, f"the API restarted {stack.restarts()} times under the writes"
    # SIGTERM to make's own pid (make does not necessarily pass it on): everything stops
    took, left = stack.stop(signal.SIGTERM)
    print(f"200 writes: {outcomes}, restarts {stack.restarts()}; SIGTERM to make: all stopped in {took:.2f} s")
    assert not left, f"still running 10 s after SIGTERM to make: {left}"
    assert took < 10


def test_sigint_to_the_process_group_stops_every_process_within_10_s(stacks: Stacks) -> None:
    stack = stacks.start()
    pids = stack.processes()
    assert len(pids) >= 4, pids  # make, the API/devstack process, DynamoDB Local, stripe-mock

    took, left = stack.stop(signal.SIGINT, group=True)
    print(f"SIGINT to the group: {len(pids)} processes stopped in {took:.2f} s")

    assert not left, f"still running 10 s after SIGINT to the group: {left}"
    assert not any(alive(p) for p in pids) and took < 10
    assert "Stopped" in stack.output()


def test_when_make_dies_without_passing_a_signal_on_the_stack_stops_too(stacks: Stacks) -> None:
    stack = stacks.start()
    pids = stack.processes()

    took, left = stack.stop(signal.SIGKILL)  # make cannot pass anything on: the API notices its parent is gone

    assert not left, f"still running 10 s after make died: {left}"
    assert "The process that started the stack is gone" in stack.output() and took < 10, pids


def test_writes_under_local_never_restart_the_api(stacks: Stacks) -> None:
    stack = stacks.start()
    data = stack.local / "dynamodb-data"
    assert data.is_dir()
    (data / "touched-by-test").write_text("x")
    (stack.local / "dev.json").touch()
    time.sleep(3)  # chalice local's reloader polled once a second

    r = requests.get(f"{stack.base}/v1/members?limit=1", headers=stack.auth(), timeout=10)

    assert r.status_code == 200
    assert stack.restarts() == 0, "a write under .local restarted the API"


def test_gateway_answers_are_problem_json_with_cors_over_real_http(stacks: Stacks) -> None:
    stack = stacks.start()
    origin = {"Origin": "http://localhost:5173"}  # the dev stack's allowed SPA origin

    missing = requests.get(f"{stack.base}/v1/no-such-thing", headers={**stack.auth(), **origin}, timeout=10)
    trace = requests.request("TRACE", f"{stack.base}/v1/members", headers=origin, timeout=10)
    put = requests.put(f"{stack.base}/v1/members", headers={**stack.auth(), **origin}, json={}, timeout=10)
    foreign = requests.get(f"{stack.base}/nowhere", headers={"Origin": "https://evil.example"}, timeout=10)

    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found" and missing.json()["status"] == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    for answer in (trace, put):
        assert answer.status_code == 405, answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "method_not_allowed" and answer.json()["status"] == 405
        assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}
        assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert foreign.status_code == 404 and "Access-Control-Allow-Origin" not in foreign.headers


def test_one_keep_alive_connection_serves_answers_errors_and_head_in_a_row(stacks: Stacks) -> None:
    stack = stacks.start()
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    statuses, sockets = [], set()
    for method, path, body in [("GET", "/openapi.json", None), ("TRACE", "/v1/members", None),
                               ("POST", "/v1/no-such-thing", b'{"a": 1}'), ("HEAD", "/v1/members", None),
                               ("POST", "/v1/members", b'{"phone": "13800138000"}'), ("GET", "/docs", None)]:
        conn.request(method, path, body=body, headers={**stack.auth(), "Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        statuses.append(answer.status)
        sockets.add(id(conn.sock))
        assert answer.getheader("Connection") != "close"

    assert statuses == [200, 405, 404, 405, 201, 200]
    assert len(sockets) == 1, "the connection was not kept alive"


def test_two_stacks_run_side_by_side(stacks: Stacks) -> None:
    first, second = stacks.start(), stacks.start()

    assert first.dev()["dynamodb_endpoint"] != second.dev()["dynamodb_endpoint"]
    for stack in (first, second):
        r = requests.post(f"{stack.base}/v1/members", headers=stack.auth(), json={"phone": "13800138000"}, timeout=10)
        assert r.status_code == 201, r.text
