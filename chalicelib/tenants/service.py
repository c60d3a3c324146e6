"""Tenants and their API keys: provisioning, settings, key issue/verify/revoke.

Test keys (``ek_test_``) act as the tenant's sandbox twin, a tenant of its own (its own id,
so its own keys) made with the first test key: nothing a test key does reads or writes
live data, and the context says ``livemode=False`` (billing then uses test-mode Stripe).
See docs/decisions/0009-test-mode-sandbox-tenant.md.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timedelta
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from ..core import audit, clock
from ..core.config import get_settings
from ..core import observability as obs
from ..core.errors import Conflict, Forbidden, NotFound, Unauthorized
from ..core.ids import is_id, new_id
from ..core.table import keys
from ..core.table.transactions import StaleVersion, TransactionCancelled
from ..core.tenancy import TenantContext
from . import store
from .schemas import (ApiKeyCreate, ApiKeyCreated, ApiKeyOut, KeyMode, Scope, TenantCreate, TenantCreated, TenantOut,
                      TenantPatch)

#: a key's use is written back at most this often (one write per key per minute, not per request)
LAST_USED_RESOLUTION = timedelta(seconds=60)
_SECRET_BYTES = 32


def _hash(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def _tenant_out(item: store.TenantItem) -> TenantOut:
    return TenantOut(
        id=item.tenant_id, name=item.name, timezone=item.timezone, currency=item.currency,
        default_country=item.default_country, unknown_identity=item.unknown_identity or "create",
        created_at=item.created_at,
        updated_at=item.updated_at, version=item.version, livemode=item.live_tenant_id is None,
        rate_limit_per_second=int(item.rate_limit_per_second) if item.rate_limit_per_second else None,
    )


def _audited(item: store.TenantItem) -> dict[str, object]:
    return _tenant_out(item).model_dump(mode="json", exclude={"created_at", "updated_at", "version"})


def _key_out(item: store.ApiKeyItem) -> ApiKeyOut:
    return ApiKeyOut(
        id=item.key_id, name=item.name, prefix=item.prefix, mode=cast(KeyMode, item.mode),
        scopes=[cast(Scope, s) for s in item.scopes],
        created_at=item.created_at, created_by=item.created_by,
        last_used_at=item.last_used_at, revoked_at=item.revoked_at,
    )


def _new_key(tenant_id: str, spec: ApiKeyCreate, created_by: str, now: str, sandbox_of: str | None = None
             ) -> tuple[store.ApiKeyItem, store.ApiKeyLookupItem, str]:
    """A key acting as ``tenant_id`` (for a test key: the sandbox twin of ``sandbox_of``)."""
    secret = f"ek_{spec.mode}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    digest = _hash(secret)
    key_id = new_id()
    key = store.ApiKeyItem(
        keys.tenant(tenant_id), keys.api_key_sk(key_id), key_id=key_id, tenant_id=tenant_id,
        name=spec.name, prefix=secret[:12], mode=spec.mode, scopes=list(spec.scopes),
        secret_hash=digest, created_at=now, created_by=created_by,
    )
    lookup = store.ApiKeyLookupItem(
        keys.api_key_lookup(digest), "APIKEY", tenant_id=tenant_id, key_id=key_id,
        mode=spec.mode, scopes=list(spec.scopes), sandbox_of=sandbox_of,
    )
    return key, lookup, secret


def _created(key: store.ApiKeyItem, secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**_key_out(key).model_dump(), secret=secret)


def create_tenant(spec: TenantCreate, created_by: str) -> TenantCreated:
    """A new tenant and its first API key (every scope), shown once."""
    now = clock.iso(clock.now())
    tenant_id = new_id()
    tenant = store.TenantItem(
        keys.tenant(tenant_id), keys.TENANT_SK, tenant_id=tenant_id, name=spec.name,
        timezone=spec.timezone, currency=spec.currency, default_country=spec.default_country,
        unknown_identity=spec.unknown_identity, created_at=now, updated_at=now,
        rate_limit_per_second=spec.rate_limit_per_second,
    )
    key, lookup, secret = _new_key(
        tenant_id, ApiKeyCreate(name="Initial key", scopes=["read", "write", "admin"]), created_by, now
    )
    # in the new tenant's own log: its admins see who created it (a platform admin) and how
    store.create_tenant(tenant, key, lookup, audit.Entry(
        tenant_id, "tenant.created", "tenant", tenant_id, None,
        {**spec.model_dump(mode="json"),
         "initial_api_key": {"id": key.key_id, "prefix": key.prefix, "scopes": list(key.scopes)}}))
    obs.count("TenantCreated", tenant_id)
    obs.logger.info("tenant created", extra={"new_tenant_id": tenant_id})
    tenant.version = 1
    return TenantCreated(tenant=_tenant_out(tenant), api_key=_created(key, secret))


def _load_tenant(tenant_id: str) -> store.TenantItem:
    item = store.get_tenant(tenant_id)
    if item is None:
        raise NotFound("This tenant no longer exists.", code="tenant_not_found")
    return item


def get_tenant(ctx: TenantContext) -> TenantOut:
    return _tenant_out(_load_tenant(ctx.tenant_id))


#: how long a process trusts tenant settings read by other capabilities (time zone, phone
#: country, currency change rarely; a changed setting reaches every Lambda within this)
SETTINGS_TTL_SECONDS = 30.0
_settings_cache: dict[str, tuple[float, TenantOut]] = {}


def tenant_settings(tenant_id: str) -> TenantOut:
    """For other capabilities (phone country, time zone, currency), cached briefly."""
    cached = _settings_cache.get(tenant_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    settings = _tenant_out(_load_tenant(tenant_id))
    _settings_cache[tenant_id] = (time.monotonic() + SETTINGS_TTL_SECONDS, settings)
    return settings


def rate_limit(tenant_id: str) -> float | None:
    """The tenant's own request rate (None: the platform default); registered with
    core.throttle. From the settings cache: a change reaches every container within
    ``SETTINGS_TTL_SECONDS``. A tenant that no longer exists gets the default (its
    request fails on its own)."""
    try:
        return tenant_settings(tenant_id).rate_limit_per_second
    except NotFound:
        return None


def set_rate_limit(tenant_id: str, rate: int | None) -> TenantOut:
    """A platform operator gives the tenant its plan's request rate."""
    item = _load_tenant(tenant_id) if is_id(tenant_id) else None
    if item is None:
        raise NotFound("No such tenant.", code="tenant_not_found")
    item.rate_limit_per_second = rate
    item.updated_at = clock.iso(clock.now())
    try:
        store.save_tenant(item)
    except StaleVersion as exc:
        raise Conflict("The tenant changed meanwhile; try again.", code="version_conflict") from exc
    _settings_cache.pop(tenant_id, None)
    return _tenant_out(item)


def tenant_ids(after: str | None = None, limit: int = 100) -> list[str]:
    """Every tenant id, in pages (for jobs that visit all tenants)."""
    return store.tenant_ids(after, limit)


T = TypeVar("T")


def next_tenant(last: str | None, only: Sequence[str] | None = None) -> str | None:
    """The tenant after ``last`` in a pass over every tenant (id order), or over ``only``
    (an operator re-running a pass for some tenants, in the order given); None when the
    pass is over. For jobs that visit one tenant per step and checkpoint ``last``."""
    if only is not None:
        if last is None:
            return only[0] if only else None
        at = list(only).index(last) + 1 if last in only else len(only)
        return only[at] if at < len(only) else None
    ids = store.tenant_ids(last, 1)
    return ids[0] if ids else None


def for_each_tenant(visit: Callable[[str], T], only: Sequence[str] | None = None, page: int = 100) -> list[T]:
    """``visit(tenant_id)`` for every tenant (or ``only``) in the order of
    :func:`next_tenant`, reading the tenant list a page at a time; the results in that
    order. In-process: a pass that may outlive one invocation is a job using
    :func:`next_tenant` instead."""
    if only is not None:
        return [visit(t) for t in only]
    results: list[T] = []
    after: str | None = None
    while ids := store.tenant_ids(after, page):
        results += [visit(t) for t in ids]
        after = ids[-1]
    return results


def update_tenant(ctx: TenantContext, patch: TenantPatch) -> TenantOut:
    item = _load_tenant(ctx.tenant_id)
    if patch.version is not None and patch.version != item.version:
        raise Conflict(f"The tenant is at version {item.version}.", field="version", code="version_conflict",
                       current_version=item.version)
    before = _audited(item)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    for name, value in changes.items():
        if value is None:
            continue
        setattr(item, name, value)
    item.updated_at = clock.iso(clock.now())
    _settings_cache.pop(ctx.tenant_id, None)
    try:
        store.save_tenant(item, audit.Entry(ctx.tenant_id, "tenant.updated", "tenant", ctx.tenant_id,
                                            before, _audited(item)))
    except StaleVersion as exc:
        raise Conflict("The tenant changed meanwhile; read it and try again.", code="version_conflict") from exc
    return _tenant_out(item)


def _sandbox_of(live_tenant_id: str) -> str:
    """The live tenant's sandbox twin, made on first use (settings copied, its own id)."""
    for _ in range(3):
        live = _load_tenant(live_tenant_id)
        if live.sandbox_tenant_id:
            return live.sandbox_tenant_id
        now, sandbox_id = clock.iso(clock.now()), new_id()
        sandbox = store.TenantItem(
            keys.tenant(sandbox_id), keys.TENANT_SK, tenant_id=sandbox_id, name=f"{live.name} (test mode)",
            timezone=live.timezone, currency=live.currency, default_country=live.default_country,
            unknown_identity=live.unknown_identity,
            created_at=now, updated_at=now, live_tenant_id=live_tenant_id,
        )
        try:
            store.create_sandbox(live, sandbox)
        except (TransactionCancelled, StaleVersion):
            continue  # made concurrently, or the tenant changed: read again
        obs.logger.info("sandbox tenant created", extra={"sandbox_tenant_id": sandbox.tenant_id})
        return sandbox.tenant_id
    raise Conflict("The tenant changed meanwhile; try again.", code="concurrent_update")


def _sandbox(tenant_id: str) -> str | None:
    return _load_tenant(tenant_id).sandbox_tenant_id


def create_api_key(ctx: TenantContext, spec: ApiKeyCreate) -> ApiKeyCreated:
    now = clock.iso(clock.now())
    acting, sandbox_of = ctx.tenant_id, None
    if not ctx.livemode:
        if spec.mode == "live":
            raise Forbidden("A test-mode credential cannot create live keys.", field="mode", code="livemode_required")
        sandbox_of = _load_tenant(ctx.tenant_id).live_tenant_id
    elif spec.mode == "test":
        acting, sandbox_of = _sandbox_of(ctx.tenant_id), ctx.tenant_id
    key, lookup, secret = _new_key(acting, spec, ctx.actor, now, sandbox_of=sandbox_of)
    try:
        store.add_api_key(key, lookup, audit.Entry(
            ctx.tenant_id, "api_key.created", "api_key", key.key_id, None,
            _key_out(key).model_dump(mode="json", include={"name", "prefix", "mode", "scopes"})))
    except TransactionCancelled as exc:
        if "tenant" in exc.failed:
            raise NotFound("This tenant no longer exists.", code="tenant_not_found") from exc
        raise
    obs.count("ApiKeyCreated", ctx.tenant_id)
    return _created(key, secret)


def _key_tenants(ctx: TenantContext) -> list[str]:
    """Whose keys a caller manages: a live tenant also its sandbox's (test) keys; a test
    credential only the sandbox's."""
    if not ctx.livemode:
        return [ctx.tenant_id]
    sandbox = _sandbox(ctx.tenant_id)
    return [ctx.tenant_id, sandbox] if sandbox else [ctx.tenant_id]


def list_api_keys(ctx: TenantContext) -> list[ApiKeyOut]:
    return [_key_out(k) for tenant_id in _key_tenants(ctx) for k in store.list_api_keys(tenant_id)]


def revoke_api_key(ctx: TenantContext, key_id: str) -> None:
    key = None
    for tenant_id in _key_tenants(ctx) if is_id(key_id) else []:
        key = store.get_api_key(tenant_id, key_id)
        if key is not None:
            break
    if key is None:
        raise NotFound("No such API key.", code="api_key_not_found")
    if key.revoked_at:
        return
    now = clock.iso(clock.now())
    _verified.pop(key.secret_hash, None)  # this process stops trusting it at once
    try:
        store.revoke_api_key(key, now, audit.Entry(ctx.tenant_id, "api_key.revoked", "api_key", key_id,
                                                   {"revoked_at": None}, {"revoked_at": now}))
    except TransactionCancelled:
        return  # revoked concurrently: the outcome asked for holds
    finally:
        _verified.pop(key.secret_hash, None)
    obs.count("ApiKeyRevoked", ctx.tenant_id)


#: keys this process verified: secret hash -> (when read, on the app clock; the lookup item)
_verified: dict[str, tuple[datetime, store.ApiKeyLookupItem]] = {}
_VERIFIED_MAX = 10_000


def _active_key(digest: str) -> store.ApiKeyLookupItem | None:
    """The key's lookup item, read at most once per ``api_key_cache_seconds`` per process
    (a request per event on sale day would make the item a hot key). Only active keys are
    kept: a new key works at once, a revoked one within the bound (docs/decisions/0016)."""
    now = clock.now()
    hit = _verified.get(digest)
    if hit is not None and timedelta(0) <= now - hit[0] < timedelta(seconds=get_settings().api_key_cache_seconds):
        return hit[1]
    lookup = store.find_active_key(digest)
    if lookup is None:
        _verified.pop(digest, None)
        return None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[digest] = (now, lookup)
    return lookup


def verify_api_key(secret: str) -> TenantContext:
    """The tenant context of an active key, else 401. Registered with core.tenancy."""
    if len(secret) > 200:
        raise Unauthorized("The API key is not valid.", code="invalid_api_key")
    lookup = _active_key(_hash(secret))
    if lookup is None:
        raise Unauthorized("The API key is not valid or was revoked.", code="invalid_api_key")
    if lookup.mode != "live" and not lookup.sandbox_of:
        # a test key issued before sandboxes acted as the live tenant: it must be re-issued
        raise Unauthorized("This test key predates test-mode sandboxes; create a new one.", code="invalid_api_key")
    now = clock.now()
    last = lookup.last_used_at
    if last is None or datetime.fromisoformat(last) <= now - LAST_USED_RESOLUTION:
        store.touch_api_key(lookup, clock.iso(now))
        lookup.last_used_at = clock.iso(now)  # this process's copy too: once a minute, not per request
    return TenantContext(
        tenant_id=lookup.tenant_id, principal_type="api_key", principal_id=lookup.key_id,
        permissions=frozenset(cast("list[str]", lookup.scopes)), livemode=lookup.mode == "live",
    )
