"""What a client gets for an exception no service turned into a Problem."""
from __future__ import annotations

from chalicelib.core.http import unhandled
from chalicelib.core.table.transactions import TransactionCancelled


def test_a_write_that_lost_only_to_a_concurrent_transaction_is_a_409_to_resend() -> None:
    try:
        raise TransactionCancelled(set(), conflict=True)
    except TransactionCancelled as exc:
        problem = unhandled(exc, "req-1")
    assert (problem.status, problem.code) == (409, "concurrent_update")


def test_a_failed_condition_nobody_handled_or_any_other_error_is_a_500() -> None:
    for exc in (TransactionCancelled({"claim"}, conflict=True), TransactionCancelled({"claim"}, conflict=False),
                ValueError("bug")):
        try:
            raise exc
        except Exception as caught:  # noqa: BLE001 - what the route wrapper catches
            problem = unhandled(caught, "req-2")
        assert (problem.status, problem.code) == (500, "internal_error")
