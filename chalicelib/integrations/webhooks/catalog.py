"""A tenant's endpoints, cached in the process behind the tenant's endpoint generation.

Every event of every tenant asks "does an endpoint want this type?". The answer comes
from this cache; what it costs is one strongly consistent GetItem of one copy of the
generation (1 read unit, at most once per request), and nothing when the signals of one committed write ask again
(they share an outbox id: same moment, same answer). An endpoint created a moment ago in
any process is seen by the very next event. A tenant with no endpoint at all pays the one
read and writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...core import clock
from . import matching, store

_TENANTS_MAX = 5000


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    url: str
    patterns: tuple[str, ...]
    enabled: bool
    #: ((secret, expires_at iso or None), ...) newest first
    secrets: tuple[tuple[str, str | None], ...]

    def wants(self, event_type: str) -> bool:
        return matching.matches(self.patterns, event_type)

    def signing_secrets(self, now_iso: str) -> list[str]:
        """The secrets that sign now: the newest, and an older one until its overlap ends."""
        return [s for s, expires in self.secrets if expires is None or expires > now_iso]


@dataclass(frozen=True)
class Catalog:
    generation: int
    endpoints: tuple[Endpoint, ...]

    def subscribed(self, event_type: str) -> list[Endpoint]:
        """Endpoints (enabled or not) whose patterns select the type: an event object is
        kept when any does (a disabled endpoint may be re-enabled and replayed)."""
        return [e for e in self.endpoints if e.wants(event_type)]


_cache: dict[str, Catalog] = {}
#: tenant -> the outbox id whose signals were last answered from the cache without a read
_asked: dict[str, str] = {}


def view(item: store.EndpointItem) -> Endpoint:
    return Endpoint(item.endpoint_id, item.url, tuple(item.event_types or ()), bool(item.enabled),
                    tuple((s["secret"], s.get("expires_at")) for s in item.secrets or ()))


def current(tenant_id: str, batch: str | None = None) -> Catalog:
    """The tenant's endpoints now (the generation is read once per request, see
    ``core.table.generations``); ``batch`` (the outbox id of the signals being delivered) skips the read for the 2nd
    and later signals of one committed write."""
    cached = _cache.get(tenant_id)
    if batch is not None and cached is not None and _asked.get(tenant_id) == batch:
        return cached
    generation = store.generation(tenant_id)
    if cached is None or cached.generation != generation:
        cached = Catalog(generation, tuple(view(i) for i in store.list_endpoints(tenant_id)))
        if len(_cache) >= _TENANTS_MAX:
            _cache.clear()
            _asked.clear()
        _cache[tenant_id] = cached
    if batch is not None:
        _asked[tenant_id] = batch
    return cached


def forget(tenant_id: str) -> None:
    _cache.pop(tenant_id, None)
    _asked.pop(tenant_id, None)


def now_iso() -> str:
    return clock.iso(clock.now())
