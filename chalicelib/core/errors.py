"""RFC 9457 problem details: one exception type, raised by services, rendered by core.http.

Every problem has a stable ``code`` (also the last segment of ``type``), a human ``title``,
and where one input is at fault, ``field`` (a JSON-pointer-like dotted path).
"""
from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://enclave.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        if code:
            self.code = code
        if status:
            self.status = status
        if title:
            self.title = title
        self.detail = detail
        self.field = field
        self.errors = errors
        self.extra = extra
        #: response headers the problem carries (``Retry-After`` of a 429)
        self.headers: dict[str, str] = {}

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Missing or invalid credentials"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not allowed for this credential"


class NotFound(Problem):
    status, code, title = 404, "not_found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class Gone(Problem):
    status, code, title = 410, "gone", "Gone"


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported_media_type", "Send application/json"


class Unprocessable(Problem):
    status, code, title = 422, "validation_failed", "The request is not valid"


class TooManyRequests(Problem):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}
