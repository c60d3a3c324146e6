"""Per-tenant quotas held exactly under concurrency: a reservation is a conditional ADD on
one quota item, in the same transaction as the thing it counts."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist

from .model import TableItem
from .transactions import Transaction

QUOTA_SK = "QUOTA"


def quota_pk(tenant_id: str, name: str) -> str:
    return f"T#{tenant_id}#QUOTA#{name}"


class QuotaItem(TableItem, discriminator="quota"):
    used = NumberAttribute(default=0)


def reserve(tx: Transaction, tenant_id: str, name: str, limit: int, expires_at: int | None = None) -> None:
    """Take one unit of quota ``name``; the transaction fails with label ``quota:<name>``
    when ``limit`` units are in use. ``expires_at`` (epoch seconds): a quota of a period
    (a day's sends) that DynamoDB's TTL removes once the period is over."""
    item = QuotaItem(quota_pk(tenant_id, name), QUOTA_SK)
    actions = [QuotaItem.used.add(1), QuotaItem.item_type.set(QuotaItem)]
    if expires_at is not None:
        actions.append(QuotaItem.ttl.set(expires_at))
    tx.update(f"quota:{name}", item, actions=actions,
              condition=QuotaItem.used.does_not_exist() | (QuotaItem.used < limit))


def release(tx: Transaction, tenant_id: str, name: str) -> None:
    item = QuotaItem(quota_pk(tenant_id, name), QUOTA_SK)
    tx.update(f"release:{name}", item, actions=[QuotaItem.used.add(-1)])


def used(tenant_id: str, name: str) -> int:
    try:
        return int(QuotaItem.get(quota_pk(tenant_id, name), QUOTA_SK, consistent_read=True).used)
    except DoesNotExist:
        return 0
