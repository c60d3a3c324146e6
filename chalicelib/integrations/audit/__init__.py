"""The audit log's read side: ``GET /v1/audit-events``. Records are written by every
capability through ``core.audit`` in the transactions of their changes."""
from . import schemas, service

__all__ = ["schemas", "service"]
