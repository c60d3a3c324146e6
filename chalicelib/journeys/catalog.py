"""What the engine reads on every event and step, cached in the process: a tenant's active
journeys and definition versions (immutable: kept).

The active journeys are cached by the tenant's journeys *generation*, which every change
of a journey bumps in its own transaction (``core.table.generations``). A request reads
that one number once (a strongly consistent GetItem of a small item, from one of its
copies so no sale-day burst makes it a hot key) and re-reads the journeys only when it
moved: a journey activated a moment ago, in this process or any other, enrols the very
next request's events.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.table import generations
from . import store

_journeys: dict[str, Catalog] = {}
_versions: dict[tuple[str, str, int], dict[str, Any]] = {}
_VERSIONS_MAX = 2000
_TENANTS_MAX = 5000


@dataclass(frozen=True)
class ActiveJourney:
    journey_id: str
    name: str
    version: int
    definition: dict[str, Any]


@dataclass(frozen=True)
class Catalog:
    """A tenant's journeys as of one generation."""

    generation: int
    active: list[ActiveJourney]
    #: whether any journey was ever active (so a member may be inside one)
    ever_activated: bool


def current(tenant_id: str, seed: str = "") -> Catalog:
    """The tenant's journeys now (``seed`` is no longer needed: a generation's copy is
    picked at random). The generation is read before the journeys, so a change that lands
    in between is seen by the next call."""
    generation = generations.current(tenant_id, store.GENERATION)
    cached = _journeys.get(tenant_id)
    if cached is not None and cached.generation == generation:
        return cached
    items = store.list_journeys(tenant_id, consistent=True)
    active = [ActiveJourney(j.journey_id, j.name, int(j.definition_version), dict(j.definition))
              for j in items if j.status == "active"]
    entry = Catalog(generation, active, any(j.ever_activated for j in items))
    if len(_journeys) >= _TENANTS_MAX:
        _journeys.clear()
    _journeys[tenant_id] = entry
    return entry


def active_journeys(tenant_id: str, seed: str = "") -> list[ActiveJourney]:
    return current(tenant_id, seed).active


def may_have_enrolments(tenant_id: str, seed: str = "") -> bool:
    """Whether any journey of the tenant was ever active (so a member may be inside one)."""
    return current(tenant_id, seed).ever_activated


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
