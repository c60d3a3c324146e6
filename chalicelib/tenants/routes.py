"""HTTP routes: tenant provisioning (platform admin), tenant settings, API keys."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import PLATFORM_ADMIN, Api, Reply
from ..core.tenancy import ADMIN, READ, PlatformAdmin, TenantContext
from . import service
from .schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantPatch,
    RateLimitIn,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Tenants", prefix="/v1")


@api.route("/admin/tenants", "POST", auth=PLATFORM_ADMIN, permission=None, body=TenantCreate,
           response=TenantCreated, status=201, errors=(401, 403, 409, 422), shows_secret=True)
def create_tenant(admin: PlatformAdmin, body: TenantCreate) -> TenantCreated:
    """Provision a tenant and its first API key (platform operators only)

    The key is shown once, in this response; Enclave keeps only its hash.
    """
    return service.create_tenant(body, created_by=f"platform:{admin.subject}")


@api.route("/admin/tenants/{tenant_id}/rate-limit", "PUT", auth=PLATFORM_ADMIN, permission=None, body=RateLimitIn,
           response=TenantOut, errors=(401, 403, 404, 409, 422))
def set_rate_limit(admin: PlatformAdmin, tenant_id: str, body: RateLimitIn) -> TenantOut:
    """Set a tenant's request rate, its plan (platform operators only)

    Past it, the tenant's requests are answered 429 with ``Retry-After``; every container
    applies a change within 30 s.
    """
    return service.set_rate_limit(tenant_id, body.rate_limit_per_second)


@api.route("/tenant", "GET", permission=READ, response=TenantOut, errors=(401, 403))
def get_tenant(ctx: TenantContext) -> TenantOut:
    """The calling tenant's settings"""
    return service.get_tenant(ctx)


@api.route("/tenant", "PATCH", permission=ADMIN, body=TenantPatch, response=TenantOut,
           errors=(401, 403, 409, 422))
def update_tenant(ctx: TenantContext, body: TenantPatch) -> TenantOut:
    """Change the tenant's settings (name, time zone, currency, default phone country)"""
    return service.update_tenant(ctx, body)


@api.route("/api-keys", "POST", permission=ADMIN, body=ApiKeyCreate, response=ApiKeyCreated,
           status=201, errors=(401, 403, 409, 422), shows_secret=True)
def create_api_key(ctx: TenantContext, body: ApiKeyCreate) -> ApiKeyCreated:
    """Issue an API key; its secret is in this response only"""
    return service.create_api_key(ctx, body)


@api.route("/api-keys", "GET", permission=ADMIN, response=ApiKeyList, errors=(401, 403))
def list_api_keys(ctx: TenantContext) -> ApiKeyList:
    """The tenant's API keys, active and revoked (never their secrets)"""
    return ApiKeyList(data=service.list_api_keys(ctx))


@api.route("/api-keys/{key_id}", "DELETE", permission=ADMIN, status=204, errors=(401, 403, 404))
def revoke_api_key(ctx: TenantContext, key_id: str) -> Reply:
    """Revoke an API key: it fails at once where it was revoked, everywhere within 10 s"""
    service.revoke_api_key(ctx, key_id)
    return Reply(status=204)
