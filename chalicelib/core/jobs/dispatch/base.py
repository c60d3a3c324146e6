"""The dispatch port."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

#: runs one job: ``run(tenant_id, job_id)`` (the runner hands it over, so dispatch never imports it)
Run = Callable[[str | None, str], object]


class Dispatcher(ABC):
    @abstractmethod
    def dispatch(self, tenant_id: str | None, job_id: str, run: Run) -> None:
        """Arrange for ``run(tenant_id, job_id)`` to happen soon, outside the caller (an
        adapter that runs elsewhere, such as another Lambda, calls the runner there)."""
