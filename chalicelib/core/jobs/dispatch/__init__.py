"""How a job id reaches a runner: pick the adapter by ``ENCLAVE_JOB_DISPATCH``."""
from __future__ import annotations

import os
from functools import lru_cache

from .base import Dispatcher


@lru_cache(maxsize=1)
def dispatcher() -> Dispatcher:
    mode = os.environ.get("ENCLAVE_JOB_DISPATCH", "local")
    if mode == "lambda":
        from .lambda_async import LambdaDispatcher

        return LambdaDispatcher(os.environ["ENCLAVE_JOB_FUNCTION"])
    from .local import LocalDispatcher

    return LocalDispatcher(background=mode == "local", workers=int(os.environ.get("ENCLAVE_JOB_WORKERS", "4")))


__all__ = ["Dispatcher", "dispatcher"]
