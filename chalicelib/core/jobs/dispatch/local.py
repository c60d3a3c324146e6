"""Dev stack and tests: a process-local queue served by a pool of worker threads.

With ``background=True`` (the dev server) ``workers`` daemon threads run queued jobs, so
the ranges of a fanned-out pass run in parallel as they would on separate Lambdas; with
``background=False`` (tests, ``ENCLAVE_JOB_DISPATCH=manual``) they wait for ``drain()``,
so a test decides when "later" is (and with how many workers). Jobs are items in DynamoDB
either way: a restart loses only the queue entries, and the sweeper re-dispatches the jobs.
"""
from __future__ import annotations

import queue
import threading

from ... import observability as obs
from .base import Dispatcher, Run

Entry = tuple[str | None, str, Run]


class LocalDispatcher(Dispatcher):
    def __init__(self, background: bool, workers: int = 4) -> None:
        self._queue: queue.Queue[Entry] = queue.Queue()
        self._background = background
        self._workers = max(1, workers)
        self._started = False
        self._lock = threading.Lock()

    def dispatch(self, tenant_id: str | None, job_id: str, run: Run) -> None:
        self._queue.put((tenant_id, job_id, run))
        if self._background and not self._started:
            with self._lock:
                if not self._started:
                    for n in range(self._workers):
                        threading.Thread(target=self._work, name=f"enclave-jobs-{n}", daemon=True).start()
                    self._started = True

    def _work(self) -> None:
        while True:
            self._run_one(self._queue.get())

    @staticmethod
    def _run_one(entry: Entry) -> None:
        tenant_id, job_id, run = entry
        try:
            run(tenant_id, job_id)
        except Exception:  # noqa: BLE001 - the runner records job failures; this keeps the worker alive
            obs.logger.exception("job run raised", extra={"job_id": job_id})

    def drain(self, workers: int = 1) -> int:
        """Run every queued job (and what they queue) now, on ``workers`` threads; how many
        runs happened. Returns when the queue is empty and no worker is running a job."""
        if workers <= 1:
            runs = 0
            while True:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    return runs
                self._run_one(entry)
                runs += 1
        runs_box = [0]
        busy = [0]
        cond = threading.Condition()

        def work() -> None:
            while True:
                with cond:
                    while True:
                        try:
                            entry = self._queue.get_nowait()
                            busy[0] += 1
                            break
                        except queue.Empty:
                            if busy[0] == 0:
                                cond.notify_all()
                                return
                            cond.wait(0.05)
                try:
                    self._run_one(entry)
                finally:
                    with cond:
                        busy[0] -= 1
                        runs_box[0] += 1
                        cond.notify_all()

        threads = [threading.Thread(target=work, name=f"enclave-drain-{n}") for n in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return runs_box[0]
