def test_member_created_by_phone_is_found_by_another_notation(http, tenant):
    r = http.post("/v1/members", tenant.key, {"phone": "138 0013 8000", "name": "Lin"})
    assert r.status == 201, r
    assert r.json["phone"] == "+8613800138000"
    again = http.post("/v1/members", tenant.key, {"phone": "+86-138-0013-8000"})
    assert again.status == 200, again
    assert again.json["id"] == r.json["id"]
