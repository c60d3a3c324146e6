"""The delivery port: one adapter per channel (the tenant's webhook, SES email, SNS SMS).

An adapter makes one attempt and says how it went: ``sent``; ``retry`` (nothing was
delivered, try later: throttled, unreachable, a 5xx); ``failed`` (it will not work:
rejected address, 4xx); ``unknown`` (the request left but no answer came back, so it may
have been delivered). The outbox decides what each means (backoff, give up, and whether
an unknown outcome may be retried without risking a second delivery).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

ANSWER_MAX = 500


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    tenant_id: str
    channel: str
    #: email address or E.164 phone number (None for the webhook)
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    #: the webhook's JSON body
    payload: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    email_from: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "retry", "failed", "unknown"]
    #: what the provider answered, for the message log
    answer: str = ""
    provider_message_id: str | None = None

    @classmethod
    def of(cls, status: Literal["sent", "retry", "failed", "unknown"], answer: str,
           provider_message_id: str | None = None) -> Outcome:
        return cls(status, answer[:ANSWER_MAX], provider_message_id)


class Channel(ABC):
    #: whether an ``unknown`` outcome may be retried: true when the receiver dedupes by
    #: message id (the webhook's ``Idempotency-Key``), false for SES and SNS
    retry_unknown = False

    @abstractmethod
    def send(self, message: Outgoing) -> Outcome:
        """One delivery attempt."""
