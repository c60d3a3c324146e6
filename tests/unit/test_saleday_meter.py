"""The sale-day bench's per-partition-key accounting: which keys a DynamoDB call touches,
how its reported units are shared among them, and how index keys are found (pure: API
parameters and answers as botocore gives them, no servers)."""
from __future__ import annotations

from typing import Any

from bench.saleday import Call, Touch, abstract, aggregate, consumed, top, touches

T = "01JABCDEFGHJKMNPQRSTVWXYZ0"
M = "01JZZZZZZZZZZZZZZZZZZZZZZ1"


def s(v: str) -> dict[str, str]:
    return {"S": v}


def test_given_a_transaction_then_each_item_is_touched_with_its_role_and_the_index_keys_it_sets() -> None:
    params: dict[str, Any] = {"TransactItems": [
        {"Put": {"Item": {"pk": s(f"T#{T}#M#{M}"), "sk": s("OUTBOX#1"), "gsi2pk": s("PLATFORM#OUTBOX#3")}}},
        {"Update": {"Key": {"pk": s(f"T#{T}#CNT#stage#loyal"), "sk": s("3")},
                    "UpdateExpression": "SET #g = :g ADD n :one",
                    "ExpressionAttributeNames": {"#g": "gsi1pk"},
                    "ExpressionAttributeValues": {":g": s("IDX#A"), ":one": {"N": "1"}}}},
        {"ConditionCheck": {"Key": {"pk": s(f"T#{T}#CONFIG"), "sk": s("TIERS")}}},
    ]}
    got = touches("TransactWriteItems", params)
    assert [(t.role, t.pk, dict(t.gsi)) for t in got] == [
        ("write", f"T#{T}#M#{M}", {"gsi2": "PLATFORM#OUTBOX#3"}),
        ("write", f"T#{T}#CNT#stage#loyal", {"gsi1": "IDX#A"}),
        ("read", f"T#{T}#CONFIG", {}),
    ]


def test_given_a_query_on_an_index_then_the_read_is_on_the_index_partition_it_names() -> None:
    params = {"IndexName": "gsi1", "KeyConditionExpression": "#k = :k AND begins_with(#s, :p)",
              "ExpressionAttributeNames": {"#k": "gsi1pk", "#s": "gsi1sk"},
              "ExpressionAttributeValues": {":k": s("T#x#STANDINGS#2"), ":p": s("A")}}
    assert touches("Query", params) == [Touch("read", "T#x#STANDINGS#2", "", "gsi1")]


def test_given_units_then_they_are_shared_by_item_and_index_writes_land_on_the_items_index_key() -> None:
    table_units, by_index = consumed({"ConsumedCapacity": {"Table": {"CapacityUnits": 6.0},
                                                           "GlobalSecondaryIndexes": {"gsi2": {
                                                               "CapacityUnits": 2.0}}}})
    assert (table_units, by_index) == (6.0, {"gsi2": 2.0})
    put = Touch("write", "A", "1", "", (("gsi2", "Q#0"),))
    other = Touch("write", "B", "1")
    check = Touch("read", "C", "1")
    # window 0: a transaction of three items; window 1: the put item deleted (index key known
    # only from the earlier put); window 2: an update of an item whose index key the scan found
    calls = [Call(0, "TransactWriteItems", [put, other, check], table_units, by_index),
             Call(1, "DeleteItem", [Touch("write", "A", "1")], 1.0, {"gsi2": 1.0}),
             Call(1, "UpdateItem", [Touch("write", "D", "9")], 1.0, {"gsi1": 1.0}),
             Call(1, "GetItem", [Touch("read", "C", "1")], 0.5)]
    writes, reads = aggregate(calls, {("D", "9"): {"gsi1": "IDX#D"}})
    assert dict(writes["A"].units) == {0: 2.0, 1: 1.0}
    assert dict(writes["B"].units) == {0: 2.0}
    assert dict(writes["gsi2:Q#0"].units) == {0: 2.0, 1: 1.0}
    assert dict(writes["gsi1:IDX#D"].units) == {1: 1.0}
    assert dict(reads["C"].units) == {0: 2.0, 1: 0.5}
    assert dict(reads["C"].ops) == {0: 1, 1: 1}
    # over 2 windows of 0.1 s: (2 + 1) units -> 15 units/s; the busiest window -> 20/s
    assert writes["A"].rate(2) == 15.0 and writes["A"].peak() == 20.0
    assert [k for k, _ in top(writes, 2, n=2)] == ["A", "gsi2:Q#0"]


def test_given_index_units_for_an_item_of_unknown_index_key_then_they_are_shown_as_unknown() -> None:
    writes, _ = aggregate([Call(0, "UpdateItem", [Touch("write", "E", "1")], 1.0, {"gsi2": 1.0})], {})
    assert dict(writes["gsi2:<unknown>"].units) == {0: 1.0}


def test_given_keys_then_ids_are_abstracted_and_shard_numbers_kept() -> None:
    assert abstract(f"T#{T}#CNT#stage#loyal#3", T) == "T#<tenant>#CNT#stage#loyal#3"
    assert abstract(f"T#{T}#M#{M}", T) == "T#<tenant>#M#<id>"
    assert abstract("APIKEY#" + "ab" * 32, T) == "APIKEY#<hash>"
    assert abstract(f"T#{T}#ID#phone#+8613300000001", T) == "T#<tenant>#ID#phone#<phone>"
