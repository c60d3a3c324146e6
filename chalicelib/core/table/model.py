"""The PynamoDB base model of the single table and its two overloaded indexes.

Every item type subclasses :class:`TableItem` with its own discriminator value, so one
Query over a member's item collection returns typed objects.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import DiscriminatorAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ..config import get_settings
from . import definition as d

_settings = get_settings()


class _Meta:
    table_name = _settings.table_name
    region = _settings.region
    host = _settings.dynamodb_endpoint
    max_retry_attempts = 3
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_pool_connections = 32


class Gsi1(GlobalSecondaryIndex["TableItem"]):  # type: ignore[no-untyped-call]  # PynamoDB's untyped __init_subclass__
    class Meta(_Meta):
        index_name = d.GSI1
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex["TableItem"]):  # type: ignore[no-untyped-call]  # PynamoDB's untyped __init_subclass__
    class Meta(_Meta):
        index_name = d.GSI2
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class TableItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute(attr_name=d.DISCRIMINATOR)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    #: Epoch seconds after which DynamoDB's TTL may delete the item.
    ttl = NumberAttribute(null=True, attr_name=d.TTL_ATTRIBUTE)

    gsi1 = Gsi1()
    gsi2 = Gsi2()


def boto_client() -> Any:
    """The botocore DynamoDB client PynamoDB uses (shared, so connection reuse is shared)."""
    return TableItem._get_connection().connection.client
