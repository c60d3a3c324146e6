"""AWS: an asynchronous invoke of the ``run_job`` Lambda (Lambda retries it on failure)."""
from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from .base import Dispatcher, Run


class LambdaDispatcher(Dispatcher):
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("lambda")

    def dispatch(self, tenant_id: str | None, job_id: str, run: Run) -> None:  # `run_job` runs it there
        self._client.invoke(FunctionName=self.function_name, InvocationType="Event",
                            Payload=json.dumps({"tenant_id": tenant_id, "job_id": job_id}).encode())
