"""What can go wrong, each with its documented exit code, and problem+json as one message.

Exit codes: 0 done, 1 the API refused or failed (or could not be reached), 2 bad usage
(click's own), 3 partly done (rows or items failed), 4 not logged in or not allowed.
"""
from __future__ import annotations

from typing import Any

import click

OK, API_ERROR, USAGE, PARTIAL, AUTH = 0, 1, 2, 3, 4
#: at most this many per-field errors of a 422 are listed
MAX_LISTED_ERRORS = 10


class CliError(click.ClickException):
    """An error shown as ``Error: <message>`` on stderr, exiting with ``exit_code``."""

    exit_code = API_ERROR

    def __init__(self, message: str, *, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.problem = problem


class ApiError(CliError):
    exit_code = API_ERROR


class AuthError(CliError):
    exit_code = AUTH


class PartialFailure(CliError):
    exit_code = PARTIAL


def format_problem(problem: dict[str, Any]) -> str:
    """A problem+json body (RFC 9457) as lines for a person: title, status and code, the
    detail, the field at fault and each field error of a validation failure."""
    status = problem.get("status")
    code = problem.get("code")
    head = str(problem.get("title") or "Request failed")
    tag = " ".join(str(x) for x in (status, code) if x)
    lines = [f"{head} ({tag})" if tag else head]
    if problem.get("detail"):
        lines.append(f"  {problem['detail']}")
    if problem.get("field"):
        lines.append(f"  field: {problem['field']}")
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    if len(errors) > 1 or (errors and errors[0].get("field") != problem.get("field")):
        for err in errors[:MAX_LISTED_ERRORS]:
            lines.append(f"  - {err.get('field', '?')}: {err.get('message', err.get('code', ''))}")
        if len(errors) > MAX_LISTED_ERRORS:
            lines.append(f"  ... and {len(errors) - MAX_LISTED_ERRORS} more")
    return "\n".join(lines)


def problem_of(status: int, content_type: str, text: str, reason: str = "") -> dict[str, Any]:
    """The problem an answer carries; a non-JSON answer (a proxy's HTML page) becomes one."""
    if "json" in content_type:
        try:
            import json

            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            body.setdefault("status", status)
            return body
    return {"title": reason or "HTTP error", "status": status, "detail": text.strip()[:300] or None}


def error_for(problem: dict[str, Any]) -> CliError:
    """401 and 403 are credential problems (exit 4); everything else is an API error (1)."""
    message = format_problem(problem)
    if problem.get("status") == 401:
        hint = "\n  (log in again: enclave login --api-key KEY --url URL, or --dev)"
        return AuthError(message + hint, problem=problem)
    if problem.get("status") == 403:
        return AuthError(message, problem=problem)
    return ApiError(message, problem=problem)
