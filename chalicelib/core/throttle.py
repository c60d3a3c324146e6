"""Per-tenant request rate limits, enforced by every container on its own (``core.http``
admits each tenant request here once, after authentication).

A token bucket per tenant in the process: it holds up to ``rate x burst_seconds`` tokens,
refills at ``rate`` per second, and each request takes one. ``rate`` is the tenant's own
(set by the platform, ``TenantItem.rate_limit_per_second``) or the stage default, divided
by the containers a tenant's traffic is expected to spread over. Nothing is read or written
in DynamoDB per request: a shared counter would itself be a hot key and a cost on sale day
(docs/decisions/0016-tenant-throttling-and-sale-day-caches.md). The exact global cap per
API key is API Gateway's usage plan (infra/stack.py); this limit keeps one tenant from
taking a shared container's time and answers a 429 the client can act on.

Time is the app clock (``core.clock``), so tests move it instead of sleeping.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import clock, wiring
from .config import get_settings
from .errors import TooManyRequests

#: tenant id -> its own rate (requests per second), None for the stage default
RateSource = Callable[[str], float | None]
_rate_source: RateSource | None = None
_MAX_TENANTS = 20_000


def register_rate_source(source: RateSource) -> None:
    """The tenants capability tells each tenant's rate (core never imports a capability)."""
    global _rate_source
    _rate_source = source


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by key, thread-safe (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, rate: float, capacity: float, now: float) -> float:
        """Take one token for ``key``: 0.0 if there was one, else the seconds until there is."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_TENANTS:
                    self._buckets.clear()
                bucket = self._buckets[key] = _Bucket(tokens=capacity, at=now)
            elapsed = max(0.0, now - bucket.at)  # a clock moved back refills nothing
            bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate

    def forget(self) -> None:
        with self._lock:
            self._buckets.clear()


_buckets = TokenBuckets()


def tenant_rate(tenant_id: str) -> float:
    """The requests per second one container admits for ``tenant_id``."""
    settings = get_settings()
    source = _rate_source or wiring.provided("throttle.rate_source")
    own = source(tenant_id) if source is not None else None
    return (own or settings.rate_limit_per_second) / settings.rate_limit_containers


def admit(tenant_id: str) -> None:
    """Take one request of ``tenant_id``'s rate, else raise a 429 with ``Retry-After``."""
    rate = tenant_rate(tenant_id)
    capacity = max(1.0, rate * get_settings().rate_limit_burst_seconds)
    wait = _buckets.take(tenant_id, rate, capacity, clock.now().timestamp())
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise TooManyRequests(f"This tenant sends more than {rate:g} requests per second here; retry in "
                              f"{retry_after} s.", retry_after=retry_after)
