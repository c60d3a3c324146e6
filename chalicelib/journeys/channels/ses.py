"""Email through Amazon SES (``SendEmail``). The sender is the tenant's ``email_from`` (on
one of its sender domains, verified in SES) or the stage's ``ENCLAVE_EMAIL_FROM``;
``ENCLAVE_SES_ENDPOINT`` points it elsewhere (a local mock). Sender domains are registered
and their verification state read here too (``VerifyDomainIdentity``)."""
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

    def register_domain(self, domain: str) -> str:
        """Start (or repeat) SES's verification of ``domain``: the token to publish as the TXT
        record ``_amazonses.<domain>``."""
        return str(self.client.verify_domain_identity(Domain=domain)["VerificationToken"])

    def verification_status(self, domains: list[str]) -> dict[str, str]:
        """SES's state of each domain: Success, Pending, Failed, TemporaryFailure, NotStarted."""
        found: dict[str, str] = {}
        for start in range(0, len(domains), 100):  # the API's limit per call
            batch = domains[start:start + 100]
            answer = self.client.get_identity_verification_attributes(Identities=batch)
            attributes = answer.get("VerificationAttributes", {})
            found.update({d: str(attributes.get(d, {}).get("VerificationStatus", "NotStarted")) for d in batch})
        return found

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
