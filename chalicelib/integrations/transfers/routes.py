"""HTTP routes: imports (create with an upload URL, start, read)."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api
from ...core.tenancy import READ, WRITE, TenantContext
from . import service, steps  # noqa: F401 - steps registers the import job
from .schemas import ImportCreate, ImportOut

bp = Blueprint(__name__)
api = Api(bp, tag="Imports", prefix="/v1")


@api.route("/imports", "POST", permission=WRITE, body=ImportCreate, response=ImportOut, status=201,
           errors=(401, 403, 422))
def create_import(ctx: TenantContext, body: ImportCreate) -> ImportOut:
    """Create an import: PUT the file to ``upload.url`` (with ``upload.headers``), then start it"""
    return service.create(ctx, body)


@api.route("/imports/{import_id}/start", "POST", permission=WRITE, response=ImportOut, status=202,
           errors=(401, 403, 404, 409, 422))
def start_import(ctx: TenantContext, import_id: str) -> ImportOut:
    """Check the uploaded file and apply it in a background job (a second start answers the same job)"""
    return service.start(ctx, import_id)


@api.route("/imports/{import_id}", "GET", permission=READ, response=ImportOut, errors=(401, 403, 404))
def get_import(ctx: TenantContext, import_id: str) -> ImportOut:
    """An import's status, progress and, once finished, its per-row errors file"""
    return service.get(ctx, import_id)
