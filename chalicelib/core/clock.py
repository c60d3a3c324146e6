"""The one place that reads the time, so tests can move it."""
from __future__ import annotations

from datetime import datetime, timezone
from collections.abc import Callable

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def now() -> datetime:
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _now
    _now = fn or (lambda: datetime.now(timezone.utc))


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: sorts as text in time order."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse(ts: str) -> datetime:
    """The inverse of :func:`iso` (any ISO 8601 time with an offset or ``Z``)."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
