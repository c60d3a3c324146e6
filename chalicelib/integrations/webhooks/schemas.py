"""Request and response models of event subscriptions."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ...core import outbound
from ...core.config import get_settings
from ...core.schema import Input, Limit, Output, Page
from . import matching

DeliveryStatus = Literal["pending", "succeeded", "failed"]


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an endpoint: ``core.outbound``'s rules, and https only (the
    dev stack's receivers on 127.0.0.1 may use http when loopback is allowed)."""
    allow = get_settings().outbound_allow_loopback
    try:
        target = outbound.parse(url, allow)
    except outbound.Refused as exc:
        return str(exc)
    local = allow and target.literal is not None and target.literal.is_loopback
    if target.scheme != "https" and not local:
        return "use an https:// URL"
    return None


def _check_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _check_types(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        problem = matching.pattern_problem(pattern)
        if problem:
            raise ValueError(problem)
    return list(dict.fromkeys(patterns))


class EndpointCreate(Input):
    url: str = Field(min_length=8, max_length=2048)
    #: event types, ``<namespace>.*`` or ``*``
    event_types: list[str] = Field(min_length=1, max_length=matching.MAX_PATTERNS)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True

    _url = field_validator("url")(lambda cls, v: _check_url(v))
    _types = field_validator("event_types")(lambda cls, v: _check_types(v))


class EndpointPatch(Input):
    url: str | None = Field(default=None, min_length=8, max_length=2048)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=matching.MAX_PATTERNS)
    description: str | None = Field(default=None, max_length=500)
    #: true re-enables an endpoint the platform disabled (its flag and reason are cleared)
    enabled: bool | None = None

    _url = field_validator("url")(lambda cls, v: v if v is None else _check_url(v))
    _types = field_validator("event_types")(lambda cls, v: v if v is None else _check_types(v))


class EndpointOut(Output):
    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool
    #: why the platform disabled it (it kept failing), when it did
    disabled_reason: str | None = None
    disabled_at: str | None = None
    #: the first failed attempt since the last success
    failing_since: str | None = None
    #: until when the previous secret still signs (after a rotation)
    previous_secret_expires_at: str | None = None
    created_at: str
    updated_at: str


class EndpointCreated(EndpointOut):
    #: the signing secret, shown this once
    secret: str


class EndpointPage(Page):
    data: list[EndpointOut]


class RotateIn(Input):
    #: how long the current secret keeps signing beside the new one (0: it stops now)
    overlap_hours: int = Field(default=24, ge=0, le=168)


class SecretOut(Output):
    #: the new signing secret, shown this once
    secret: str
    previous_secret_expires_at: str | None = None


class EventOut(Output):
    id: str
    type: str
    created: str
    data: dict[str, Any]


class AttemptOut(Output):
    at: str
    status_code: int | None = None
    latency_ms: int | None = None
    #: the first 256 bytes of the endpoint's answer
    response: str | None = None
    error: str | None = None


class DeliveryOut(Output):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_attempt: AttemptOut | None = None
    next_attempt_at: str | None = None
    #: why a failed delivery stopped (gave_up, endpoint_disabled, endpoint_deleted, event_expired)
    reason: str | None = None
    created_at: str


class DeliveryDetail(DeliveryOut):
    #: every attempt kept (the last 20), oldest first
    log: list[AttemptOut]


class DeliveryPage(Page):
    data: list[DeliveryOut]


class DeliveryQuery(Input):
    status: DeliveryStatus | None = None
    limit: Limit = 50
    cursor: str | None = None


class ReplayIn(Input):
    since: datetime
    until: datetime

    @model_validator(mode="after")
    def _range(self) -> ReplayIn:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("give times with an offset or Z")
        if self.until <= self.since:
            raise ValueError("until must be after since")
        if self.until - self.since > timedelta(days=31):
            raise ValueError("replay at most 31 days at once")
        return self


class JobRef(Output):
    id: str
    status: str
