"""Loading the tenant's points program (and the tenant settings points need)."""
from __future__ import annotations

from dataclasses import dataclass

from ...core.table import generations
from ...tenants import service as tenants
from . import store
from .rules import PointsProgram, program_from


@dataclass(frozen=True)
class Loaded:
    program: PointsProgram
    timezone: str
    currency: str
    exists: bool
    updated_at: str | None
    body: dict


def _read(tenant_id: str) -> store.ProgramItem | None:
    return store.get_program(tenant_id)


#: the program per tenant, kept while its generation stands still (a sale day's events would
#: otherwise read the one program item thousands of times a second: a hot key)
_programs = generations.TenantCache(store.PROGRAM_GENERATION, _read)


def load(tenant_id: str) -> Loaded:
    settings = tenants.tenant_settings(tenant_id)
    item = _programs.get(tenant_id)
    body = dict(item.body) if item else {}
    return Loaded(program=program_from(body, item.version if item else 0), timezone=settings.timezone,
                  currency=settings.currency, exists=item is not None, updated_at=item.updated_at if item else None,
                  body=body)
