"""``enclave jobs watch ID`` and ``enclave events tail --endpoint ID``."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape

from . import polling
from . import progress as prog
from .context import err, out, state
from .errors import API_ERROR, PARTIAL, ApiError, PartialFailure


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs (re-evaluations, exports, bulk tagging)."""


@jobs_group.command("watch")
@click.argument("job_id")
@click.option("--interval", type=click.FloatRange(min=0.1), default=polling.DEFAULT_INTERVAL, show_default=True,
              help="Seconds between polls.")
def watch_job(job_id: str, interval: float) -> None:
    """Follow a job to its end with a progress bar; exit 3 if items failed, 1 if it failed."""
    api = state().api()
    job = polling.follow(lambda: api.get(f"/v1/jobs/{quote(job_id)}"), prog.of_job, "job", err(), interval)
    measured = prog.of_job(job)
    out().print(f"Job {job['id']} ({job['kind']}) {job['status']}: {measured.describe()}")
    code = prog.exit_code(job["status"], measured)
    if code == API_ERROR:
        raise ApiError(f"Job {job['id']} failed" + (f": {job['error']}" if job.get("error") else ""))
    if code == PARTIAL:
        kept = (job.get("progress") or {}).get("errors") or []
        for item in kept[:10]:
            err().print(f"  - {escape(str(item))}")
        raise PartialFailure(f"{measured.failed} items failed")


@click.group("events")
def events_group() -> None:
    """Outbound events (webhooks)."""


def delivery_line(delivery: dict[str, Any]) -> str:
    """One delivery as a line: when, id, event, status, attempts, and the last attempt."""
    last = delivery.get("last_attempt") or {}
    parts = [str(delivery.get("created_at", "")), str(delivery.get("id", "")),
             f"{delivery.get('event_type', '?'):<24}", f"{delivery.get('status', '?'):<10}",
             f"attempts={delivery.get('attempts', 0)}"]
    if last.get("status_code") is not None:
        parts.append(f"http={last['status_code']}")
    if last.get("latency_ms") is not None:
        parts.append(f"{last['latency_ms']}ms")
    if last.get("error"):
        parts.append(f"error={last['error']}")
    return "  ".join(parts)


def changed_deliveries(page: dict[str, Any], seen: dict[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Deliveries that are new or changed (status or attempts) since the last poll, oldest
    first; ``seen`` is updated."""
    items = page.get("data")
    if items is None:
        items = page.get("items") or []
    fresh = []
    for delivery in items:
        mark = (delivery.get("status"), delivery.get("attempts"))
        if seen.get(delivery["id"]) != mark:
            seen[delivery["id"]] = mark
            fresh.append(delivery)
    return sorted(fresh, key=lambda d: (str(d.get("created_at", "")), str(d["id"])))


@events_group.command("tail")
@click.option("--endpoint", "endpoint_id", required=True, help="The webhook endpoint's id.")
@click.option("--status", help="Only deliveries with this status (e.g. failed).")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True,
              help="Deliveries fetched per poll.")
@click.option("--once", is_flag=True, help="Print the current deliveries and exit.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between polls.")
def tail(endpoint_id: str, status: str | None, limit: int, once: bool, interval: float) -> None:
    """Print an endpoint's deliveries as they happen (new ones, and each new attempt)."""
    api = state().api()
    seen: dict[str, tuple[Any, Any]] = {}
    console = out()
    path = f"/v1/webhook-endpoints/{quote(endpoint_id)}/deliveries"
    try:
        while True:
            for delivery in changed_deliveries(api.get(path, status=status, limit=limit), seen):
                console.print(escape(delivery_line(delivery)))
            if once:
                return
            polling.pause(interval)
    except KeyboardInterrupt:
        return
