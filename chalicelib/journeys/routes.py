"""HTTP routes: journeys (definitions, versions, activation, enrolment, stats), the message
log, and messaging settings (quiet hours, frequency cap, the tenant's webhook)."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import service
from .schemas import (
    EnrolIn,
    EnrolmentList,
    EnrolOut,
    JourneyCreate,
    JourneyList,
    JourneyListQuery,
    JourneyOut,
    JourneyPatch,
    JourneyStats,
    MessagePage,
    MessageQuery,
    MessagingSettingsIn,
    MessagingSettingsOut,
    SenderDomainIn,
    SenderDomainList,
    SenderDomainOut,
    VersionList,
    WebhookSecretOut,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Journeys", prefix="/v1")


@api.route("/journeys", "POST", permission=WRITE, body=JourneyCreate, response=JourneyOut, status=201,
           errors=(401, 403, 413, 422))
def create_journey(ctx: TenantContext, body: JourneyCreate) -> JourneyOut:
    """Create a journey (a draft: activate it to start enrolling)

    A trigger, an optional entry filter, goal and exit rules, a re-entry rule, and steps
    (wait, branch, send_message, add_tag / remove_tag, grant_coupon, webhook, create_task, exit) joined
    by ``next`` / ``then`` / ``else``. Unreachable steps, loops without a wait, bad
    durations or templates, and unknown tags, tiers, stages, plans or segments are 422.
    """
    return service.create_journey(ctx, body)


@api.route("/journeys", "GET", permission=READ, query=JourneyListQuery, response=JourneyList, errors=(401, 403, 422))
def list_journeys(ctx: TenantContext, query: JourneyListQuery) -> JourneyList:
    """The tenant's journeys, optionally by status"""
    return service.list_journeys(ctx, query)


@api.route("/journeys/{journey_id}", "GET", permission=READ, response=JourneyOut, errors=(401, 403, 404))
def get_journey(ctx: TenantContext, journey_id: str) -> JourneyOut:
    """One journey, at its current version"""
    return service.get_journey(ctx, journey_id)


@api.route("/journeys/{journey_id}", "PATCH", permission=WRITE, body=JourneyPatch, response=JourneyOut,
           errors=(401, 403, 404, 409, 413, 422))
def update_journey(ctx: TenantContext, journey_id: str, body: JourneyPatch) -> JourneyOut:
    """Change a journey (once it has been active: a new version; members inside finish theirs)"""
    return service.update_journey(ctx, journey_id, body)


@api.route("/journeys/{journey_id}", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404, 409))
def delete_journey(ctx: TenantContext, journey_id: str) -> Reply:
    """Delete a journey that was never active (archive the others)"""
    service.delete_journey(ctx, journey_id)
    return Reply(status=204)


@api.route("/journeys/{journey_id}/activate", "POST", permission=WRITE, response=JourneyOut,
           errors=(401, 403, 404, 409, 422))
def activate_journey(ctx: TenantContext, journey_id: str) -> JourneyOut:
    """Start enrolling members (a draft or a paused journey)"""
    return service.activate(ctx, journey_id)


@api.route("/journeys/{journey_id}/pause", "POST", permission=WRITE, response=JourneyOut,
           errors=(401, 403, 404, 409))
def pause_journey(ctx: TenantContext, journey_id: str) -> JourneyOut:
    """Stop enrolling; members already inside go on"""
    return service.pause(ctx, journey_id)


@api.route("/journeys/{journey_id}/archive", "POST", permission=WRITE, response=JourneyOut,
           errors=(401, 403, 404, 409))
def archive_journey(ctx: TenantContext, journey_id: str) -> JourneyOut:
    """Stop enrolling for good; members inside leave at their next step"""
    return service.archive(ctx, journey_id)


@api.route("/journeys/{journey_id}/versions", "GET", permission=READ, response=VersionList, errors=(401, 403, 404))
def journey_versions(ctx: TenantContext, journey_id: str) -> VersionList:
    """Every version of the journey's definition, newest first"""
    return service.versions(ctx, journey_id)


@api.route("/journeys/{journey_id}/enrolments", "POST", permission=WRITE, body=EnrolIn, response=EnrolOut,
           also=(202,), errors=(401, 403, 404, 409, 413, 422), max_body=600_000)
def enrol_members(ctx: TenantContext, journey_id: str, body: EnrolIn) -> Reply:
    """Enrol a list of members in an active journey

    200 with a result per member for up to 100; 202 with a job id for more (up to
    10,000). Re-entry rules and the entry filter apply; a member never has two live
    enrolments of one journey.
    """
    result, done = service.enrol_members(ctx, journey_id, body)
    return Reply(result, status=200 if done else 202)


@api.route("/journeys/{journey_id}/stats", "GET", permission=READ, response=JourneyStats, errors=(401, 403, 404))
def journey_stats(ctx: TenantContext, journey_id: str) -> JourneyStats:
    """Entered, reached / sent / suppressed per step, exits, conversions (all versions)"""
    return service.stats(ctx, journey_id)


@api.route("/members/{member_id}/enrolments", "GET", permission=READ, response=EnrolmentList,
           errors=(401, 403, 404, 410))
def member_enrolments(ctx: TenantContext, member_id: str) -> EnrolmentList:
    """A member's journey enrolments, newest first"""
    return service.member_enrolments(ctx, member_id)


@api.route("/messages", "GET", permission=READ, query=MessageQuery, response=MessagePage, errors=(401, 403, 404, 422))
def list_messages(ctx: TenantContext, query: MessageQuery) -> MessagePage:
    """The message log, by member and/or journey, newest first

    Status: queued, sending, sent, failed (``reason``), suppressed (``reason``: no_consent,
    no_address, frequency_cap); attempts, and the provider's answer.
    """
    return service.list_messages(ctx, query)


@api.route("/messaging/settings", "GET", permission=READ, response=MessagingSettingsOut, errors=(401, 403))
def get_messaging_settings(ctx: TenantContext) -> MessagingSettingsOut:
    """Quiet hours, frequency cap, webhook URL and email sender"""
    return service.get_settings(ctx)


@api.route("/messaging/settings", "PUT", permission=ADMIN, body=MessagingSettingsIn, response=MessagingSettingsOut,
           errors=(401, 403, 422))
def put_messaging_settings(ctx: TenantContext, body: MessagingSettingsIn) -> MessagingSettingsOut:
    """Set quiet hours (tenant time zone), the frequency cap, the webhook URL and email sender"""
    return service.put_settings(ctx, body)


@api.route("/messaging/sender-domains", "POST", permission=ADMIN, body=SenderDomainIn, response=SenderDomainOut,
           status=201, errors=(401, 403, 409, 422))
def register_sender_domain(ctx: TenantContext, body: SenderDomainIn) -> SenderDomainOut:
    """Register a domain to send email from (SES verifies it: publish the DNS record shown)

    ``email_from`` may use an address on it once it is ``verified``. One account per domain:
    a domain registered by another account is a 409."""
    return service.register_sender_domain(ctx, body)


@api.route("/messaging/sender-domains", "GET", permission=READ, response=SenderDomainList, errors=(401, 403))
def list_sender_domains(ctx: TenantContext) -> SenderDomainList:
    """The account's sender domains and their verification state (from SES)"""
    return service.list_sender_domains(ctx)


@api.route("/messaging/webhook-secret", "POST", permission=ADMIN, response=WebhookSecretOut, status=201,
           errors=(401, 403, 409), shows_secret=True)
def rotate_webhook_secret(ctx: TenantContext) -> WebhookSecretOut:
    """A new webhook signing secret, shown once (the old one stops signing at once)"""
    return service.rotate_webhook_secret(ctx)
