"""core.table.transactions against DynamoDB Local: which labelled action failed."""
from __future__ import annotations

import pytest

from chalicelib.core.ids import new_id
from chalicelib.core.table.transactions import Transaction, TransactionCancelled
from chalicelib.members.store import ChannelItem, IdentityItem


def _identity(pk: str) -> IdentityItem:
    return IdentityItem(pk, "IDENTITY", member_id="m", kind="phone", created_at="now")


def test_failed_check_is_named_even_though_pynamodb_sends_checks_first():
    """Regression: PynamoDB reorders actions (checks, deletes, puts, updates); labels
    must follow the order sent, not the order added."""
    tx = Transaction()
    tx.save("put", _identity(f"T#{new_id()}#ID#phone#x"))
    tx.check("missing", ChannelItem, f"T#{new_id()}#CHANNELS", "CH#none", ChannelItem.pk.exists())
    with pytest.raises(TransactionCancelled) as err:
        tx.commit()
    assert err.value.failed == {"missing"}


def test_failed_put_condition_is_named():
    pk = f"T#{new_id()}#ID#phone#y"
    _identity(pk).save()
    tx = Transaction()
    tx.check("fine", IdentityItem, pk, "IDENTITY", IdentityItem.pk.exists())
    tx.save("taken", _identity(pk), condition=IdentityItem.pk.does_not_exist())
    with pytest.raises(TransactionCancelled) as err:
        tx.commit()
    assert err.value.failed == {"taken"}
