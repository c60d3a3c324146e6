"""Points and coupons together: a reward bought with points issues its coupon to the
member, once per redemption, through the durable outbox (the reward's redemption and the
coupon are separate writes; a redelivered signal issues nothing twice)."""
from __future__ import annotations

from tests.integration.coupon_support import create_template


def test_redeeming_a_reward_issues_its_coupon_once(http, tenant):
    from chalicelib.core.signals import Delivery
    from chalicelib.loyalty.coupons import service as coupons

    template = create_template(http, tenant)
    reward = http.post("/v1/rewards", tenant.key, {"name": "50 off", "points_cost": 100,
                                                    "coupon_template_id": template["id"]}).json
    member = http.post("/v1/members", tenant.key, {"phone": "13800138111"}).json["id"]
    assert http.post(f"/v1/members/{member}/points/adjustments", tenant.key,
                     {"points": 250, "reason": "welcome"}).status == 201
    # WHEN the member spends points on the reward twice
    redemptions = []
    for key in ("r-1", "r-2"):
        r = http.call("POST", f"/v1/members/{member}/points/redemptions", tenant.key,
                      json_body={"reward_id": reward["id"]}, headers={"Idempotency-Key": key})
        assert r.status == 201, r
        redemptions.append(r.json)
    # AND the first redemption's signal is delivered once more (at least once means maybe twice)
    coupons.on_reward_redeemed(Delivery(id="again", signal="loyalty.points.reward_redeemed", tenant_id=tenant.id,
                                        member_id=member, data={"redemption_id": redemptions[0]["id"],
                                                                "reward_id": reward["id"],
                                                                "coupon_template_id": template["id"]}))
    # THEN each redemption issued exactly one coupon of the reward's template
    coupons = http.get(f"/v1/members/{member}/coupons", tenant.key).json
    held = [c for c in coupons["data"] if c["template_id"] == template["id"]]
    assert len(held) == 2, coupons
    assert http.get(f"/v1/members/{member}/points", tenant.key).json["available"] == 50
