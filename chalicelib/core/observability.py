"""Powertools Logger, Tracer and Metrics, shared by every capability.

Every log line of a request carries ``tenant_id`` and ``request_id``; nothing logs PII or
secrets (members are named by id only). Metrics keep the tenant id as metadata, never as
a dimension (a dimension per tenant would be a metric per tenant).
"""
from __future__ import annotations

import os

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "enclave"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Enclave")

logger = Logger(service=SERVICE)


class _NoTracer:
    """Stands in for Tracer where X-Ray is off: importing the X-Ray SDK costs ~270 ms of
    cold start, so it is loaded only on stages that trace (``ENCLAVE_TRACING=1``)."""

    def put_annotation(self, key: str, value: Any) -> None:
        return None


def _make_tracer() -> Any:
    if os.environ.get("ENCLAVE_TRACING") == "1":
        from aws_lambda_powertools import Tracer

        return Tracer(service=SERVICE)
    return _NoTracer()


tracer = _make_tracer()
metrics = Metrics(namespace="Enclave", service=SERVICE)

__all__ = ["logger", "tracer", "metrics", "MetricUnit", "count"]


def count(name: str, tenant_id: str | None = None, value: int = 1) -> None:
    """Add ``value`` to a count metric, with the tenant as metadata."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if tenant_id:
        metrics.add_metadata(key="tenant_id", value=tenant_id)


def flush() -> None:
    """Emit the request's metrics (EMF on stdout) if any were recorded.

    With ``POWERTOOLS_METRICS_DISABLED`` Powertools' flush returns without clearing, and
    its automatic flush at 100 values ignores the flag; clear explicitly so nothing piles up.
    """
    if not metrics.metric_set:
        return
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        metrics.clear_metrics()
    else:
        metrics.flush_metrics()
