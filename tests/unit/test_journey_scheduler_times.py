"""EventBridge Scheduler's one-time expressions: whole minutes, never early, never past."""
from __future__ import annotations

from datetime import datetime, timezone


def test_a_past_due_time_is_asked_a_minute_ahead() -> None:
    from chalicelib.journeys.timers.scheduler import at_expression

    now = datetime(2026, 3, 2, 2, 0, 10, tzinfo=timezone.utc)
    assert at_expression(datetime(2026, 3, 1, tzinfo=timezone.utc), now) == "at(2026-03-02T02:02:00)"
    assert at_expression(datetime(2026, 3, 2, 5, 0, tzinfo=timezone.utc), now) == "at(2026-03-02T05:00:00)"


def test_schedule_names_are_kept_when_valid_and_shortened_stably_when_not() -> None:
    from chalicelib.journeys.timers.scheduler import schedule_name

    assert schedule_name("j-01ARZ3NDEKTSV4RRFFQ69G5FAV-12") == "j-01ARZ3NDEKTSV4RRFFQ69G5FAV-12"
    odd = "deadline:" + "g" * 80
    assert schedule_name(odd) == schedule_name(odd) != schedule_name(odd + "h")
    assert len(schedule_name(odd)) <= 64 and ":" not in schedule_name(odd)
