"""HTTP routes of event subscriptions: endpoints, their deliveries, replays, event objects."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api, Reply
from ...core.tenancy import ADMIN, TenantContext
from . import service
from .schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    EventOut,
    JobRef,
    ReplayIn,
    RotateIn,
    SecretOut,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Event subscriptions", prefix="/v1")
ONE = "/webhook-endpoints/{endpoint_id}"


@api.route("/webhook-endpoints", "POST", permission=ADMIN, body=EndpointCreate, response=EndpointCreated,
           status=201, errors=(401, 403, 409, 422), shows_secret=True)
def create_endpoint(ctx: TenantContext, body: EndpointCreate) -> EndpointCreated:
    """Subscribe an endpoint to event types (its signing secret is shown this once)

    ``event_types``: exact types (``order.paid``), ``<namespace>.*`` or ``*``. Each event is
    POSTed as JSON ``{id, object, type, created, data}`` with the header
    ``Enclave-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
    (one ``v1`` per live secret), at least once (dedupe on ``id``), retried with backoff
    for more than three days.
    """
    return service.create_endpoint(ctx, body)


@api.route("/webhook-endpoints", "GET", permission=ADMIN, response=EndpointPage, errors=(401, 403))
def list_endpoints(ctx: TenantContext) -> EndpointPage:
    """The tenant's webhook endpoints (at most 20, one page)"""
    return service.list_endpoints(ctx)


@api.route(ONE, "GET", permission=ADMIN, response=EndpointOut, errors=(401, 403, 404))
def get_endpoint(ctx: TenantContext, endpoint_id: str) -> EndpointOut:
    """A webhook endpoint (with its disabled flag and reason, if the platform disabled it)"""
    return service.get_endpoint(ctx, endpoint_id)


@api.route(ONE, "PATCH", permission=ADMIN, body=EndpointPatch, response=EndpointOut, errors=(401, 403, 404, 422))
def update_endpoint(ctx: TenantContext, endpoint_id: str, body: EndpointPatch) -> EndpointOut:
    """Change an endpoint's URL, types, description, or enable it again"""
    return service.update_endpoint(ctx, endpoint_id, body)


@api.route(ONE, "DELETE", permission=ADMIN, status=204, errors=(401, 403, 404))
def delete_endpoint(ctx: TenantContext, endpoint_id: str) -> Reply:
    """Delete an endpoint (deliveries still owed to it are dropped)"""
    service.delete_endpoint(ctx, endpoint_id)
    return Reply(status=204)


@api.route(ONE + "/rotate-secret", "POST", permission=ADMIN, body=RotateIn, response=SecretOut, status=201,
           errors=(401, 403, 404, 422), shows_secret=True)
def rotate_secret(ctx: TenantContext, endpoint_id: str, body: RotateIn) -> SecretOut:
    """A new signing secret, shown once; the old one keeps signing for ``overlap_hours``"""
    return service.rotate_secret(ctx, endpoint_id, body)


@api.route(ONE + "/deliveries", "GET", permission=ADMIN, query=DeliveryQuery, response=DeliveryPage,
           errors=(400, 401, 403, 404, 422))
def list_deliveries(ctx: TenantContext, endpoint_id: str, query: DeliveryQuery) -> DeliveryPage:
    """The endpoint's deliveries, newest first (filter by ``status``)"""
    return service.list_deliveries(ctx, endpoint_id, query)


@api.route(ONE + "/deliveries/{delivery_id}", "GET", permission=ADMIN, response=DeliveryDetail,
           errors=(401, 403, 404))
def get_delivery(ctx: TenantContext, endpoint_id: str, delivery_id: str) -> DeliveryOut:
    """A delivery with every attempt (status code, latency, the answer's first 256 bytes, error)"""
    return service.get_delivery(ctx, endpoint_id, delivery_id)


@api.route(ONE + "/deliveries/{delivery_id}/retry", "POST", permission=ADMIN, response=DeliveryDetail,
           errors=(401, 403, 404, 409))
def retry_delivery(ctx: TenantContext, endpoint_id: str, delivery_id: str) -> DeliveryOut:
    """Send a delivery again now"""
    return service.retry_delivery(ctx, endpoint_id, delivery_id)


@api.route(ONE + "/replay", "POST", permission=ADMIN, body=ReplayIn, response=JobRef, status=202,
           errors=(401, 403, 404, 409, 422))
def replay(ctx: TenantContext, endpoint_id: str, body: ReplayIn) -> JobRef:
    """Deliver again every event of [since, until) the endpoint subscribes to (a job)

    Follow it at ``/v1/jobs/{job_id}``. Events are kept 30 days; a type no endpoint
    subscribed to when it happened was never recorded.
    """
    return service.replay(ctx, endpoint_id, body)


@api.route("/events-out/{event_id}", "GET", permission=ADMIN, response=EventOut, errors=(401, 403, 404))
def get_event(ctx: TenantContext, event_id: str) -> EventOut:
    """An event object as it was delivered"""
    return service.get_event(ctx, event_id)
