"""What the engine reads on every event and step, cached in the process: a tenant's active
journeys (briefly: an activation reaches every Lambda within ``ACTIVE_TTL_SECONDS``; this
process sees its own changes at once) and definition versions (immutable: kept).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import store

ACTIVE_TTL_SECONDS = 10.0
_journeys: dict[str, tuple[float, list[ActiveJourney], bool]] = {}
_versions: dict[tuple[str, str, int], dict[str, Any]] = {}
_VERSIONS_MAX = 2000


@dataclass(frozen=True)
class ActiveJourney:
    journey_id: str
    name: str
    version: int
    definition: dict[str, Any]


def _load(tenant_id: str) -> tuple[float, list[ActiveJourney], bool]:
    cached = _journeys.get(tenant_id)
    if cached and cached[0] > time.monotonic():
        return cached
    items = store.list_journeys(tenant_id, consistent=False)
    active = [ActiveJourney(j.journey_id, j.name, int(j.definition_version), dict(j.definition))
              for j in items if j.status == "active"]
    entry = (time.monotonic() + ACTIVE_TTL_SECONDS, active, any(j.ever_activated for j in items))
    _journeys[tenant_id] = entry
    return entry


def active_journeys(tenant_id: str) -> list[ActiveJourney]:
    return _load(tenant_id)[1]


def may_have_enrolments(tenant_id: str) -> bool:
    """Whether any journey of the tenant was ever active (so a member may be inside one)."""
    return _load(tenant_id)[2]


def forget(tenant_id: str) -> None:
    """This process changed the tenant's journeys: read them afresh next time."""
    _journeys.pop(tenant_id, None)


def definition(tenant_id: str, journey_id: str, version: int) -> dict[str, Any] | None:
    key = (tenant_id, journey_id, version)
    if key not in _versions:
        item = store.get_version(tenant_id, journey_id, version)
        if item is None:
            return None
        if len(_versions) >= _VERSIONS_MAX:
            _versions.clear()
        _versions[key] = dict(item.definition)
    return _versions[key]


def steps_by_id(definition_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in definition_["steps"]}
