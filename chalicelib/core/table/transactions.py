"""Multi-item writes that hold an invariant, with cancellations mapped to readable reasons.

PynamoDB raises ``TransactWriteError`` with ``cancellation_reasons``: one entry per action,
``None`` where the action was fine. Services ask "which of my actions failed?" by the
label they gave each action, e.g. ``{"identity:phone", "profile"}``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from ..errors import Conflict
from .model import TableItem

T = TypeVar("T")


class TransactionCancelled(Exception):
    def __init__(self, failed: set[str], conflict: bool) -> None:
        super().__init__(f"transaction cancelled: {sorted(failed) or 'conflict'}")
        #: labels of actions whose condition failed
        self.failed = failed
        #: True when DynamoDB cancelled for a concurrent transaction (safe to retry)
        self.conflict = conflict


class Transaction:
    """Collects labelled actions, then commits them all or none."""

    # PynamoDB sends condition checks, then deletes, then puts, then updates, whatever
    # the order they were added in; cancellation reasons come back in the sent order.
    _ORDER = {"check": 0, "delete": 1, "save": 2, "update": 3}

    def __init__(self) -> None:
        self._actions: list[tuple[int, str, Callable[[TransactWrite], None]]] = []
        self._after_commit: list[Callable[[], object]] = []
        #: what :mod:`core.signals` staged in this transaction (one outbox item per transaction)
        self.outbox: Any = None

    def _add(self, kind: str, label: str, action: Callable[[TransactWrite], None]) -> None:
        self._actions.append((self._ORDER[kind], label, action))

    def save(self, label: str, item: TableItem, condition: Any = None) -> None:
        self._add("save", label, lambda tx: tx.save(item, condition=condition))

    def update(self, label: str, item: TableItem, actions: list[Any], condition: Any = None) -> None:
        self._add("update", label, lambda tx: tx.update(item, actions=actions, condition=condition))

    def delete(self, label: str, item: TableItem, condition: Any = None) -> None:
        self._add("delete", label, lambda tx: tx.delete(item, condition=condition))

    def check(self, label: str, model: type[TableItem], hash_key: str, range_key: str, condition: Any) -> None:
        self._add("check", label, lambda tx: tx.condition_check(model, hash_key, range_key, condition=condition))

    def has(self, label: str) -> bool:
        """Whether an action with ``label`` is in the transaction already."""
        return any(existing == label for _, existing, _ in self._actions)

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the transaction committed (never if it did not). Only for
        work that is also recorded durably in the transaction (an outbox item), since the
        process may die before it runs."""
        self._after_commit.append(callback)

    def commit(self) -> None:
        if not self._actions:
            return
        self._write()
        for callback in self._after_commit:
            try:
                callback()
            except Exception:  # noqa: BLE001 - committed; the outbox sweeper repeats what did not happen
                from .. import observability as obs

                obs.logger.exception("after-commit work failed; the outbox sweeper will retry it")

    def _write(self) -> None:
        # The model's own connection: same endpoint, same pooled botocore client.
        connection = TableItem._get_connection().connection
        sent = sorted(self._actions, key=lambda a: a[0])  # stable: same-kind order kept
        try:
            with TransactWrite(connection=connection) as tx:
                for _, _, add in sent:
                    add(tx)
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            failed = {
                label
                for (_, label, _), reason in zip(sent, reasons, strict=False)
                if reason is not None and reason.code == "ConditionalCheckFailed"
            }
            conflict = any(
                reason is not None and reason.code == "TransactionConflict" for reason in reasons
            )
            if failed or conflict:
                raise TransactionCancelled(failed, conflict) from exc
            raise


class StaleVersion(Exception):
    """A conditional single-item write lost to a concurrent writer (version moved on)."""


def is_condition_failure(exc: Exception) -> bool:
    """True for a PynamoDB Put/Update/DeleteError caused by a failed condition."""
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def save_versioned(item: TableItem, condition: Any = None,
                   also: Callable[[Transaction], object] | None = None) -> None:
    """``item.save()`` with PynamoDB's version check; a lost race is :class:`StaleVersion`.
    ``also`` stages more writes (an audit record) that commit with it, in one transaction."""
    from pynamodb.exceptions import PutError

    if also is not None:
        tx = Transaction()
        tx.save("item", item, condition=condition)
        also(tx)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            raise StaleVersion() from exc
        return
    try:
        item.save(condition=condition)
    except PutError as exc:
        if is_condition_failure(exc):
            raise StaleVersion() from exc
        raise


def backoff(attempt: int, cap: float = 0.2) -> None:
    """Sleep before retrying a write that lost a race: full-jitter exponential backoff
    (5 ms doubling per attempt, at most ``cap`` seconds), so racing writers spread out."""
    import random
    import time

    time.sleep(random.uniform(0, min(cap, 0.005 * 2**attempt)))


def any_lost_race(exc: StaleVersion | TransactionCancelled) -> bool:  # noqa: ARG001
    """Retry every lost optimistic write (the default of :func:`retrying`)."""
    return True


def retrying(attempt: Callable[[int], T], *, attempts: int, conflict: str,
             retry_if: Callable[[StaleVersion | TransactionCancelled], bool] = any_lost_race,
             pause: Callable[[int], None] = backoff) -> T:
    """Run an optimistic write until it sticks: ``attempt(n)`` (n = 0, 1, ...) reads, decides
    and writes; a :class:`StaleVersion` or :class:`TransactionCancelled` it raises (and
    ``retry_if`` accepts) means another writer won, so it runs again after ``pause(n)``.
    After ``attempts`` lost races the caller gets a 409 ``concurrent_update`` saying
    ``conflict``. Anything else ``attempt`` raises goes straight through.

    Example: ``retrying(lambda n: _save_once(ctx, body), attempts=5,
    conflict="The member kept changing; try again.")``
    """
    for n in range(attempts):
        try:
            return attempt(n)
        except (StaleVersion, TransactionCancelled) as exc:
            if not retry_if(exc):
                raise
            if n + 1 < attempts:
                pause(n)
    raise Conflict(conflict, code="concurrent_update")
