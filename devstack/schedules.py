"""The app's schedules in the dev stack: the dev server (like ``chalice local``) serves
HTTP only and never fires ``@app.schedule``, so ``python -m devstack run`` fires them itself
from a thread.

Schedules are discovered from the app (``app.event_sources``) and invoked the way Lambda
would, through ``chalice.test.Client(app).lambda_.invoke(name, event)``. Each runs at its
own rate (``Rate``; a ``Cron`` runs daily here), at most ``cap`` seconds apart when a cap
is set (``SCHEDULE_INTERVAL=N``). A failing schedule is logged, never fatal.

Jobs a schedule starts are dispatched by this process's dispatcher (``ENCLAVE_JOB_DISPATCH
=local``: a daemon thread of the devstack process), the same one that runs the API's: the
API is served from this process too (``server.py``).
Handler code is what was imported at start: restart ``make run`` after editing it.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

DAY = 86400.0
_UNIT_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": DAY}
_RATE = re.compile(r"^\s*rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str  # as EventBridge would see it: "rate(1 day)", "cron(...)"
    seconds: float  # how often it fires here


def parse_interval(text: str | None) -> float | None:
    """``SCHEDULE_INTERVAL``: unset/empty = each schedule at its own rate; N > 0 = at most
    N seconds apart; 0 = schedules off."""
    if text is None or not text.strip():
        return None
    value = float(text)  # ValueError for junk
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"not a number of seconds >= 0: {text!r}")
    return value


def expression_string(expression: Any) -> str:
    return expression.to_string() if hasattr(expression, "to_string") else str(expression)


def period_seconds(expression: Any) -> float:
    """Seconds between runs of a schedule expression: a Rate exactly, a Cron daily."""
    match = _RATE.match(expression_string(expression))
    if match:
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return DAY  # cron(...): once a day is close enough for a dev stack


def discover(app: Any, cap: float | None = None) -> list[Schedule]:
    """The app's schedules (``ScheduledEventConfig`` in ``app.event_sources``)."""
    from chalice.app import ScheduledEventConfig

    found = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            seconds = period_seconds(source.schedule_expression)
            if cap:
                seconds = min(seconds, cap)
            found.append(Schedule(source.name, expression_string(source.schedule_expression), seconds))
    return found


def lambda_function_names(app: Any) -> list[str]:
    return [f.name for f in app.pure_lambda_functions]


def scheduled_event(name: str) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/enclave-local-{name}"],
        "detail": {},
    }


def load_app(root: Path) -> Any:
    """The Chalice app object of ``root/app.py`` (import only after the environment is set)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("app").app


def lambda_client(app: Any, root: Path) -> Any:
    from chalice.test import Client

    # stage "dev" like `chalice local --stage dev`: the same stage environment variables
    return Client(app, stage_name="dev", project_dir=str(root))


def invoke(client: Any, app: Any, name: str, payload: dict[str, Any] | None = None) -> Any:
    """Run the handler ``name`` (a schedule or a lambda function) as Lambda would; its result."""
    if any(s.name == name for s in discover(app)):
        event: dict[str, Any] = {**scheduled_event(name), **(payload or {})}
    else:
        event = payload or {}
    return client.lambda_.invoke(name, event).payload


def describe_period(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Scheduler:
    """A daemon thread firing each schedule every ``Schedule.seconds`` (first run one
    period after start, like an EventBridge rate rule), one invocation at a time."""

    def __init__(self, load: Callable[[], Any], root: Path, cap: float | None,
                 out: IO[str] | None = None) -> None:
        self._load, self._root, self._cap = load, root, cap
        self._out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devstack-schedules", daemon=True)
        self.runs: dict[str, int] = {}
        self.failures: dict[str, int] = {}

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop firing; waits for an invocation in progress (up to ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _log(self, message: str) -> None:
        print(f"[schedules] {message}", file=self._out or sys.stdout, flush=True)

    def _run(self) -> None:
        try:
            app = self._load()
            schedules = discover(app, self._cap)
            client = lambda_client(app, self._root)
        except Exception:  # noqa: BLE001 - the API keeps serving without schedules
            self._log("could not load the app; schedules are off here:\n" + traceback.format_exc())
            return
        if not schedules:
            return
        self._log(", ".join(f"{s.name} every {describe_period(s.seconds)}" for s in schedules)
                  + (f" (capped by SCHEDULE_INTERVAL={self._cap:g})" if self._cap else ""))
        period = {s.name: s.seconds for s in schedules}
        start = time.monotonic()
        due = {s.name: start + s.seconds for s in schedules}
        while True:
            name = min(due, key=lambda n: due[n])
            if self._stop.wait(max(0.0, due[name] - time.monotonic())):
                return
            self._fire(client, app, name)
            # the next slot after now: a slow run is not followed by a burst of catch-ups
            due[name] = max(due[name] + period[name], time.monotonic())

    def _fire(self, client: Any, app: Any, name: str) -> None:
        try:
            result = invoke(client, app, name)
        except Exception:  # noqa: BLE001 - a failing schedule is logged, the stack stays up
            self.failures[name] = self.failures.get(name, 0) + 1
            self._log(f"{name} failed:\n{traceback.format_exc()}")
            return
        self.runs[name] = self.runs.get(name, 0) + 1
        self._log(f"{name} -> {json.dumps(result, default=str)}")
