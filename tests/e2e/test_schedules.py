"""The app's schedules in the dev stack: ``make run`` fires them (``chalice local`` never
did) and ``make job NAME=...`` runs one now against the running stack."""
from __future__ import annotations

import io
import signal
import subprocess
import time
from datetime import UTC, datetime

import boto3
import pytest
from chalice import Chalice, Cron, Rate

from devstack.schedules import Scheduler, discover, parse_interval, period_seconds
from tests.e2e.stack import Stack, Stacks


def _make_job(stack: Stack, name: str) -> subprocess.CompletedProcess[str]:
    """``make job NAME=...`` in the stack's checkout, as the README says."""
    return subprocess.run(["make", "--no-print-directory", "job", f"NAME={name}"], cwd=stack.checkout,
                          env=stack.environment(), capture_output=True, text=True, timeout=120, check=False)


def _utc_day() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def test_make_run_fires_the_schedules_and_make_job_runs_one_now(stacks: Stacks):
    days = {_utc_day()}
    stack = stacks.start(env={"SCHEDULE_INTERVAL": "2"})
    dev = stack.dev()
    ddb = boto3.client("dynamodb", endpoint_url=dev["dynamodb_endpoint"], region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    job = None
    deadline = time.monotonic() + 30
    while job is None and time.monotonic() < deadline:
        days.add(_utc_day())
        for day in days:
            item = ddb.get_item(TableName=dev["table_name"], ConsistentRead=True,
                                Key={"pk": {"S": f"PLATFORM#JOB#NIGHTLY-{day}"}, "sk": {"S": "JOB"}}).get("Item")
            if item and item["status"]["S"] == "succeeded":
                job = item
        time.sleep(0.5)
    assert job is not None, "the nightly schedule did not run (or its job did not succeed) within 30 s"
    assert job["kind"]["S"] == "nightly"

    ran = _make_job(stack, "nightly")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"job {job['job_id']['S']} (nightly): succeeded" in ran.stdout
    assert "progress" in ran.stdout
    _, left = stack.stop(signal.SIGTERM)
    assert not left
    output = stack.output()
    assert "[schedules] nightly ->" in output and "[schedules] job_sweeper ->" in output, output[-3000:]
    assert "[schedules] nightly failed" not in output and "[schedules] job_sweeper failed" not in output
    assert "Stopped" in output

    stopped = _make_job(stack, "nightly")
    assert stopped.returncode != 0 and "not running" in stopped.stderr and "make run" in stopped.stderr


def test_schedules_run_at_their_rates_capped_and_a_failing_one_is_logged_not_fatal(tmp_path):
    app = Chalice(app_name="schedules-test")
    calls = {"good": 0, "bad": 0}

    @app.schedule(Rate(5, unit=Rate.MINUTES), name="good")
    def good(event):  # type: ignore[no-untyped-def]
        assert event.detail_type == "Scheduled Event"
        calls["good"] += 1
        return {"n": calls["good"]}

    @app.schedule("rate(1 day)", name="bad")
    def bad(event):  # type: ignore[no-untyped-def]
        calls["bad"] += 1
        raise RuntimeError("boom")

    @app.schedule(Cron(0, 3, "*", "*", "?", "*"), name="cron")
    def cron(event):  # type: ignore[no-untyped-def]
        return None

    assert {s.name: s.seconds for s in discover(app)} == {"good": 300, "bad": 86400, "cron": 86400}
    assert {s.name: s.seconds for s in discover(app, cap=600)} == {"good": 300, "bad": 600, "cron": 600}
    assert period_seconds("rate(2 hours)") == 7200 and period_seconds(Rate(1, unit=Rate.MINUTES)) == 60
    assert parse_interval(None) is None and parse_interval("") is None and parse_interval("2") == 2
    with pytest.raises(ValueError):
        parse_interval("soon")

    log = io.StringIO()
    scheduler = Scheduler(lambda: app, tmp_path, cap=0.05, out=log).start()
    deadline = time.monotonic() + 10
    while (calls["good"] < 3 or calls["bad"] < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - started < 2
    assert calls["good"] >= 3 and calls["bad"] >= 3
    assert scheduler.failures["bad"] >= 3 and scheduler.runs["good"] >= 3
    text = log.getvalue()
    assert "bad failed" in text and "RuntimeError: boom" in text and '[schedules] good -> {"n": ' in text
    after = dict(calls)
    time.sleep(0.2)
    assert calls == after  # stopped means stopped
