"""Seeds the demo tenant, idempotently: a second run reuses the tenant and key it made.

Imported only after the app's environment is set (it imports the app's services).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.core.errors import Problem
from chalicelib.core.tenancy import WRITE, TenantContext
from chalicelib.members import service as members
from chalicelib.members.schemas import ChannelCreate
from chalicelib.tenants import service as tenants
from chalicelib.tenants.schemas import TenantCreate

DEMO_CHANNELS = [
    ChannelCreate(code="mall-qr-01", name="Mall counter QR code", platform="store"),
    ChannelCreate(code="wechat-oa", name="WeChat official account", platform="wechat"),
    ChannelCreate(code="douyin-live", name="Douyin live room", platform="douyin"),
]


def _still_valid(previous: dict[str, Any]) -> bool:
    try:
        ctx = tenants.verify_api_key(previous["demo_api_key"])
    except (Problem, KeyError):
        return False
    return ctx.tenant_id == previous.get("demo_tenant_id")


def seed(dev_json: Path) -> dict[str, str]:
    """{demo_tenant_id, demo_api_key}, reusing the previous run's if they still work."""
    previous = json.loads(dev_json.read_text()) if dev_json.exists() else {}
    if previous and _still_valid(previous):
        tenant_id, api_key = previous["demo_tenant_id"], previous["demo_api_key"]
    else:
        created = tenants.create_tenant(
            TenantCreate(name="Demo Fragrance Co.", timezone="Asia/Shanghai", currency="CNY", default_country="CN"),
            created_by="devstack",
        )
        tenant_id, api_key = created.tenant.id, created.api_key.secret
    ctx = TenantContext(tenant_id=tenant_id, principal_type="api_key", principal_id="devstack",
                        permissions=frozenset({WRITE}))
    for channel in DEMO_CHANNELS:
        try:
            members.create_channel(ctx, channel)
        except Problem:
            pass  # exists from an earlier run
    return {"demo_tenant_id": tenant_id, "demo_api_key": api_key}
