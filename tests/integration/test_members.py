"""Members: one identity is one member, through the HTTP API against DynamoDB Local."""
from __future__ import annotations

from urllib.parse import quote

import requests

from tests.fixtures import table_items

PHONE = "138 0013 8000"
E164 = "+8613800138000"


def create(http, tenant, **body):
    r = http.post("/v1/members", tenant.key, body)
    assert r.status in (200, 201), r
    return r.json


# --- upsert by identity ------------------------------------------------------------
def test_member_is_one_member_whatever_the_phone_notation(http, tenant):
    first = http.post("/v1/members", tenant.key, {"phone": PHONE, "name": "Lin"})
    assert first.status == 201 and first.json["phone"] == E164 and first.json["version"] == 1
    for notation in ["+86 138-0013-8000", "13800138000", "0086 13800138000", "(+86) 138 0013 8000"]:
        again = http.post("/v1/members", tenant.key, {"phone": notation})
        assert again.status == 200, (notation, again)
        assert again.json["id"] == first.json["id"]
    found = http.get(f"/v1/members/lookup?phone={quote('+86-138-0013-8000')}", tenant.key)
    assert found.status == 200 and found.json["id"] == first.json["id"]


def test_email_and_channel_ids_identify_a_member(http, tenant):
    m = create(http, tenant, email="  Ann.Lee@Example.COM", channel_ids={"wechat_unionid": "oU-AbC123"})
    assert m["email"] == "ann.lee@example.com" and m["channel_ids"] == {"wechat_unionid": "oU-AbC123"}
    assert http.post("/v1/members", tenant.key, {"email": "ann.lee@example.com"}).json["id"] == m["id"]
    by_channel = http.get("/v1/members/lookup?channel=wechat_unionid&external_id=oU-AbC123", tenant.key)
    assert by_channel.json["id"] == m["id"]
    # channel ids are case-sensitive: another case is another person
    assert http.get("/v1/members/lookup?channel=wechat_unionid&external_id=ou-abc123", tenant.key).status == 404


def test_known_identity_fills_in_what_the_member_lacks_and_attaches_new_identities(http, tenant):
    m = create(http, tenant, phone=PHONE, name="Lin", attributes={"skin": "dry"})
    r = http.post("/v1/members", tenant.key, {
        "phone": PHONE, "name": "Someone Else", "gender": "female", "email": "lin@example.com",
        "attributes": {"skin": "oily", "scent": "woody"},
        "consents": {"sms": {"granted": True}},
    })
    assert r.status == 200, r
    got = r.json
    assert got["name"] == "Lin"  # never overwritten
    assert got["gender"] == "female" and got["email"] == "lin@example.com"
    assert got["attributes"] == {"skin": "dry", "scent": "woody"}
    assert got["consents"]["sms"]["granted"] is True and got["version"] == 2
    assert http.post("/v1/members", tenant.key, {"email": "LIN@example.com"}).json["id"] == m["id"]


def test_identities_of_two_members_in_one_request_are_a_409_naming_both(http, tenant):
    a = create(http, tenant, phone=PHONE)
    b = create(http, tenant, email="b@example.com")
    r = http.post("/v1/members", tenant.key, {"phone": PHONE, "email": "b@example.com"})
    assert r.status == 409 and r.json["code"] == "identities_of_different_members"
    assert sorted(r.json["member_ids"]) == sorted([a["id"], b["id"]])
    assert r.json["identities"] == {"phone": a["id"], "email": b["id"]}


def test_a_different_identity_of_a_kind_the_member_has_is_a_409(http, tenant):
    create(http, tenant, phone=PHONE, email="a@example.com")
    r = http.post("/v1/members", tenant.key, {"email": "a@example.com", "phone": "13900139000"})
    assert r.status == 409 and r.json["code"] == "identity_mismatch" and r.json["field"] == "phone"
    assert http.get("/v1/members/lookup?phone=13900139000", tenant.key).status == 404


def test_member_fields_round_trip(http, tenant):
    http.post("/v1/channels", tenant.key, {"code": "mall-qr-01", "name": "Mall"})
    referrer = create(http, tenant, phone="13900139000")
    m = create(http, tenant, phone=PHONE, name="Lin", birthday={"month": 2, "day": 29}, gender="female",
               attributes={"scent": "woody", "vip": True, "visits": 3},
               consents={"wechat": {"granted": True, "at": "2026-01-02T03:04:05Z"}},
               source={"channel": "mall-qr-01", "campaign": "618", "referrer_member_id": referrer["id"]},
               channel_ids={"douyin_openid": "dy-1"})
    got = http.get(f"/v1/members/{m['id']}", tenant.key).json
    assert got == m
    assert got["birthday"] == {"month": 2, "day": 29, "year": None}
    assert got["consents"]["wechat"] == {"granted": True, "at": "2026-01-02T03:04:05.000Z"}
    assert got["source"] == {"channel": "mall-qr-01", "campaign": "618", "referrer_member_id": referrer["id"]}


# --- bad input ----------------------------------------------------------------------
def test_bad_member_input_is_a_422_naming_the_field_and_writes_nothing(http, tenant):
    cases = [
        ({"phone": "12345"}, "phone", "invalid_phone"),
        ({"phone": "not a phone"}, "phone", "invalid_phone"),
        ({"email": "nobody"}, "email", "invalid_email"),
        ({"name": "No identity"}, "body", "validation_failed"),
        ({"phone": PHONE, "birthday": {"month": 2, "day": 30}}, "birthday", "validation_failed"),
        ({"phone": PHONE, "birthday": {"month": 13, "day": 1}}, "birthday.month", "validation_failed"),
        ({"phone": PHONE, "gender": "robot"}, "gender", "validation_failed"),
        ({"phone": PHONE, "channel_ids": {"myspace": "x"}}, "channel_ids.myspace", "validation_failed"),
        ({"phone": PHONE, "attributes": {"Bad Name": 1}}, "attributes", "validation_failed"),
        ({"phone": PHONE, "attributes": {f"a{i}": i for i in range(51)}}, "attributes", "validation_failed"),
        ({"phone": PHONE, "attributes": {"nested": {"x": 1}}}, "attributes.nested", "validation_failed"),
        ({"phone": PHONE, "source": {"channel": "Not Valid!"}}, "source.channel", "validation_failed"),
        ({"phone": PHONE, "source": {"channel": "unknown-code"}}, "source.channel", "unknown_channel"),
        ({"phone": PHONE, "source": {"referrer_member_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}},
         "source.referrer_member_id", "unknown_referrer"),
        ({"phone": PHONE, "vip_level": 3}, "vip_level", "validation_failed"),
    ]
    for body, field, code in cases:
        r = http.post("/v1/members", tenant.key, body)
        assert r.status == 422, (body, r)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json["field"] == field and r.json["code"] == code, (body, r.json)
        assert r.json["type"].endswith(code)
    assert table_items(f"T#{tenant.id}#M#") == [] and table_items(f"T#{tenant.id}#ID#") == []
    # the phone is still free: nothing half-written holds it
    assert http.post("/v1/members", tenant.key, {"phone": PHONE}).status == 201


def test_malformed_oversized_and_wrongly_typed_bodies(http, tenant):
    bad_json = http.call("POST", "/v1/members", tenant.key, raw="{not json")
    assert bad_json.status == 400 and bad_json.json["code"] == "malformed_json"
    not_object = http.call("POST", "/v1/members", tenant.key, raw="[1, 2]")
    assert not_object.status == 422
    huge = http.post("/v1/members", tenant.key, {"phone": PHONE, "name": "x" * 70_000})
    assert huge.status == 413 and huge.json["code"] == "payload_too_large"
    form = http.call("POST", "/v1/members", tenant.key, raw="phone=1", headers={"Content-Type": "text/plain"})
    assert form.status == 415
    assert table_items(f"T#{tenant.id}#M#") == []


# --- read, change, erase -------------------------------------------------------------
def test_patch_changes_fields_and_identities_with_a_version_check(http, tenant):
    m = create(http, tenant, phone=PHONE, name="Lin", attributes={"a": 1, "b": 2})
    r = http.patch(f"/v1/members/{m['id']}", tenant.key, {
        "version": 1, "name": "Lin Mei", "phone": "13900139000", "email": "lin@example.com",
        "attributes": {"a": None, "c": 3}, "channel_ids": {"wechat_openid": "o-1"},
    })
    assert r.status == 200, r
    assert r.json["name"] == "Lin Mei" and r.json["phone"] == "+8613900139000" and r.json["version"] == 2
    assert r.json["attributes"] == {"b": 2, "c": 3}
    # the old phone is free again, the new one is this member's
    assert http.get(f"/v1/members/lookup?phone={quote(PHONE)}", tenant.key).status == 404
    assert http.get("/v1/members/lookup?phone=13900139000", tenant.key).json["id"] == m["id"]
    stale = http.patch(f"/v1/members/{m['id']}", tenant.key, {"version": 1, "name": "Stale"})
    assert stale.status == 409 and stale.json["code"] == "version_conflict" and stale.json["current_version"] == 2
    assert http.get(f"/v1/members/{m['id']}", tenant.key).json["name"] == "Lin Mei"


def test_patch_to_another_members_identity_is_a_409_and_changes_nothing(http, tenant):
    a = create(http, tenant, phone=PHONE, name="A")
    b = create(http, tenant, phone="13900139000")
    r = http.patch(f"/v1/members/{a['id']}", tenant.key, {"version": 1, "phone": "13900139000", "name": "Changed"})
    assert r.status == 409 and r.json["code"] == "identity_taken" and b["id"] in r.json["member_ids"]
    assert http.get(f"/v1/members/{a['id']}", tenant.key).json == a


def test_patch_bad_input(http, tenant):
    m = create(http, tenant, phone=PHONE)
    path = f"/v1/members/{m['id']}"
    assert http.patch(path, tenant.key, {"name": "x"}).json["field"] == "version"
    assert http.patch(path, tenant.key, {"version": 1, "phone": None}).json["code"] == "last_identity"
    assert http.patch(path, tenant.key, {"version": 1, "email": "bad"}).json["field"] == "email"
    assert http.patch(path, tenant.key, {"version": 1, "source": {"channel": "nope"}}).json["code"] == "unknown_channel"
    assert http.get(path, tenant.key).json == m


def test_source_is_set_once(http, tenant):
    http.post("/v1/channels", tenant.key, {"code": "wechat-oa", "name": "OA"})
    http.post("/v1/channels", tenant.key, {"code": "douyin", "name": "Douyin"})
    m = create(http, tenant, phone=PHONE)
    r = http.patch(f"/v1/members/{m['id']}", tenant.key, {"version": 1, "source": {"channel": "wechat-oa"}})
    assert r.status == 200 and r.json["source"]["channel"] == "wechat-oa"
    again = http.patch(f"/v1/members/{m['id']}", tenant.key, {"version": 2, "source": {"channel": "douyin"}})
    assert again.status == 409 and again.json["code"] == "source_already_set"
    upsert = http.post("/v1/members", tenant.key, {"phone": PHONE, "source": {"channel": "douyin"}})
    assert upsert.json["source"]["channel"] == "wechat-oa"
    assert http.get("/v1/channels/wechat-oa", tenant.key).json["member_count"] == 1
    assert http.get("/v1/channels/douyin", tenant.key).json["member_count"] == 0


def test_erasure_removes_pii_frees_identities_and_keeps_a_tombstone(http, tenant):
    http.post("/v1/channels", tenant.key, {"code": "mall", "name": "Mall"})
    m = create(http, tenant, phone=PHONE, email="lin@example.com", name="Lin", source={"channel": "mall"})
    assert http.get("/v1/channels/mall", tenant.key).json["member_count"] == 1
    assert http.delete(f"/v1/members/{m['id']}", tenant.key).status == 204
    gone = http.get(f"/v1/members/{m['id']}", tenant.key)
    assert gone.status == 410 and gone.json["code"] == "member_erased"
    raw = str(table_items(f"T#{tenant.id}"))
    for pii in ["Lin", E164, "lin@example.com"]:
        assert pii not in raw
    tombstone = table_items(f"T#{tenant.id}#M#{m['id']}")
    assert len(tombstone) == 1 and "erased_at" in tombstone[0]
    assert http.get("/v1/channels/mall", tenant.key).json["member_count"] == 0
    assert m["id"] not in str(http.get("/v1/members", tenant.key).json)
    reborn = http.post("/v1/members", tenant.key, {"phone": PHONE})
    assert reborn.status == 201 and reborn.json["id"] != m["id"]
    assert http.delete(f"/v1/members/{m['id']}", tenant.key).status == 204  # repeat is harmless
    assert http.patch(f"/v1/members/{m['id']}", tenant.key, {"version": 2, "name": "x"}).status == 410


def test_export_holds_everything_stored_about_the_member(http, tenant):
    m = create(http, tenant, phone=PHONE, email="lin@example.com", channel_ids={"taobao_nick": "lin88"})
    r = http.get(f"/v1/members/{m['id']}/export", tenant.key)
    assert r.status == 200 and r.json["status"] == "succeeded"
    got = requests.get(r.json["download"]["url"], timeout=30)  # the file is in S3, behind a presigned URL
    assert got.status_code == 200
    assert f'filename="member-{m["id"]}.json"' in got.headers["content-disposition"]
    export = got.json()
    assert export["member"] == m
    assert {(i["kind"], i["value"]) for i in export["identities"]} == {
        ("phone", E164), ("email", "lin@example.com"), ("taobao_nick", "lin88")}
    assert export["records"] == []


def test_lookup_needs_exactly_one_identity(http, tenant):
    assert http.get("/v1/members/lookup", tenant.key).status == 422
    assert http.get("/v1/members/lookup?phone=1&email=a@b.co", tenant.key).status == 422
    assert http.get("/v1/members/lookup?channel=wechat_unionid", tenant.key).status == 422
    assert http.get("/v1/members/lookup?channel=myspace&external_id=1", tenant.key).json["field"] == "query.channel"
    assert http.get("/v1/members/lookup?phone=13800138000", tenant.key).status == 404


# --- listing -------------------------------------------------------------------------
def test_list_is_newest_first_and_pages_with_a_signed_cursor(http, tenant):
    ids = [create(http, tenant, phone=f"1380013{n:04d}")["id"] for n in range(7)]
    seen, cursor = [], None
    while True:
        q = "/v1/members?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = http.get(q, tenant.key).json
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_list_filters_by_channel_and_creation_time(http, tenant):
    http.post("/v1/channels", tenant.key, {"code": "live", "name": "Live room"})
    plain = create(http, tenant, phone="13800138001")
    live = [create(http, tenant, phone=f"1380013900{n}", source={"channel": "live"})["id"] for n in range(3)]
    by_channel = http.get("/v1/members?channel=live", tenant.key).json["data"]
    assert [m["id"] for m in by_channel] == list(reversed(live))
    after = http.get(f"/v1/members?created_after={quote(plain['created_at'])}", tenant.key).json["data"]
    assert plain["id"] not in [m["id"] for m in after]
    assert set(live) <= {m["id"] for m in after}


def test_list_bad_queries(http, tenant, other_tenant):
    for q in ["limit=0", "limit=201", "limit=x", "created_after=yesterday", "channel=Bad!", "color=red"]:
        r = http.get(f"/v1/members?{q}", tenant.key)
        assert r.status == 422, (q, r)
    assert http.get("/v1/members?cursor=garbage", tenant.key).json["code"] == "invalid_cursor"
    for n in range(3):
        create(http, tenant, phone=f"1380013800{n}")
    cursor = http.get("/v1/members?limit=1", tenant.key).json["next_cursor"]
    assert cursor
    # a cursor is bound to its tenant and to its list
    assert http.get(f"/v1/members?limit=1&cursor={cursor}", other_tenant.key).json["code"] == "invalid_cursor"
    assert http.get(f"/v1/members?limit=1&channel=x&cursor={cursor}", tenant.key).json["code"] == "invalid_cursor"


# --- channels --------------------------------------------------------------------------
def test_channels_count_the_members_they_bring(http, tenant):
    r = http.post("/v1/channels", tenant.key, {"code": "mall-qr-01", "name": "Mall QR", "platform": "store"})
    assert r.status == 201 and r.json["member_count"] == 0
    for n in range(5):
        create(http, tenant, phone=f"1380013800{n}", source={"channel": "mall-qr-01"})
    create(http, tenant, phone="13800138000")  # the same person again: not counted twice
    got = http.get("/v1/channels/mall-qr-01", tenant.key).json
    assert got["member_count"] == 5 and got["platform"] == "store"
    dup = http.post("/v1/channels", tenant.key, {"code": "mall-qr-01", "name": "again"})
    assert dup.status == 409 and dup.json["code"] == "channel_exists"
    assert http.post("/v1/channels", tenant.key, {"code": "UPPER", "name": "x"}).status == 422
    assert http.get("/v1/channels/nope", tenant.key).status == 404


def test_channel_list_pages(http, tenant):
    for n in range(5):
        http.post("/v1/channels", tenant.key, {"code": f"ch-{n}", "name": f"Channel {n}"})
    first = http.get("/v1/channels?limit=3", tenant.key).json
    second = http.get(f"/v1/channels?limit=3&cursor={first['next_cursor']}", tenant.key).json
    assert [c["code"] for c in first["data"] + second["data"]] == [f"ch-{n}" for n in range(5)]
    assert second["next_cursor"] is None


def test_export_lists_each_record_by_type_without_the_tables_bookkeeping(http, tenant):
    # a regression: records carried item_type as "<class 'chalicelib...'>", keys and versions
    m = create(http, tenant, phone=PHONE)
    order = {"type": "order.paid", "event_id": "e-exp", "member": {"id": m["id"]}, "order_id": "o-exp",
             "amount": 39900, "currency": "CNY"}
    assert http.post("/v1/events", tenant.key, {"events": [order]}).json["results"][0]["status"] == "accepted"
    link = http.get(f"/v1/members/{m['id']}/export", tenant.key).json["download"]["url"]
    records = requests.get(link, timeout=30).json()["records"]
    by_type = {r["record_type"]: r for r in records}
    assert {"timeline", "order", "standing"} <= set(by_type), records
    assert by_type["order"]["order_id"] == "o-exp" and by_type["order"]["amount"] == 39900
    assert by_type["timeline"]["event_id"] == "e-exp"
    internal = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "item_type", "version", "ttl"}
    assert not [r for r in records if internal & set(r) or "<class" in str(r)], records
