"""Creates the table in DynamoDB Local from the definition infra/ deploys."""
from __future__ import annotations

from typing import Any

from chalicelib.core.table import definition


def ensure_table(client: Any, table_name: str) -> bool:
    """Create the table if missing; True if it was created."""
    if table_name in client.list_tables().get("TableNames", []):
        return False
    client.create_table(**definition.create_table_request(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": definition.TTL_ATTRIBUTE},
    )
    return True
