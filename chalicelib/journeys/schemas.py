"""Journeys, enrolments, messages and messaging settings on the wire.

A journey definition is a trigger, an optional entry filter, goal and exit rules, a
re-entry rule, and a small graph of steps joined by ``next`` / ``then`` / ``else``::

    {"name": "Repurchase coupon",
     "trigger": {"type": "event", "event": {"type": "order.paid"}},
     "entry_filter": {"metric": "orders", "op": "eq", "value": 1},
     "goal": {"event": {"type": "order.paid"}},
     "start": "wait",
     "steps": [
       {"id": "wait", "type": "wait", "duration": "P30D", "next": "coupon"},
       {"id": "coupon", "type": "grant_coupon", "coupon": {"prefix": "BACK"}, "next": "sms"},
       {"id": "sms", "type": "send_message", "channel": "sms",
        "template": {"body": "{{member.name|default:Hi}}, {{coupon.code}} is yours"}}]}
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..core.schema import Input, Limit, Output, Page
from ..members.schemas import ULID_PATTERN

StepId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="lowercase, digits, - and _")]
LocalTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM in the tenant's time zone")]
Duration = Annotated[str, Field(min_length=3, max_length=32, description="ISO 8601, e.g. PT2H, P30D, P1W")]
EventType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
Scalar = str | int | float | bool | None
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ConsentChannel = Literal["sms", "email", "wechat"]
Channel = Literal["email", "sms", "webhook"]
MAX_STEPS = 30


class PropertyPredicate(Input):
    """Compares an event property (or top-level field such as ``amount``)."""

    property: str = Field(min_length=1, max_length=64)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"] = "eq"
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _in_takes_a_list(self) -> PropertyPredicate:
        if (self.op == "in") != isinstance(self.value, list):
            raise ValueError("'in' takes a list; the other operators a single value")
        return self


class EventSpec(Input):
    """An event by type (``order.paid``, ``interaction``, ``membership.canceled``...),
    for interactions also by name, and property predicates (all must hold)."""

    type: EventType
    name: str | None = Field(default=None, max_length=64)
    where: list[PropertyPredicate] = Field(default_factory=list, max_length=10)


# --- triggers ------------------------------------------------------------------------------
class EventTrigger(Input):
    type: Literal["event"]
    event: EventSpec


class TagTrigger(Input):
    type: Literal["tag_added", "tag_removed"]
    tag_id: str = Field(pattern=ULID_PATTERN)


class TierTrigger(Input):
    type: Literal["tier_changed"]
    direction: Literal["up", "down", "any"] = "any"
    #: only moves into this tier
    to: str | None = Field(default=None, max_length=32)


class StageTrigger(Input):
    type: Literal["stage_changed"]
    to: str | None = Field(default=None, max_length=32)
    previous: str | None = Field(default=None, max_length=32)


class MembershipTrigger(Input):
    """Billing's domain events ``membership.<event>`` (optionally of one plan): bought,
    renewed (a new period paid), past due, canceled (scheduled or ended), resumed (a
    scheduled cancellation undone), renewal upcoming (7 days before)."""

    type: Literal["membership"]
    event: Literal["activated", "renewed", "past_due", "canceled", "resumed", "renewal_upcoming"]
    plan_id: str | None = Field(default=None, pattern=ULID_PATTERN)


class DateTrigger(Input):
    """Enrols members ``days_before`` a yearly date (their birthday, or a custom attribute
    holding ``YYYY-MM-DD`` / ``MM-DD``); the first step runs at ``at`` local time."""

    type: Literal["date"]
    attribute: str = Field(default="birthday", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    days_before: int = Field(default=0, ge=0, le=60)
    at: LocalTime = "10:00"


class SegmentTrigger(Input):
    """Members entering the segment (evaluated hourly). ``enrol_existing``: whether members
    already in it at activation enter too."""

    type: Literal["segment_entry"]
    segment_id: str = Field(pattern=ULID_PATTERN)
    enrol_existing: bool = False


class ApiTrigger(Input):
    """Only ``POST /v1/journeys/{id}/enrolments`` enrols (a list chosen by the brand)."""

    type: Literal["api"]


Trigger = Annotated[EventTrigger | TagTrigger | TierTrigger | StageTrigger | MembershipTrigger | DateTrigger
                    | SegmentTrigger | ApiTrigger, Field(discriminator="type")]


# --- steps ----------------------------------------------------------------------------------
class DateTarget(Input):
    """A date from the member (``birthday``, a custom attribute) or the trigger
    (``trigger.at``: e.g. a membership's period end), plus an offset, at a local time."""

    attribute: str = Field(pattern=r"^(trigger\.)?[a-z][a-z0-9_]{0,63}$")
    offset: str | None = Field(default=None, max_length=32, description="ISO 8601, may be negative: -P7D")
    at: LocalTime = "10:00"


class _Step(Input):
    id: StepId
    name: str | None = Field(default=None, max_length=100)


class WaitStep(_Step):
    """Exactly one of: ``duration``; ``until_time`` (next HH:MM local); ``until_weekday``
    (next such day at ``at``); ``until_date``."""

    type: Literal["wait"]
    duration: Duration | None = None
    until_time: LocalTime | None = None
    until_weekday: Weekday | None = None
    at: LocalTime | None = None
    until_date: DateTarget | None = None
    next: StepId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitStep:
        given = [self.duration, self.until_time, self.until_weekday, self.until_date]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of duration, until_time, until_weekday, until_date")
        if self.at is not None and self.until_weekday is None:
            raise ValueError("'at' goes with until_weekday")
        return self


class BranchStep(_Step):
    """``condition`` is a segment filter evaluated when the member reaches the step, plus
    ``{"ordered_since_enrolment": true}``."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["branch"]
    condition: dict[str, Any]
    then: StepId | None = None
    else_: StepId | None = Field(default=None, alias="else")


class Template(Input):
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)


class SendStep(_Step):
    """A message to the member. ``consent`` names the consent it needs (email and sms need
    their own; the tenant's webhook sender says which it uses, e.g. ``wechat``)."""

    type: Literal["send_message"]
    channel: Channel
    consent: ConsentChannel | None = None
    template: Template
    next: StepId | None = None

    @model_validator(mode="after")
    def _consent(self) -> SendStep:
        if self.channel in ("email", "sms"):
            if self.consent not in (None, self.channel):
                raise ValueError(f"{self.channel} messages need the {self.channel} consent")
            self.consent = self.channel
        elif self.consent is None:
            raise ValueError("webhook messages name the consent the brand's sender needs (sms, email or wechat)")
        if self.channel == "email" and not self.template.subject:
            raise ValueError("email templates need a subject")
        return self


class TagStep(_Step):
    type: Literal["add_tag", "remove_tag"]
    tag_id: str = Field(pattern=ULID_PATTERN)
    next: StepId | None = None


class CouponSpec(Input):
    """``{"template_id": ...}``: a real coupon of that template (``/v1/coupon-templates``),
    issued once per enrolment and step. The older form, ``prefix`` + ``length`` characters
    derived from the enrolment with a keyed hash (a code the brand's own till checks),
    still works and its codes stay the same."""

    template_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    prefix: str = Field(default="", pattern=r"^[A-Z0-9]{0,10}$")
    length: int = Field(default=8, ge=6, le=16)
    valid_days: int | None = Field(default=None, ge=1, le=365)
    description: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_form(self) -> CouponSpec:
        if self.template_id and ({"prefix", "length", "valid_days"} & self.model_fields_set):
            raise ValueError("give template_id, or prefix/length/valid_days (the derived-code form), not both")
        return self


class CouponStep(_Step):
    type: Literal["grant_coupon"]
    coupon: CouponSpec
    next: StepId | None = None


class WebhookStep(_Step):
    """Calls the tenant's webhook (signed) with ``event`` and ``data``; no member message."""

    type: Literal["webhook"]
    event: EventType
    data: dict[str, Scalar] = Field(default_factory=dict, max_length=20)
    next: StepId | None = None


class TaskStep(_Step):
    """A task for the member's guide (or the store pool), due ``due_in_days`` after the day
    the step runs, in the store's time zone; one per (enrolment, step). ``title`` and
    ``body`` are templates like a message's."""

    type: Literal["create_task"]
    kind: Literal["call", "message", "greet", "follow_up", "custom"]
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=2000)
    due_in_days: int = Field(default=0, ge=0, le=60)
    next: StepId | None = None


class ExitStep(_Step):
    type: Literal["exit"]


Step = Annotated[WaitStep | BranchStep | SendStep | TagStep | CouponStep | WebhookStep | TaskStep | ExitStep,
                 Field(discriminator="type")]


class GoalSpec(Input):
    """The event that ends an enrolment at once as a conversion; ``window_days`` also
    counts it for that long after the member finished the journey."""

    event: EventSpec
    window_days: int = Field(default=0, ge=0, le=90)


class ExitRule(Input):
    event: EventSpec


class Reentry(Input):
    policy: Literal["once", "every_n_days", "always"] = "once"
    days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _days(self) -> Reentry:
        if (self.policy == "every_n_days") != (self.days is not None):
            raise ValueError("'days' goes with (and only with) every_n_days")
        return self


class _Definition(Input):
    trigger: Trigger
    entry_filter: dict[str, Any] | None = None
    goal: GoalSpec | None = None
    exit_on: list[ExitRule] = Field(default_factory=list, max_length=5)
    reentry: Reentry = Field(default_factory=Reentry)
    respect_quiet_hours: bool = True
    frequency_capped: bool = True
    start: StepId
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)


class JourneyCreate(_Definition):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)


class JourneyPatch(Input):
    """Changes; on a journey that was ever active they make a new version (members already
    in it finish the version they entered). ``version``, if given, must be current."""

    version: int | None = Field(default=None, ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    trigger: Trigger | None = None
    entry_filter: dict[str, Any] | None = None
    goal: GoalSpec | None = None
    exit_on: list[ExitRule] | None = Field(default=None, max_length=5)
    reentry: Reentry | None = None
    respect_quiet_hours: bool | None = None
    frequency_capped: bool | None = None
    start: StepId | None = None
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)


DEFINITION_FIELDS = ("trigger", "entry_filter", "goal", "exit_on", "reentry", "respect_quiet_hours",
                     "frequency_capped", "start", "steps")


class JourneyOut(Output):
    id: str
    name: str
    description: str | None = None
    #: draft, active (enrolling), paused (not enrolling; members inside continue),
    #: archived (not enrolling; members inside leave at their next step)
    status: str
    #: the definition version new enrolments get
    version: int
    trigger: dict[str, Any]
    entry_filter: dict[str, Any] | None = None
    goal: dict[str, Any] | None = None
    exit_on: list[dict[str, Any]] = Field(default_factory=list)
    reentry: dict[str, Any]
    respect_quiet_hours: bool
    frequency_capped: bool
    start: str
    steps: list[dict[str, Any]]
    created_at: str
    updated_at: str
    activated_at: str | None = None


class JourneyList(Page):
    data: list[JourneyOut]


class JourneyListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
    status: Literal["draft", "active", "paused", "archived"] | None = None


class VersionOut(Output):
    version: int
    created_at: str
    definition: dict[str, Any]


class VersionList(Output):
    data: list[VersionOut]


# --- enrolments --------------------------------------------------------------------------------
class EnrolIn(Input):
    """Up to 100 members are enrolled in the request; up to 10,000 by a background job."""

    member_ids: list[Annotated[str, Field(pattern=ULID_PATTERN)]] = Field(min_length=1, max_length=10_000)

    @field_validator("member_ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        return list(dict.fromkeys(ids))


class EnrolResult(Output):
    member_id: str
    #: enrolled; already_enrolled (a live enrolment exists); not_eligible (re-entry rule or
    #: entry filter); member_not_found
    status: str
    enrolment_id: str | None = None


class EnrolOut(Output):
    results: list[EnrolResult] = Field(default_factory=list)
    enrolled: int = 0
    #: set when the list was handed to a background job (see ``GET /v1/jobs/{job_id}``)
    job_id: str | None = None


class EnrolmentOut(Output):
    id: str
    journey_id: str
    journey_version: int
    member_id: str
    status: str
    exit_reason: str | None = None
    converted_at: str | None = None
    entered_at: str
    ended_at: str | None = None
    #: the step the member resumes at when its timer fires
    resume_at: str | None = None
    wait_until: str | None = None
    steps_taken: list[str] = Field(default_factory=list)


class EnrolmentList(Output):
    data: list[EnrolmentOut]


# --- stats ----------------------------------------------------------------------------------
class StepStats(Output):
    step_id: str
    type: str | None
    reached: int
    sent: int
    suppressed: int
    failed: int
    deferred: int


class JourneyStats(Output):
    journey_id: str
    entered: int
    live: int
    completed: int
    exited: int
    exit_reasons: dict[str, int]
    converted: int
    conversion_rate: float
    suppressed_reasons: dict[str, int]
    steps: list[StepStats]


# --- messages -------------------------------------------------------------------------------
class MessageQuery(Input):
    member_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    journey_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one_filter(self) -> MessageQuery:
        if not (self.member_id or self.journey_id):
            raise ValueError("give member_id, journey_id or both")
        return self


class MessageOut(Output):
    id: str
    member_id: str
    journey_id: str
    journey_version: int
    enrolment_id: str
    step_id: str
    #: message (to the member) or call (the tenant's webhook step)
    kind: str
    channel: str
    #: queued, sending, sent, failed, suppressed, blocked (the tenant's SMS cap)
    status: str
    reason: str | None = None
    attempts: int
    next_attempt_at: str | None = None
    provider_response: str | None = None
    provider_message_id: str | None = None
    subject: str | None = None
    body: str | None = None
    created_at: str
    updated_at: str
    sent_at: str | None = None


class MessagePage(Page):
    data: list[MessageOut]


# --- settings -------------------------------------------------------------------------------
class QuietHours(Input):
    """Local times (tenant time zone); a window may cross midnight (21:00-09:00)."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class FrequencyCap(Input):
    """Messages per member across all journeys, over rolling windows."""

    per_24_hours: int | None = Field(default=None, ge=1, le=100)
    per_7_days: int | None = Field(default=None, ge=1, le=500)


class MessagingSettingsIn(Input):
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    webhook_url: str | None = Field(default=None, max_length=500)
    #: the email sender for this tenant (an SES-verified identity); default from the stage
    email_from: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    #: SMS a day (UTC) at most, up to the platform's ceiling; default: the platform's default.
    #: Over it an SMS is not sent (status ``blocked``, reason ``sms_daily_cap``).
    sms_daily_cap: int | None = Field(default=None, ge=0, le=1_000_000)


class MessagingSettingsOut(Output):
    quiet_hours: dict[str, str] | None = None
    frequency_cap: dict[str, int | None] | None = None
    webhook_url: str | None = None
    #: the first characters of the signing secret (the secret itself is shown once)
    webhook_secret_prefix: str | None = None
    email_from: str | None = None
    #: the cap in force (the tenant's own or the platform's default)
    sms_daily_cap: int
    updated_at: str | None = None


class SenderDomainIn(Input):
    """A domain the tenant sends email from: SES verifies it (a TXT record the tenant
    publishes); ``email_from`` may then use an address on it."""

    domain: str = Field(min_length=4, max_length=253,
                        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


class DnsRecord(Output):
    type: str
    name: str
    value: str


class SenderDomainOut(Output):
    domain: str
    #: pending (publish ``dns_record``), verified (email_from may use it), failed
    status: Literal["pending", "verified", "failed"]
    #: publish it in the domain's DNS for SES to verify the domain
    dns_record: DnsRecord | None = None
    created_at: str


class SenderDomainList(Output):
    data: list[SenderDomainOut]


class WebhookSecretOut(Output):
    #: shown once: sign-check each webhook with it (``Enclave-Signature`` header)
    secret: str
    prefix: str
    created_at: str
