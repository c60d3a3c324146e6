"""Dev stack and tests: a process-local queue.

With ``background=True`` (the dev server) a daemon thread runs queued jobs; with
``background=False`` (tests, ``ENCLAVE_JOB_DISPATCH=manual``) they wait for
``drain()``, so a test decides when "later" is. Jobs are items in DynamoDB either way:
a restart loses only the queue entry, and the sweeper re-dispatches the job.
"""
from __future__ import annotations

import queue
import threading

from .base import Dispatcher, Run


class LocalDispatcher(Dispatcher):
    def __init__(self, background: bool) -> None:
        self._queue: queue.Queue[tuple[str | None, str, Run]] = queue.Queue()
        self._background = background
        self._worker: threading.Thread | None = None

    def dispatch(self, tenant_id: str | None, job_id: str, run: Run) -> None:
        self._queue.put((tenant_id, job_id, run))
        if self._background and self._worker is None:
            self._worker = threading.Thread(target=self._work, name="enclave-jobs", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            self._run_one(self._queue.get())

    @staticmethod
    def _run_one(entry: tuple[str | None, str, Run]) -> None:
        tenant_id, job_id, run = entry
        run(tenant_id, job_id)

    def drain(self) -> int:
        """Run every queued job (and what they queue) now; how many runs happened."""
        runs = 0
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return runs
            self._run_one(entry)
            runs += 1
