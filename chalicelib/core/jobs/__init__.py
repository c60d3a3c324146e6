"""Background jobs: work too long for a request (re-evaluating every member of a tenant,
the nightly pass), run in checkpointed steps that survive a crash or a Lambda timeout.

A job is an item (status, progress, checkpoint). ``start`` writes it and hands its id to
the dispatcher (an async Lambda invoke in AWS, a local queue in the dev stack and tests);
``run`` executes steps of the registered handler until it is done or the time budget is
spent, saving the checkpoint after every step, then re-dispatches itself if unfinished.
``stage`` creates a job inside the transaction of the write that needs it (it exists
exactly when that write committed). A sweeper schedule re-dispatches jobs whose heartbeat
went stale, including ones whose dispatch was lost.
"""
from __future__ import annotations

from .runner import Child, Handler, Step, get_job, inputs, live_progress, register, run, stage, start, sweep

__all__ = ["Child", "Handler", "Step", "get_job", "inputs", "live_progress", "register", "run", "stage", "start",
           "sweep"]
