"""(h) Lifecycle journeys: Step Functions state transitions, Lambda invocations and
DynamoDB units per delivered message, and the cost per million messages at published prices.

Two journeys run through the app (``chalice.test.Client``) with the local timer adapter
(``ENCLAVE_TIMERS=local``: timers are DynamoDB items fired by the ``journey_timers``
schedule), a controllable clock (``chalicelib.core.clock.set_clock``) and the tenant's
webhook pointed at a small HTTP receiver on 127.0.0.1, so every message is really delivered
(signed; the bench verifies each signature):

* **follow-up**: a ``follow`` interaction enrols the member; message 1 at once, wait 2 h,
  branch "ordered since enrolment" (nobody has), message 2, wait 2 h, message 3;
* **30-day coupon**: a first ``order.paid`` enrols the member; wait 30 days, branch
  "ordered since enrolment" (nobody has), grant a coupon code, send it.

The bench fires the schedules the way EventBridge would (a generated "Scheduled Event"
through ``lambda_.invoke``): ``journey_timers`` runs the due timers, then ``journey_sweeper``
(which must find nothing to repair); then it moves the clock past the next wait and fires
them again, until every message is delivered.

What maps onto AWS: each timer started is one Step Functions (Standard) execution of
``TRANSITIONS_PER_TIMER`` state transitions (the Wait and the Task; +1 per task retry, none
here), and each timer fired is one ``journey_step`` Lambda invocation (``runner.on_timer``,
timed here). DynamoDB calls are attributed by a hook on the client PynamoDB uses: the
journey listener inside the trigger event's request (enrolment), the step runs, and the
local timer adapter's own items (``#JTIMER#`` keys and the ``PLATFORM#JTIMERS#`` list),
which Step Functions replaces in AWS, so they are shown but not priced.
"""
from __future__ import annotations

import ast
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .dynamo import BotocoreHooks
from .api import App
from .report import fmt, heading, median, p90, progress, table
from .shapes import describe, transact_write_floor
from .stack import ROOT

FOLLOW_UP_MEMBERS = 200
COUPON_MEMBERS = 100
BATCH = 100
#: schedule rounds after the planned ones before the bench gives up waiting for messages
EXTRA_ROUNDS = 2

# --- published prices (us-east-1, on-demand, no free tier), recorded 2026-11-23 ------------------
#: https://aws.amazon.com/step-functions/pricing/ : Standard workflows, $0.025 per 1,000
#: state transitions (retries are transitions too)
STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1_000
#: https://aws.amazon.com/eventbridge/pricing/ (Scheduler): $1.00 per million scheduled invocations
#: after 14 million free a month (not counted here); the adapter's CreateSchedule and
#: DeleteSchedule calls are assumed free (not checked against a bill)
SCHEDULER_PER_INVOCATION = 1.00 / 1_000_000
#: https://aws.amazon.com/lambda/pricing/ : $0.20 per 1M requests
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
#: https://aws.amazon.com/lambda/pricing/ : x86, first 6 billion GB-seconds a month
#: (duration billed per 1 ms)
LAMBDA_PER_GB_SECOND = 0.0000166667
#: https://aws.amazon.com/dynamodb/pricing/on-demand/ : $0.625 per million write request
#: units and $0.125 per million read request units, since the on-demand price cut of
#: 1 November 2024 (AWS What's New, 14 November 2024)
DYNAMODB_PER_WRU = 0.625 / 1_000_000
DYNAMODB_PER_RRU = 0.125 / 1_000_000
#: the on-demand prices before that cut, for comparison with older estimates
DYNAMODB_PER_WRU_BEFORE_2024_11 = 1.25 / 1_000_000
DYNAMODB_PER_RRU_BEFORE_2024_11 = 0.25 / 1_000_000
PRICES_RECORDED = "2026-11-23"
#: what a schedule firing every minute costs per month (30 days)
MINUTES_PER_MONTH = 60 * 24 * 30

CONSENTS = {"wechat": {"granted": True}}
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
LOCAL_TIMER_MARKERS = ("#JTIMER#", "PLATFORM#JTIMERS#")


def _message(step_id: str, body: str, next_step: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": step_id, "type": "send_message", "channel": "webhook", "consent": "wechat",
                            "template": {"body": body}}
    if next_step:
        step["next"] = next_step
    return step


FOLLOW_UP = {
    "name": "Bench follow-up",
    "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
    "goal": {"event": {"type": "order.paid"}},
    "start": "m1",
    "steps": [
        _message("m1", "Welcome {{member.name|default:friend}}!", "w1"),
        {"id": "w1", "type": "wait", "duration": "PT2H", "next": "bought"},
        {"id": "bought", "type": "branch", "condition": {"ordered_since_enrolment": True}, "then": "done",
         "else": "m2"},
        _message("m2", "Still thinking? Here is our bestseller.", "w2"),
        {"id": "w2", "type": "wait", "duration": "PT2H", "next": "m3"},
        _message("m3", "Last call: free shipping today."),
        {"id": "done", "type": "exit"},
    ],
}

COUPON = {
    "name": "Bench 30-day coupon",
    "trigger": {"type": "event", "event": {"type": "order.paid"}},
    "entry_filter": {"metric": "orders", "op": "eq", "value": 1},
    "start": "wait",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P30D", "next": "ordered"},
        {"id": "ordered", "type": "branch", "condition": {"ordered_since_enrolment": True}, "then": "done",
         "else": "coupon"},
        {"id": "coupon", "type": "grant_coupon", "coupon": {"prefix": "BACK", "valid_days": 14,
                                                            "description": "50 CNY off"}, "next": "tell"},
        _message("tell", "{{member.name}}, {{coupon.description}} with {{coupon.code}} until "
                         "{{coupon.expires_at|date}}"),
        {"id": "done", "type": "exit"},
    ],
}


@dataclass(frozen=True)
class Shape:
    key: str
    #: short, for tables
    name: str
    label: str
    journey: dict[str, Any]
    members: int
    messages_per_member: int
    #: how far the clock moves before each schedule round after the first
    advances: tuple[timedelta, ...]
    phone_prefix: str
    #: the step run shown call by call: the first run that takes this step
    sample_step: str

    def trigger(self, n: int, member_id: str, now: datetime) -> dict[str, Any]:
        if self.key == "follow-up":
            return {"type": "interaction", "event_id": f"jf-{n:08d}", "member": {"id": member_id}, "name": "follow"}
        # paid a minute before the event arrives: with the clock frozen, an order at the very
        # instant of enrolment would count as "ordered since enrolment" (the branch is >=)
        paid_at = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"type": "order.paid", "event_id": f"jo-{n:08d}", "member": {"id": member_id},
                "order_id": f"jo-order-{n:08d}", "amount": 199_00, "currency": "CNY", "occurred_at": paid_at}


SHAPES = (
    Shape("follow-up", "follow-up", "follow-up (0 h / 2 h / 4 h)", FOLLOW_UP, FOLLOW_UP_MEMBERS, 3,
          (timedelta(hours=2, seconds=1), timedelta(hours=2, seconds=1)), "+86135", "m2"),
    Shape("coupon", "coupon", "30-day coupon", COUPON, COUPON_MEMBERS, 1, (timedelta(days=30, seconds=1),),
          "+86134", "tell"),
)


# --- the webhook receiver --------------------------------------------------------------------------
@dataclass
class Received:
    raw: bytes
    signature: str
    idempotency_key: str


class Receiver:
    """A brand's webhook sender stand-in on 127.0.0.1: answers 200 and keeps each request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.append(Received(raw, self.headers.get("Enclave-Signature", ""),
                                             self.headers.get("Idempotency-Key", "")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- DynamoDB attribution ------------------------------------------------------------------------------
@dataclass
class Bucket:
    calls: Counter[str] = field(default_factory=Counter)
    #: as DynamoDB Local reports them
    rcu: float = 0.0
    wcu: float = 0.0
    #: what DynamoDB would charge at least (see ``Ledger``)
    rru_aws: float = 0.0
    wru_aws: float = 0.0
    #: calls whose answer was an error (e.g. a failed condition), by error code
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, other: Bucket) -> None:
        self.calls.update(other.calls)
        self.rcu += other.rcu
        self.wcu += other.wcu
        self.rru_aws += other.rru_aws
        self.wru_aws += other.wru_aws
        self.errors.update(other.errors)


@dataclass
class Call:
    """One DynamoDB call of a sampled step run."""

    where: str
    lines: list[str]
    units: float
    table: float
    indexes: float
    #: what DynamoDB would charge at least (the Ledger's estimate)
    aws: float


@dataclass
class _Pending:
    op: str
    where: str
    floor: float
    minimum: float
    keys: int
    lines: list[str] | None


def _consumed(parsed: dict[str, Any]) -> tuple[float, float, float]:
    """(total, table, indexes) from a ReturnConsumedCapacity=INDEXES answer."""
    consumed = parsed.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    total = table_units = index_units = 0.0
    for e in entries:
        total += float(e.get("CapacityUnits", 0.0))
        table_units += float((e.get("Table") or {}).get("CapacityUnits", 0.0))
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            index_units += sum(float(p.get("CapacityUnits", 0.0)) for p in (e.get(kind) or {}).values())
    return total, table_units, index_units


class Ledger(BotocoreHooks):
    """Every DynamoDB call the app makes, by the part of the run it belongs to.

    A hook on the botocore client PynamoDB uses asks for ``ReturnConsumedCapacity=INDEXES``
    instead of ``TOTAL`` (the same total, split by table and index) and adds each answer's
    units to the bucket of the current phase, or to ``local-timers`` when the request
    touches a local timer item. Besides the units DynamoDB Local reports, it keeps what
    DynamoDB would charge at least: a TransactWriteItems' table writes at 2 WRU per item per
    started KB (DynamoDB Local reports 1), and a read Local reports as 0 units because
    nothing was found (a GetItem miss, a BatchGetItem key that does not exist, an empty
    Query) at the per-request minimum (1 RRU consistent, 0.5 eventual)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.buckets: dict[str, Bucket] = {}
        self._phases: list[str] = ["other"]
        self._pending: list[_Pending] = []
        #: when a list, every call's details are appended to it (a sampled step run)
        self.record: list[Call] | None = None

    @property
    def phase_now(self) -> str:
        return self._phases[-1]

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._phases.append(name)
        try:
            yield
        finally:
            self._phases.pop()

    def bucket(self, name: str) -> Bucket:
        return self.buckets.setdefault(name, Bucket())

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("ReturnConsumedCapacity") == "TOTAL":
            params["ReturnConsumedCapacity"] = "INDEXES"
        text = json.dumps(params, default=str)
        where = "local-timers" if any(m in text for m in LOCAL_TIMER_MARKERS) else self.phase_now
        op = model.name
        floor = transact_write_floor(params) if op == "TransactWriteItems" else 0.0
        if op == "BatchGetItem":
            items = list(params.get("RequestItems", {}).values())
            minimum = 1.0 if any(t.get("ConsistentRead") for t in items) else 0.5
            keys = sum(len(t.get("Keys", [])) for t in items)
        else:
            minimum = 1.0 if params.get("ConsistentRead") else 0.5
            keys = 1
        lines = describe(op, params) if self.record is not None else None
        self._pending.append(_Pending(op, where, floor, minimum, keys, lines))

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not self._pending:
            return
        p = self._pending.pop()
        op = p.op
        bucket = self.bucket(p.where)
        bucket.calls[op] += 1
        if "Error" in parsed:
            bucket.errors[str(parsed["Error"].get("Code", "?"))] += 1
        total, table_units, index_units = _consumed(parsed)
        if op in WRITE_OPS:
            bucket.wcu += total
            charged = (max(table_units, p.floor) + index_units) if op == "TransactWriteItems" else total
            bucket.wru_aws += charged
        else:
            bucket.rcu += total
            charged = total
            if "Error" not in parsed:
                if op == "GetItem" and "Item" not in parsed and total == 0:
                    charged = p.minimum
                elif op == "Query" and not parsed.get("Count") and total == 0:
                    charged = p.minimum
                elif op == "BatchGetItem":
                    found = sum(len(v) for v in (parsed.get("Responses") or {}).values())
                    unprocessed = sum(len(v.get("Keys", []))
                                      for v in (parsed.get("UnprocessedKeys") or {}).values())
                    charged = total + p.minimum * max(0, p.keys - found - unprocessed)
            bucket.rru_aws += charged
        if self.record is not None and p.lines is not None:
            self.record.append(Call(p.where, p.lines, total, table_units, index_units, charged))


# --- figures ----------------------------------------------------------------------------------------------
@dataclass
class ShapeFigures:
    shape: Shape
    journey_id: str = ""
    enrolled: int = 0
    delivered: int = 0
    verified: int = 0
    #: timers handed to the timer service: at enrolment (due at once) and by a wait
    timers_at_enrolment: int = 0
    timers_by_wait: int = 0
    timers_cancelled: int = 0
    #: journey_step runs (timer firings): duration and outcome
    step_ms: list[float] = field(default_factory=list)
    step_results: Counter[str] = field(default_factory=Counter)
    #: of those, runs in line inside the enrolling event (a first step due at once): no
    #: timer, no journey_step invocation (their duration is the event's Lambda's)
    inline_runs: int = 0
    #: one step run, call by call: (the steps it took, its calls)
    sample: tuple[list[str], list[Call]] | None = None
    rounds: int = 0
    buckets: dict[str, Bucket] = field(default_factory=dict)
    #: what `capacity.metered` saw over the whole shape (a check on the ledger's attribution)
    metered_read: float = 0.0
    metered_write: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    setup_s: float = 0.0
    run_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def timers(self) -> int:
        return self.timers_at_enrolment + self.timers_by_wait

    @property
    def expected(self) -> int:
        return self.shape.members * self.shape.messages_per_member


@dataclass
class SweepFigures:
    runs: int = 0
    ms: list[float] = field(default_factory=list)
    bucket: Bucket = field(default_factory=Bucket)
    found: Counter[str] = field(default_factory=Counter)


@dataclass
class JourneyFigures:
    memory_mb: int
    memory_source: str
    transitions_per_timer: int
    shapes: list[ShapeFigures] = field(default_factory=list)
    sweeps: SweepFigures = field(default_factory=SweepFigures)
    timer_ticks_ms: list[float] = field(default_factory=list)


def journey_step_memory() -> tuple[int, str]:
    """The memory infra/ gives the journey_step function, read from infra/stack.py without
    importing it (CDK is heavy): its APP_FUNCTIONS entry if it has one, else DEFAULT_MEMORY,
    which the Chalice stage config gives every other function."""
    path = ROOT / "infra" / "stack.py"
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return 512, "infra/stack.py unreadable; assumed 512 MB"
    default = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DEFAULT_MEMORY"
                                                for t in node.targets):
            default = ast.literal_eval(node.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "AppFunction"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "journey_step"):
            for kw in node.keywords:
                if kw.arg == "memory" and isinstance(kw.value, ast.Constant):
                    return int(kw.value.value), "infra/stack.py APP_FUNCTIONS (journey_step)"
            if default is not None:
                return int(default), "infra/stack.py DEFAULT_MEMORY: journey_step's entry sets none"
    if default is None:
        return 512, "no DEFAULT_MEMORY in infra/stack.py; assumed 512 MB"
    return int(default), "infra/stack.py DEFAULT_MEMORY: journey_step has no entry"


# --- the run --------------------------------------------------------------------------------------------------
class Probe:
    """Counts timers, times journey_step runs and marks the journey listener's calls, by
    wrapping the app's functions for the duration of the section (all restored after)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.fig: ShapeFigures | None = None
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Probe:
        from chalicelib.activity import service as activity_service
        from chalicelib.core import clock
        from chalicelib.journeys import runner, triggers
        from chalicelib.journeys.timers import timers

        service = timers()
        start, cancel = service.start, service.cancel

        def counted_start(timer: Any) -> None:
            if self.fig is not None:
                if timer.due_at <= clock.now() + timedelta(seconds=1):
                    self.fig.timers_at_enrolment += 1
                else:
                    self.fig.timers_by_wait += 1
            start(timer)

        def counted_cancel(tenant_id: str, name: str) -> None:
            if self.fig is not None:
                self.fig.timers_cancelled += 1
            cancel(tenant_id, name)

        service.start, service.cancel = counted_start, counted_cancel  # type: ignore[method-assign]

        def undo_timers() -> None:
            del service.start, service.cancel

        self._undo.append(undo_timers)

        on_timer = runner.on_timer

        def timed_on_timer(payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            fig = self.fig
            if fig is not None and fig.sample is None:
                self.ledger.record = []
            t0 = time.perf_counter()
            outcome = "error"
            if fig is not None and self.ledger.phase_now == "enrol":
                fig.inline_runs += 1
            try:
                with self.ledger.phase("step"):
                    result = on_timer(payload, **kwargs)
                outcome = str(result.get("result"))
                if fig is not None and fig.sample is None and fig.shape.sample_step in (result.get("steps") or []):
                    fig.sample = (list(result["steps"]), self.ledger.record or [])
                return result
            finally:
                if fig is not None:
                    fig.step_ms.append((time.perf_counter() - t0) * 1000)
                    fig.step_results[outcome] += 1
                self.ledger.record = None

        runner.on_timer = timed_on_timer  # app.py looks it up on the module at each call
        self._undo.append(lambda: setattr(runner, "on_timer", on_timer))

        listeners = activity_service.EVENT_RECORDED.receivers  # the bench marks the journey receiver's calls
        at = next((i for i, fn in enumerate(listeners) if fn is triggers.on_event), None)
        if at is None:
            raise RuntimeError("the journey receiver (triggers.on_event) no longer receives EVENT_RECORDED; "
                               "update bench/journeys.py")
        listener = listeners[at]

        def marked_listener(*args: Any, **kwargs: Any) -> Any:
            if self.ledger.phase_now != "event":  # e.g. a coupon's domain event inside a step run
                return listener(*args, **kwargs)
            with self.ledger.phase("enrol"):
                return listener(*args, **kwargs)

        listeners[at] = marked_listener

        def undo_listener() -> None:
            listeners[listeners.index(marked_listener)] = listener

        self._undo.append(undo_listener)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def run_journeys(client: Any, admin_token: str, app_ddb: Any) -> JourneyFigures:
    from chalicelib.core import clock
    from chalicelib.journeys.timers.stepfunctions import TRANSITIONS_PER_TIMER

    memory_mb, source = journey_step_memory()
    out = JourneyFigures(memory_mb, source, TRANSITIONS_PER_TIMER)
    state = {"now": datetime.now(timezone.utc).replace(microsecond=0)}
    with Receiver() as receiver, Ledger(app_ddb) as ledger, Probe(ledger) as probe:
        clock.set_clock(lambda: state["now"])
        try:
            for shape in SHAPES:
                out.shapes.append(_run_shape(client, admin_token, app_ddb, shape, receiver, ledger, probe, state,
                                             out))
                state["now"] += timedelta(days=1)
        finally:
            clock.set_clock(None)
    return out


def _schedule(client: Any, name: str) -> Any:
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    return client.lambda_.invoke(name, event).payload


def _run_shape(client: Any, admin_token: str, app_ddb: Any, shape: Shape, receiver: Receiver, ledger: Ledger,
               probe: Probe, state: dict[str, datetime], out: JourneyFigures) -> ShapeFigures:
    from chalicelib.core.table.capacity import metered
    from chalicelib.journeys.channels.webhook import SignatureError, verify_signature

    fig = ShapeFigures(shape)
    t0 = time.perf_counter()
    progress(f"journeys, {shape.label}: a tenant, the journey, {shape.members} members with consent")
    api = App(client)
    api.create_tenant(admin_token, name=f"Bench Journeys {shape.key}")
    api.call("PUT", "/v1/messaging/settings", {"webhook_url": receiver.url})
    _, answer = api.call("POST", "/v1/messaging/webhook-secret", expected=201)
    secret = answer["secret"]
    _, journey = api.call("POST", "/v1/journeys", shape.journey, expected=201)
    fig.journey_id = journey["id"]
    api.call("POST", f"/v1/journeys/{fig.journey_id}/activate")
    members = [api.call("POST", "/v1/members", {"phone": f"{shape.phone_prefix}{n:08d}", "name": f"Member {n}",
                                                  "consents": CONSENTS}, expected=201)[1]["id"]
               for n in range(shape.members)]
    fig.setup_s = time.perf_counter() - t0
    receiver.received.clear()
    ledger.buckets = {}
    probe.fig = fig

    t0 = time.perf_counter()
    progress(f"journeys, {shape.label}: trigger events, then the schedules with the clock moved "
             f"{' and '.join(_span(a) for a in shape.advances)}")
    with metered(app_ddb) as usage:
        events = [shape.trigger(n, m, state["now"]) for n, m in enumerate(members)]
        for start in range(0, len(events), BATCH):
            chunk = events[start:start + BATCH]
            with ledger.phase("event"):
                api.events(json.dumps({"events": chunk}), expected=len(chunk))
        advances = list(shape.advances) + [timedelta(minutes=1)] * EXTRA_ROUNDS
        for k, advance in enumerate([timedelta(0)] + advances):
            if k > len(shape.advances) and len(receiver.received) >= fig.expected:
                break
            state["now"] += advance
            fig.rounds += 1
            tick0 = time.perf_counter()
            with ledger.phase("timers"):
                _schedule(client, "journey_timers")
            out.timer_ticks_ms.append((time.perf_counter() - tick0) * 1000)
            sweeps = out.sweeps
            tick0 = time.perf_counter()
            with ledger.phase("sweeper"):
                found = _schedule(client, "journey_sweeper")
            sweeps.ms.append((time.perf_counter() - tick0) * 1000)
            sweeps.runs += 1
            sweeps.found.update({k: v for k, v in found.items() if v})
            if any(found.values()):
                fig.warnings.append(f"journey_sweeper found work in round {fig.rounds}: {found}")
    fig.run_s = time.perf_counter() - t0
    probe.fig = None
    fig.metered_read, fig.metered_write = usage.read, usage.write
    fig.buckets = ledger.buckets
    out.sweeps.bucket.add(ledger.buckets.get("sweeper", Bucket()))
    ledger.buckets = {}

    # checks: every message arrived once, signed, with the right text; the journey's stats agree
    keys = {r.idempotency_key for r in receiver.received}
    fig.delivered = len(keys)
    if len(keys) != len(receiver.received):
        fig.warnings.append(f"{len(receiver.received) - len(keys)} webhook requests repeated a message id")
    per_member: Counter[str] = Counter()
    for r in receiver.received:
        try:
            # the MAC is what is checked; freshness is the receiver's (a run on a loaded machine
            # outlasts the default 300 s, and the first signatures would count as bad)
            verify_signature(r.raw, r.signature, secret, tolerance=86_400)
            fig.verified += 1
        except SignatureError:
            pass
        body = json.loads(r.raw)
        per_member[body["member"]["id"]] += 1
        if shape.key == "coupon" and not str((body.get("coupon") or {}).get("code", "")).startswith("BACK"):
            fig.warnings.append(f"a coupon message without a BACK code: {body.get('content')}")
    if fig.delivered != fig.expected:
        fig.warnings.append(f"{fig.delivered} messages delivered, {fig.expected} expected")
    if fig.verified != len(receiver.received):
        fig.warnings.append(f"{len(receiver.received) - fig.verified} webhook signatures did not verify")
    if set(per_member.values()) - {shape.messages_per_member} or len(per_member) != shape.members:
        fig.warnings.append(f"messages per member: {Counter(per_member.values())} over {len(per_member)} members")
    _, fig.stats = api.call("GET", f"/v1/journeys/{fig.journey_id}/stats")
    fig.enrolled = int(fig.stats["entered"])
    sent = sum(int(s.get("sent", 0)) for s in fig.stats["steps"] if s.get("type") == "send_message")
    if (fig.enrolled, int(fig.stats["completed"]), int(fig.stats["live"]), sent) != (
            shape.members, shape.members, 0, fig.expected):
        fig.warnings.append(f"stats: entered {fig.enrolled}, completed {fig.stats['completed']}, live "
                            f"{fig.stats['live']}, sent {sent}")
    if fig.timers_cancelled:
        fig.warnings.append(f"{fig.timers_cancelled} timers were cancelled (nothing here should cancel one)")
    bad = {k: v for k, v in fig.step_results.items() if k not in ("waiting", "completed")}
    if bad:
        fig.warnings.append(f"journey_step results other than waiting/completed: {bad}")
    errors = Counter[str]()
    for b in fig.buckets.values():
        errors.update(b.errors)
    if errors:
        fig.warnings.append(f"DynamoDB calls answered with an error: {dict(errors)}")
    unexpected = {k: dict(b.calls) for k, b in fig.buckets.items()
                  if k not in ("event", "enrol", "step", "local-timers", "sweeper") and b.calls}
    if unexpected:
        fig.warnings.append(f"DynamoDB calls outside the parts this bench prices or names: {unexpected}")
    ledger_read = sum(b.rcu for b in fig.buckets.values())
    ledger_write = sum(b.wcu for b in fig.buckets.values())
    if abs(ledger_read - fig.metered_read) > 0.01 or abs(ledger_write - fig.metered_write) > 0.01:
        fig.warnings.append(f"the ledger's units ({ledger_read:.1f} R, {ledger_write:.1f} W) differ from "
                            f"capacity.metered ({fig.metered_read:.1f} R, {fig.metered_write:.1f} W)")
    return fig


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        return f"{delta.days} d"
    return f"{delta.seconds // 3600} h"


# --- cost ---------------------------------------------------------------------------------------------
@dataclass
class Cost:
    """Per delivered message, in USD, and what it is made of."""

    transitions: float
    invocations: float
    gb_seconds: float
    wru: float
    rru: float
    #: timers per message: with the scheduler adapter, one scheduled invocation each
    timers: float = 0.0

    @property
    def step_functions(self) -> float:
        return self.transitions * STEP_FUNCTIONS_PER_TRANSITION

    @property
    def scheduler(self) -> float:
        return self.timers * SCHEDULER_PER_INVOCATION

    @property
    def total_with_scheduler(self) -> float:
        """The same run with ``ENCLAVE_TIMERS=scheduler``: the timers' price changes, nothing else."""
        return self.total - self.step_functions + self.scheduler

    @property
    def lambda_requests(self) -> float:
        return self.invocations * LAMBDA_PER_REQUEST

    @property
    def lambda_duration(self) -> float:
        return self.gb_seconds * LAMBDA_PER_GB_SECOND

    @property
    def dynamodb_writes(self) -> float:
        return self.wru * DYNAMODB_PER_WRU

    @property
    def dynamodb_reads(self) -> float:
        return self.rru * DYNAMODB_PER_RRU

    @property
    def total(self) -> float:
        return (self.step_functions + self.lambda_requests + self.lambda_duration + self.dynamodb_writes
                + self.dynamodb_reads)

    @property
    def total_before_2024_11(self) -> float:
        return (self.step_functions + self.lambda_requests + self.lambda_duration
                + self.wru * DYNAMODB_PER_WRU_BEFORE_2024_11 + self.rru * DYNAMODB_PER_RRU_BEFORE_2024_11)


def counted(fig: ShapeFigures) -> Bucket:
    """The DynamoDB work that exists in AWS too: the journey listener's (enrolment) and the
    step runs'."""
    total = Bucket()
    for name in ("enrol", "step"):
        total.add(fig.buckets.get(name, Bucket()))
    return total


def cost(fig: ShapeFigures, memory_mb: int, transitions_per_timer: int) -> Cost:
    n = max(fig.delivered, 1)
    dynamo = counted(fig)
    gb_seconds = memory_mb / 1024 * sum(fig.step_ms) / 1000
    invoked = len(fig.step_ms) - fig.inline_runs
    return Cost(transitions=fig.timers * transitions_per_timer / n, invocations=invoked / n,
                gb_seconds=gb_seconds / n, wru=dynamo.wru_aws / n, rru=dynamo.rru_aws / n, timers=fig.timers / n)


# --- output --------------------------------------------------------------------------------------------
def _calls(calls: Counter[str], n: float) -> str:
    parts = []
    for name, count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])):
        per = count / n
        parts.append(f"{name} x{per:g}" if per == int(per) else f"{name} x{per:.2f}")
    return ", ".join(parts) or "-"


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def print_journeys(fig: JourneyFigures) -> None:
    print(heading("(h) Lifecycle journeys: state transitions, invocations and cost per delivered message"))
    print("  Through the app (chalice.test.Client), ENCLAVE_TIMERS=local, a controllable clock, the tenant's\n"
          "  webhook pointed at a receiver on 127.0.0.1 (every message really delivered; signatures verified).\n"
          "  The journey_timers and journey_sweeper schedules fired as EventBridge would (lambda_.invoke with a\n"
          "  Scheduled Event), the clock moved past each wait, until every message arrived. A tenant per shape:\n")
    for f in fig.shapes:
        s = f.shape
        if s.key == "follow-up":
            what = ("a `follow` interaction enrols; message 1 at once, wait 2 h, branch\n"
                    "    \"ordered since enrolment\" (no one has), message 2, wait 2 h, message 3 (goal: order.paid).")
        else:
            what = ("a first order.paid enrols (entry filter orders = 1; occurred_at a minute\n"
                    "    before the event arrives); wait 30 days, branch \"ordered since enrolment\" (no one has),\n"
                    "    grant a coupon code, send it.")
        print(f"  {s.label}, {s.members} members: {what}")
    print()
    rows = []
    for f in fig.shapes:
        n = max(f.delivered, 1)
        rows.append([f.shape.name, f"{f.enrolled}", f"{f.delivered} / {f.expected}", f"{f.timers}",
                     fmt(f.timers / n), fmt(f.timers * fig.transitions_per_timer / n), f"{len(f.step_ms)}",
                     fmt(len(f.step_ms) / n), fmt(median(f.step_ms)) if f.step_ms else "-",
                     fmt(p90(f.step_ms)) if f.step_ms else "-", f"{f.run_s:.1f}"])
    print(table(["shape", "entered", "delivered", "timers", "timers/msg", "transitions/msg", "step runs",
                 "runs/msg", "median ms", "p90 ms", "run s"], rows))
    print(f"\n  timers: timers started = Step Functions (Standard) executions in AWS, each "
          f"TRANSITIONS_PER_TIMER = {fig.transitions_per_timer}\n"
          "  transitions (chalicelib/journeys/timers/stepfunctions.py: the Wait and the Task; +1 per task retry,\n"
          "  none here). step runs: journey_step invocations (runner.on_timer; one per timer fired) and their\n"
          "  duration here (DynamoDB Local on this machine, delivery to the local receiver included; no cold\n"
          "  starts: one warm process). run s: trigger events + schedule rounds, wall time.")
    for f in fig.shapes:
        results = ", ".join(f"{k} {v}" for k, v in sorted(f.step_results.items()))
        print(f"    {f.shape.name}: timers started at enrolment (due at once) {f.timers_at_enrolment}, by a wait "
              f"{f.timers_by_wait}, cancelled {f.timers_cancelled}; step runs in line at enrolment (no timer,\n"
              f"      no invocation) {f.inline_runs}; step results: {results}; "
              f"{f.rounds} schedule rounds; {f.verified} webhook signatures verified")

    print("\n  DynamoDB per member entered (enrolment) and per delivered message (step runs), hooked on the\n"
          "  app's client: units as DynamoDB Local reports them, and what DynamoDB would charge at least\n"
          "  (transactional writes at 2 WRU per item per KB, where Local reports 1; reads Local reports as 0\n"
          "  because nothing was found at the per-request minimum):\n")
    rows = []
    for f in fig.shapes:
        n, m = max(f.delivered, 1), max(f.enrolled, 1)
        parts = [("enrolment: the journey listener", "enrol", m, "member"),
                 ("step runs (journey_step)", "step", n, "message")]
        first = True
        for label, key, per, unit in parts:
            b = f.buckets.get(key, Bucket())
            rows.append([f.shape.name if first else "", label, f"per {unit}", _calls(b.calls, per),
                         fmt(b.rcu / per, 1), fmt(b.wcu / per, 1), fmt(b.rru_aws / per, 1), fmt(b.wru_aws / per, 1)])
            first = False
        c = counted(f)
        rows.append(["", "priced: both, per message", "per message", _calls(c.calls, n), fmt(c.rcu / n, 1),
                     fmt(c.wcu / n, 1), fmt(c.rru_aws / n, 1), fmt(c.wru_aws / n, 1)])
        for label, key, per, unit in [("not priced: the trigger event itself", "event", m, "member"),
                                      ("not priced: local timer items", "local-timers", n, "message")]:
            b = f.buckets.get(key, Bucket())
            rows.append(["", label, f"per {unit}", _calls(b.calls, per), fmt(b.rcu / per, 1), fmt(b.wcu / per, 1),
                         fmt(b.rru_aws / per, 1), fmt(b.wru_aws / per, 1)])
    print(table(["shape", "part", "", "DynamoDB calls (mean)", "RCU", "WCU", "RRU (AWS)", "WRU (AWS)"], rows,
                align="lllrrrrr"))
    print("\n  enrolment: the calls of the journey listener inside the trigger event's POST /v1/events (goal\n"
          "  check, entry filter, the slot + enrolment + counter transaction, the timer start). The trigger\n"
          "  event's own work (recording it; an order's standing) is the brand's event, not the journey's.\n"
          "  local timer items: the local adapter's timer items (put, lease, delete) and the journey_timers\n"
          "  Queries; Step Functions replaces them in AWS.")

    print("\n  Where the units go: one step run of each shape, call by call (units as DynamoDB Local reports\n"
          "  them, split by table and indexes; AWS: what DynamoDB would charge at least, as above):\n")
    rows = []
    for f in fig.shapes:
        if f.sample is None:
            continue
        steps, calls = f.sample
        rows.append([f"{f.shape.name}: steps {' > '.join(steps)}", "", "", "", ""])
        for c in calls:
            first, *more = c.lines
            local = c.where == "local-timers"
            rows.append([f"  {first}" + ("  [local adapter, not priced]" if local else ""), fmt(c.units, 1),
                         fmt(c.table, 1), fmt(c.indexes, 1), "-" if local else fmt(c.aws, 1)])
            rows += [[f"    {line.strip()}", "", "", "", ""] for line in more]
        priced = [c for c in calls if c.where != "local-timers"]
        rows.append([f"  priced: {len(priced)} calls", fmt(sum(c.units for c in priced), 1),
                     fmt(sum(c.table for c in priced), 1), fmt(sum(c.indexes for c in priced), 1),
                     fmt(sum(c.aws for c in priced), 1)])
    print(table(["DynamoDB call", "CU", "table", "indexes", "AWS"], rows, align="lrrrr"))

    print(f"\n  Cost per million delivered messages, at published us-east-1 prices (recorded {PRICES_RECORDED},\n"
          "  no free tier): Step Functions Standard $0.025 per 1,000 state transitions (the default adapter);\n"
          "  or EventBridge Scheduler $1.00 per million invocations, one per timer (ENCLAVE_TIMERS=scheduler;\n"
          "  its 14 M free a month and its API calls not counted); Lambda $0.20 per\n"
          f"  million requests + $0.0000166667 per GB-second at {fig.memory_mb} MB (x86; {fig.memory_source});\n"
          "  DynamoDB on-demand $0.625 per million WRU, $0.125 per million RRU (since the 1 November 2024 cut),\n"
          "  applied to the WRU/RRU (AWS) columns above:\n")
    costs = [cost(f, fig.memory_mb, fig.transitions_per_timer) for f in fig.shapes]
    per_m = 1_000_000
    rows = [
        ["Step Functions transitions"] + [f"{c.transitions * per_m:,.0f}" for c in costs]
        + [_usd(c.step_functions * per_m) for c in costs],
        ["Lambda requests (journey_step)"] + [f"{c.invocations * per_m:,.0f}" for c in costs]
        + [_usd(c.lambda_requests * per_m) for c in costs],
        [f"Lambda GB-seconds ({fig.memory_mb} MB, mean of the runs)"] + [f"{c.gb_seconds * per_m:,.0f}" for c in costs]
        + [_usd(c.lambda_duration * per_m) for c in costs],
        ["DynamoDB write request units"] + [f"{c.wru * per_m:,.0f}" for c in costs]
        + [_usd(c.dynamodb_writes * per_m) for c in costs],
        ["DynamoDB read request units"] + [f"{c.rru * per_m:,.0f}" for c in costs]
        + [_usd(c.dynamodb_reads * per_m) for c in costs],
        ["total"] + [""] * len(costs) + [_usd(c.total * per_m) for c in costs],
        ["  Step Functions' share"] + [""] * len(costs) + [f"{100 * c.step_functions / c.total:.0f}%" for c in costs],
        ["  total at pre-Nov-2024 DynamoDB prices"] + [""] * len(costs)
        + [_usd(c.total_before_2024_11 * per_m) for c in costs],
        ["EventBridge Scheduler invocations (instead)"] + [f"{c.timers * per_m:,.0f}" for c in costs]
        + [_usd(c.scheduler * per_m) for c in costs],
        ["total, ENCLAVE_TIMERS=scheduler"] + [""] * len(costs) + [_usd(c.total_with_scheduler * per_m) for c in costs],
    ]
    labels = [f.shape.name for f in fig.shapes]
    print(table(["per million delivered messages"] + [f"units, {x}" for x in labels] + [f"USD, {x}" for x in labels],
                rows))
    means = ", ".join(f"{f.shape.name} {statistics.fmean(f.step_ms):.1f} ms" for f in fig.shapes if f.step_ms)
    per_100ms = fig.memory_mb / 1024 * 0.1 * LAMBDA_PER_GB_SECOND * per_m
    print(f"\n  Lambda duration: the mean run here ({means}), against DynamoDB Local and a\n"
          f"  local receiver; in AWS every DynamoDB call and the brand's webhook answer take longer, and a cold\n"
          f"  start adds its init. Each 100 ms more per run adds {_usd(per_100ms)} per million runs at "
          f"{fig.memory_mb} MB.\n"
          "  Not included: the channel itself (SES, SNS; a webhook costs the brand), CloudWatch Logs, the\n"
          "  trigger events' own ingestion, data transfer.")
    sweeps = fig.sweeps
    if sweeps.runs:
        s = sweeps.bucket
        sweep_ms = statistics.fmean(sweeps.ms)
        monthly = MINUTES_PER_MONTH * (LAMBDA_PER_REQUEST
                                       + fig.memory_mb / 1024 * sweep_ms / 1000 * LAMBDA_PER_GB_SECOND
                                       + s.rru_aws / sweeps.runs * DYNAMODB_PER_RRU
                                       + s.wru_aws / sweeps.runs * DYNAMODB_PER_WRU)
        found = ", ".join(f"{k} {v}" for k, v in sweeps.found.items()) or "nothing to repair"
        print(f"\n  Fixed, not per message: journey_sweeper runs every minute ({MINUTES_PER_MONTH:,} runs a month): "
              f"per run\n  {_calls(s.calls, sweeps.runs)}, {sweep_ms:.1f} ms here (its {sweeps.runs} runs here "
              f"found {found});\n  about {_usd(monthly)} a month with an empty outbox. journey_timers (a no-op "
              f"with Step Functions) also\n  fires every minute: {MINUTES_PER_MONTH:,} requests, "
              f"{_usd(MINUTES_PER_MONTH * LAMBDA_PER_REQUEST)} a month.")
    for f in fig.shapes:
        for warning in f.warnings:
            print(f"\n  WARNING {f.shape.label}: {warning}")
