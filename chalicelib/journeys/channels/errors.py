"""How an AWS SDK failure maps to a delivery outcome, and the SDK settings (shared by SES
and SNS): short timeouts and few retries, since the outbox retries with its own backoff
and a step must not hang on an unreachable endpoint."""
from __future__ import annotations

from typing import Any

from .base import Outcome


def sdk_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})

#: service answers that mean "not now" rather than "never"
RETRYABLE_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "ServiceUnavailable",
                   "InternalFailure", "InternalError", "RequestTimeout", "KMSThrottlingException"}


def classify(exc: Exception) -> Outcome:
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        return Outcome.of("retry" if code in RETRYABLE_CODES else "failed", f"{code}: {message}")
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return Outcome.of("retry", f"not sent: {exc}")  # the request never left
    if isinstance(exc, ReadTimeoutError):
        return Outcome.of("unknown", f"no answer: {exc}")
    return Outcome.of("unknown", f"{type(exc).__name__}: {exc}")
