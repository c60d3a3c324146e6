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


def reserve(tx: Transaction, tenant_id: str, name: str, limit: int) -> None:
    """Take one unit of quota ``name``; the transaction fails with label ``quota:<name>``
    when ``limit`` units are in use."""
    item = QuotaItem(quota_pk(tenant_id, name), QUOTA_SK)
    tx.update(f"quota:{name}", item,
              actions=[QuotaItem.used.add(1), QuotaItem.item_type.set(QuotaItem)],
              condition=QuotaItem.used.does_not_exist() | (QuotaItem.used < limit))


def release(tx: Transaction, tenant_id: str, name: str) -> None:
    item = QuotaItem(quota_pk(tenant_id, name), QUOTA_SK)
    tx.update(f"release:{name}", item, actions=[QuotaItem.used.add(-1)])


def used(tenant_id: str, name: str) -> int:
    try:
        return int(QuotaItem.get(quota_pk(tenant_id, name), QUOTA_SK, consistent_read=True).used)
    except DoesNotExist:
        return 0
