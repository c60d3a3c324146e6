"""Tenant, API key and API key lookup items."""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..core.audit import Entry
from ..core.table import keys
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction, save_versioned


class TenantItem(TableItem, discriminator="tenant"):
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    currency = UnicodeAttribute()
    default_country = UnicodeAttribute()
    #: what an event naming an unknown identity does: "create" a prospect, or "reject"
    unknown_identity = UnicodeAttribute(default="create")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()
    #: on a live tenant: its sandbox twin, made with its first test key (docs/decisions/0009)
    sandbox_tenant_id = UnicodeAttribute(null=True)
    #: on a sandbox tenant: the live tenant it is the twin of (unset: a live tenant)
    live_tenant_id = UnicodeAttribute(null=True)
    #: requests per second the platform allows the tenant (core.throttle); unset: the default
    rate_limit_per_second = NumberAttribute(null=True)


class TenantRegistryItem(TableItem, discriminator="tenant_registry"):
    """Platform-level list of tenants, for jobs that visit every tenant (no scan)."""

    created_at = UnicodeAttribute()


REGISTRY_PK = "PLATFORM#TENANTS"


class ApiKeyItem(TableItem, discriminator="api_key"):
    """The tenant's record of a key (listing, revocation, audit)."""

    key_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    mode = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)
    secret_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)


class ApiKeyLookupItem(TableItem, discriminator="api_key_lookup"):
    """Found by the key's hash on every request; exists only while the key is active."""

    tenant_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    mode = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)
    last_used_at = UnicodeAttribute(null=True)
    #: a test key's live tenant; ``tenant_id`` is then the sandbox twin it acts as
    sandbox_of = UnicodeAttribute(null=True)


def get_tenant(tenant_id: str) -> TenantItem | None:
    try:
        return TenantItem.get(keys.tenant(tenant_id), keys.TENANT_SK, consistent_read=True)
    except DoesNotExist:
        return None


def create_tenant(tenant: TenantItem, key: ApiKeyItem, lookup: ApiKeyLookupItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    tx.save("tenant", tenant, condition=TenantItem.pk.does_not_exist())
    tx.save("registry", TenantRegistryItem(REGISTRY_PK, tenant.tenant_id, created_at=tenant.created_at))
    tx.save("key", key, condition=ApiKeyItem.pk.does_not_exist())
    tx.save("lookup", lookup, condition=ApiKeyLookupItem.pk.does_not_exist())
    if audit is not None:
        audit.stage(tx)
    tx.commit()


def create_sandbox(live: TenantItem, sandbox: TenantItem) -> None:
    """Link a new sandbox twin to its live tenant; fails (TransactionCancelled) if the live
    tenant changed meanwhile, e.g. a concurrent request made the twin first."""
    tx = Transaction()
    tx.update("live", live, actions=[TenantItem.sandbox_tenant_id.set(sandbox.tenant_id)],
              condition=TenantItem.pk.exists() & TenantItem.sandbox_tenant_id.does_not_exist())
    tx.save("sandbox", sandbox, condition=TenantItem.pk.does_not_exist())
    tx.save("registry", TenantRegistryItem(REGISTRY_PK, sandbox.tenant_id, created_at=sandbox.created_at))
    tx.commit()


def tenant_ids(after: str | None, limit: int) -> list[str]:
    condition = TenantRegistryItem.sk > after if after else None
    return [i.sk for i in TenantRegistryItem.query(REGISTRY_PK, condition, limit=limit, page_size=limit)]


def save_tenant(tenant: TenantItem, audit: Entry | None = None) -> None:
    """Saves with the version check (PynamoDB conditions on the version it loaded), in one
    transaction with its audit record; a lost race is :class:`StaleVersion`."""
    save_versioned(tenant, also=audit.stage if audit is not None else None)


def add_api_key(key: ApiKeyItem, lookup: ApiKeyLookupItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    tx.check("tenant", TenantItem, keys.tenant(key.tenant_id), keys.TENANT_SK, TenantItem.pk.exists())
    tx.save("key", key, condition=ApiKeyItem.pk.does_not_exist())
    tx.save("lookup", lookup, condition=ApiKeyLookupItem.pk.does_not_exist())
    tx.commit()


def get_api_key(tenant_id: str, key_id: str) -> ApiKeyItem | None:
    try:
        return ApiKeyItem.get(keys.tenant(tenant_id), keys.api_key_sk(key_id), consistent_read=True)
    except DoesNotExist:
        return None


def list_api_keys(tenant_id: str) -> list[ApiKeyItem]:
    return list(
        ApiKeyItem.query(keys.tenant(tenant_id), ApiKeyItem.sk.startswith("KEY#"), consistent_read=True)
    )


def revoke_api_key(key: ApiKeyItem, revoked_at: str, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    tx.update("key", key, actions=[ApiKeyItem.revoked_at.set(revoked_at)],
              condition=ApiKeyItem.pk.exists() & ApiKeyItem.revoked_at.does_not_exist())
    tx.delete("lookup", ApiKeyLookupItem(keys.api_key_lookup(key.secret_hash), "APIKEY"))
    tx.commit()


def find_active_key(secret_hash: str) -> ApiKeyLookupItem | None:
    """Strongly consistent, so a key revoked a moment ago is already gone."""
    try:
        return ApiKeyLookupItem.get(keys.api_key_lookup(secret_hash), "APIKEY", consistent_read=True)
    except DoesNotExist:
        return None


def touch_api_key(lookup: ApiKeyLookupItem, now: str) -> None:
    """Record use; best effort (a lost ``last_used_at`` tick must not fail a request)."""
    try:
        lookup.update(actions=[ApiKeyLookupItem.last_used_at.set(now)],
                      condition=ApiKeyLookupItem.pk.exists())
        ApiKeyItem(keys.tenant(lookup.tenant_id), keys.api_key_sk(lookup.key_id)).update(
            actions=[ApiKeyItem.last_used_at.set(now)], condition=ApiKeyItem.pk.exists()
        )
    except (UpdateError, PutError):
        pass
