"""Email through Amazon SES (``SendEmail``). The sender is the tenant's ``email_from`` or
the stage's ``ENCLAVE_EMAIL_FROM`` (an SES-verified identity); ``ENCLAVE_SES_ENDPOINT``
points it elsewhere (a local mock)."""
from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .base import Channel, Outcome, Outgoing
from .errors import classify

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient


class SesChannel(Channel):
    @cached_property
    def client(self) -> SESClient:
        import boto3

        from ...core.config import get_settings
        from .errors import sdk_config

        return boto3.client("ses", region_name=get_settings().region, config=sdk_config(),
                            endpoint_url=os.environ.get("ENCLAVE_SES_ENDPOINT") or None)

    def send(self, message: Outgoing) -> Outcome:
        sender = message.email_from or os.environ.get("ENCLAVE_EMAIL_FROM")
        if not sender:
            return Outcome.of("failed", "no sender: set ENCLAVE_EMAIL_FROM or the tenant's email_from")
        request: dict[str, Any] = {
            "Source": sender,
            "Destination": {"ToAddresses": [message.to]},
            "Message": {"Subject": {"Data": message.subject or "", "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": message.body or "", "Charset": "UTF-8"}}},
            "Tags": [{"Name": "enclave_message", "Value": message.message_id.replace(".", "-")[:256]}],
        }
        try:
            answer = self.client.send_email(**request)
        except Exception as exc:  # noqa: BLE001 - every failure is classified for the log
            return classify(exc)
        return Outcome.of("sent", f"MessageId {answer['MessageId']}", answer["MessageId"])
