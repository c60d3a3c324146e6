"""HTTP routes: the audit log (read only; owners and admins)."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api
from ...core.tenancy import ADMIN, TenantContext
from . import service
from .schemas import AuditPage, AuditQuery

bp = Blueprint(__name__)
api = Api(bp, tag="Audit log", prefix="/v1")


@api.route("/audit-events", "GET", permission=ADMIN, query=AuditQuery, response=AuditPage,
           errors=(400, 401, 403, 422))
def list_audit_events(ctx: TenantContext, query: AuditQuery) -> AuditPage:
    """Who changed what: the tenant's audit records, newest first

    Every change made through the API (by an API key or a console user) or by a schedule:
    actor, action, target, changed fields with before/after values (a member's personal
    values masked), request id and time. Kept one year. Owners and admins only.
    """
    return service.list_events(ctx, query)
