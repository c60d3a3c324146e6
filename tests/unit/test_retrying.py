"""retrying(): the one loop for optimistic writes (pure: the attempts are stubs)."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import Conflict
from chalicelib.core.table.transactions import StaleVersion, TransactionCancelled, retrying


class Attempts:
    """Loses the first ``losses`` races, then writes; records each attempt and pause."""

    def __init__(self, losses: list[Exception]) -> None:
        self.losses = list(losses)
        self.seen: list[int] = []
        self.pauses: list[int] = []

    def __call__(self, n: int) -> str:
        self.seen.append(n)
        if self.losses:
            raise self.losses.pop(0)
        return f"written on attempt {n}"

    def pause(self, n: int) -> None:
        self.pauses.append(n)


def test_given_lost_races_when_a_later_attempt_writes_then_its_result_is_returned_after_backoffs() -> None:
    attempt = Attempts([StaleVersion(), TransactionCancelled({"profile"}, conflict=True)])
    assert retrying(attempt, attempts=5, conflict="busy", pause=attempt.pause) == "written on attempt 2"
    assert attempt.seen == [0, 1, 2]
    assert attempt.pauses == [0, 1]  # a pause between attempts, growing with n


def test_given_every_attempt_loses_then_a_409_concurrent_update_says_why_without_a_last_pause() -> None:
    attempt = Attempts([StaleVersion()] * 3)
    with pytest.raises(Conflict) as caught:
        retrying(attempt, attempts=3, conflict="The member's tags kept changing; try again.", pause=attempt.pause)
    assert (caught.value.status, caught.value.code) == (409, "concurrent_update")
    assert caught.value.detail == "The member's tags kept changing; try again."
    assert attempt.seen == [0, 1, 2]
    assert attempt.pauses == [0, 1]


def test_given_a_cancellation_the_caller_does_not_retry_then_it_goes_through_at_once() -> None:
    def conflict_only(exc: StaleVersion | TransactionCancelled) -> bool:
        return not isinstance(exc, TransactionCancelled) or exc.conflict

    duplicate = TransactionCancelled({"identity:phone"}, conflict=False)
    attempt = Attempts([duplicate])
    with pytest.raises(TransactionCancelled) as caught:
        retrying(attempt, attempts=5, conflict="busy", retry_if=conflict_only, pause=attempt.pause)
    assert caught.value is duplicate
    assert attempt.pauses == []


def test_given_another_error_then_it_is_not_retried() -> None:
    attempt = Attempts([KeyError("boom")])
    with pytest.raises(KeyError):
        retrying(attempt, attempts=5, conflict="busy", pause=attempt.pause)
    assert attempt.seen == [0]


def test_given_the_default_pause_then_it_is_the_jittered_backoff_and_short() -> None:
    import time

    started = time.monotonic()
    attempt = Attempts([StaleVersion()] * 3)
    assert retrying(attempt, attempts=4, conflict="busy") == "written on attempt 3"
    assert time.monotonic() - started < 0.2  # 5, 10, 20 ms at most
