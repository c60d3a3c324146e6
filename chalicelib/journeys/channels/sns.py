"""SMS through Amazon SNS (``Publish`` to a phone number, E.164). ``ENCLAVE_SMS_TYPE``
(Promotional by default: journeys are marketing) and ``ENCLAVE_SMS_SENDER_ID`` set the SMS
attributes; ``ENCLAVE_SNS_ENDPOINT`` points it elsewhere (a local mock)."""
from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .base import Channel, Outcome, Outgoing
from .errors import classify

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsChannel(Channel):
    @cached_property
    def client(self) -> SNSClient:
        import boto3

        from ...core.config import get_settings
        from .errors import sdk_config

        return boto3.client("sns", region_name=get_settings().region, config=sdk_config(),
                            endpoint_url=os.environ.get("ENCLAVE_SNS_ENDPOINT") or None)

    def send(self, message: Outgoing) -> Outcome:
        attributes: dict[str, Any] = {"AWS.SNS.SMS.SMSType": {
            "DataType": "String", "StringValue": os.environ.get("ENCLAVE_SMS_TYPE", "Promotional")}}
        if os.environ.get("ENCLAVE_SMS_SENDER_ID"):
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String",
                                                  "StringValue": os.environ["ENCLAVE_SMS_SENDER_ID"]}
        try:
            answer = self.client.publish(PhoneNumber=message.to or "", Message=message.body or "",
                                         MessageAttributes=attributes)
        except Exception as exc:  # noqa: BLE001 - every failure is classified for the log
            return classify(exc)
        return Outcome.of("sent", f"MessageId {answer['MessageId']}", answer["MessageId"])
