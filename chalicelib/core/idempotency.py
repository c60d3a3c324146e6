"""``Idempotency-Key`` on POST requests, through Powertools idempotency.

The record lives in the single table under a tenant-prefixed, sharded partition
(``T#<tenant>#IDEMPOTENCY#<n>``), and the hashed key itself includes the tenant id, so two
tenants using the same key never meet. The request fingerprint (method, path, raw body)
is validated on replay: the same key with a different request is a 422. A retry while the
first attempt still runs is a 409. Records expire after 24 hours (TTL).
"""
from __future__ import annotations

from collections.abc import Callable
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

from .config import get_settings
from .errors import BadRequest, Conflict, Unprocessable
from .table import definition
from .table.keys import idempotency, shard_of
from .table.model import boto_client

IDEMPOTENCY_SHARDS = 16
KEY_MAX = 255


def run_once(
    owner: str, key: str, fingerprint: dict[str, Any], run: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``run`` once per (owner, key); returns (its result, whether it was a replay)."""
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1-{KEY_MAX} printable characters.",
                         field="Idempotency-Key", code="invalid_idempotency_key")
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        key_attr=definition.PK,
        sort_key_attr=definition.SK,
        static_pk_value=f"{idempotency(owner)}#{shard_of(key, IDEMPOTENCY_SHARDS)}",
        expiry_attr=definition.TTL_ATTRIBUTE,
        boto3_client=boto_client(),
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=24 * 3600,
    )
    if lambda_context is not None:
        # lets Powertools expire an in-progress record when the Lambda times out
        config.register_lambda_context(lambda_context)
    fresh = False

    def request(data: dict[str, Any]) -> dict[str, Any]:
        nonlocal fresh
        fresh = True
        return run()

    once = idempotent_function(data_keyword_argument="data", persistence_store=persistence, config=config)(request)
    try:
        result = once(data={"key": f"{owner}:{key}", "fingerprint": fingerprint})
    except IdempotencyValidationError as exc:
        raise Unprocessable("This Idempotency-Key was used with a different request.",
                            field="Idempotency-Key", code="idempotency_key_reused") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry later.",
                       field="Idempotency-Key", code="idempotency_in_progress") from exc
    return result, not fresh
