"""The dispatch port."""
from __future__ import annotations

from abc import ABC, abstractmethod


class Dispatcher(ABC):
    @abstractmethod
    def dispatch(self, tenant_id: str | None, job_id: str) -> None:
        """Arrange for ``jobs.run(tenant_id, job_id)`` to happen soon, outside the caller."""
