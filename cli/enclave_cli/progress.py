"""Progress of a background job or an import, from the API's answers (pure: unit-tested).

A job (``GET /v1/jobs/{id}``) reports ``progress: {processed, changed, total?, error_count?}``;
an import (``GET /v1/imports/{id}``) ``progress: {rows_total, rows_done, rows_applied,
rows_failed}``. Both end in ``succeeded`` or ``failed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import API_ERROR, OK, PARTIAL

TERMINAL = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class Progress:
    done: int
    #: None while the total is not known yet (the bar then spins)
    total: int | None
    failed: int = 0
    applied: int | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total or self.total <= 0:
            return None
        return min(1.0, self.done / self.total)

    def describe(self) -> str:
        """``"40/100 (40%)"``, or ``"40 done"`` without a total; failures when there are any."""
        if self.fraction is not None:
            text = f"{self.done}/{self.total} ({self.fraction:.0%})"
        else:
            text = f"{self.done} done"
        return text + (f", {self.failed} failed" if self.failed else "")


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _total(value: Any) -> int | None:
    return _int(value) if value is not None else None


def of_job(job: dict[str, Any]) -> Progress:
    progress = job.get("progress") or {}
    return Progress(done=_int(progress.get("processed")), total=_total(progress.get("total")),
                    failed=_int(progress.get("error_count")))


def of_import(imported: dict[str, Any]) -> Progress:
    progress = imported.get("progress") or {}
    return Progress(done=_int(progress.get("rows_done")), total=_total(progress.get("rows_total")),
                    failed=_int(progress.get("rows_failed")), applied=_int(progress.get("rows_applied")))


def exit_code(status: str, progress: Progress) -> int:
    """0 when everything was done, 3 when it finished with failed rows or items, 1 when it failed."""
    if status == "failed":
        return API_ERROR
    return PARTIAL if progress.failed else OK
