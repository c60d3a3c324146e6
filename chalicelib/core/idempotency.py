"""``Idempotency-Key`` on POST requests, through Powertools idempotency.

The record lives in the single table under a tenant-prefixed, sharded partition
(``T#<tenant>#IDEMPOTENCY#<n>``), and the hashed key itself includes the tenant id, so two
tenants using the same key never meet. The request fingerprint (method, path, raw body)
is validated on replay: the same key with a different request is a 422. A retry while the
first attempt still runs is a 409. Records expire after 24 hours (TTL).

Records keep the response for 24 hours, so two kinds of response need care:

* A response that shows a secret once (a new API key, a webhook signing secret) is never
  stored: the record keeps only a marker, and a replay answers 409
  ``idempotency_secret_not_replayable``. Storing the secret would keep it readable in the
  table for a day; refusing the replay is what "shown once" means.
* A response about members (their profile, their events) is referenced from each
  member's own partition (``keys.member_idempotency``), written before the record is
  completed, so erasure finds and deletes the member's records with one query, no scan.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pynamodb.attributes import UnicodeAttribute

from .config import get_settings
from .errors import BadRequest, Conflict, Unprocessable
from .ids import is_id
from .table import definition
from .table.keys import (
    idempotency,
    member_idempotency,
    platform_idempotency_owner,
    shard_of,
)
from .table.model import TableItem, boto_client
from .tenancy import PlatformAdmin, TenantContext

IDEMPOTENCY_SHARDS = 16
KEY_MAX = 255
EXPIRES_AFTER_SECONDS = 24 * 3600
#: what a record of a secret-showing response holds instead of the response
_REDACTED = "secret_shown_once"


class IdempotencyRefItem(TableItem, discriminator="idempotency_ref"):
    """Points from a member to an idempotency record that holds the member's data."""

    record_pk = UnicodeAttribute()


def owner_of(principal: TenantContext | PlatformAdmin) -> str:
    """Whose Idempotency-Keys a request's key is among: the tenant's (its users and keys
    share them, like Stripe's per-account keys), or one platform operator's own."""
    if isinstance(principal, PlatformAdmin):
        return platform_idempotency_owner(principal.subject)
    return principal.tenant_id


def run_once(
    owner: str, key: str, fingerprint: dict[str, Any], run: Callable[[], dict[str, Any]],
    lambda_context: Any = None, *, shows_secret: bool = False,
    members_of: Callable[[dict[str, Any]], Iterable[str]] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``run`` once per (owner, key); returns (its result, whether it was a replay).

    ``shows_secret``: the result holds a secret shown once; it is not stored, and a replay
    is a 409. ``members_of``: the ids of the members the result is about (``owner`` is
    then their tenant), so :func:`forget_member` can delete the record.
    """
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1-{KEY_MAX} printable characters.",
                         field="Idempotency-Key", code="invalid_idempotency_key")
    record_pk = f"{idempotency(owner)}#{shard_of(key, IDEMPOTENCY_SHARDS)}"
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        key_attr=definition.PK,
        sort_key_attr=definition.SK,
        static_pk_value=record_pk,
        expiry_attr=definition.TTL_ATTRIBUTE,
        boto3_client=boto_client(),
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
    )
    if lambda_context is not None:
        # lets Powertools expire an in-progress record when the Lambda times out
        config.register_lambda_context(lambda_context)
    fresh: dict[str, Any] | None = None
    data = {"key": f"{owner}:{key}", "fingerprint": fingerprint}

    def request(data: dict[str, Any]) -> dict[str, Any]:
        nonlocal fresh
        fresh = run()
        if members_of is not None:
            # Powertools has configured the layer by now; its record key is what erasure deletes.
            record_sk = persistence._get_hashed_idempotency_key(data)
            if record_sk:
                _reference(owner, members_of(fresh), record_pk, record_sk)
        return {_REDACTED: True} if shows_secret else fresh

    once = idempotent_function(data_keyword_argument="data", persistence_store=persistence, config=config)(request)
    try:
        result = once(data=data)
    except IdempotencyValidationError as exc:
        raise Unprocessable("This Idempotency-Key was used with a different request.",
                            field="Idempotency-Key", code="idempotency_key_reused") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry later.",
                       field="Idempotency-Key", code="idempotency_in_progress") from exc
    if fresh is not None:
        return fresh, False
    if result.get(_REDACTED):
        raise Conflict("This request created a secret that was shown once, in the first response; it is not "
                       "stored, so it cannot be shown again. Create a new one with a new Idempotency-Key.",
                       field="Idempotency-Key", code="idempotency_secret_not_replayable")
    return result, True


def members_in(body: Any, path_member: str | None = None, member_field: str | None = None) -> set[str]:
    """The members a response is about: the path's member, ``member_id`` fields at any
    depth, and the route's ``member_field`` (e.g. ``id`` of a member's own resource)."""
    found = {path_member} if path_member else set()
    if member_field and isinstance(body, dict) and isinstance(body.get(member_field), str):
        found.add(body[member_field])
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("member_id"), str):
                found.add(node["member_id"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _reference(tenant_id: str, member_ids: Iterable[str], record_pk: str, record_sk: str) -> None:
    expires = int(time.time()) + EXPIRES_AFTER_SECONDS + 3600  # outlives the record it points to
    for member_id in sorted({m for m in member_ids if m and is_id(m)}):
        IdempotencyRefItem(member_idempotency(tenant_id, member_id), record_sk, record_pk=record_pk,
                           ttl=expires).save()


def forget_member(tenant_id: str, member_id: str) -> int:
    """Delete the idempotency records that hold this member's data (erasure); returns how many."""
    client = boto_client()
    table = get_settings().table_name
    refs = list(IdempotencyRefItem.query(member_idempotency(tenant_id, member_id), consistent_read=True))
    for ref in refs:
        client.delete_item(TableName=table, Key={definition.PK: {"S": ref.record_pk}, definition.SK: {"S": ref.sk}})
        ref.delete()
    return len(refs)
