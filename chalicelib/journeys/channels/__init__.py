"""Delivery channels (the tenant's webhook, SES email, SNS SMS), one adapter each."""
from __future__ import annotations

from functools import cache

from .base import Channel, Outcome, Outgoing


@cache
def channel(name: str) -> Channel:
    if name == "email":
        from .ses import SesChannel

        return SesChannel()
    if name == "sms":
        from .sns import SnsChannel

        return SnsChannel()
    if name == "webhook":
        from .webhook import WebhookChannel, private_targets_allowed

        return WebhookChannel(allow_private=private_targets_allowed())
    raise KeyError(name)


__all__ = ["Channel", "Outcome", "Outgoing", "channel"]
