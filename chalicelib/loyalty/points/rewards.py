"""The rewards catalog: what points buy, with stock, a per-member limit and an active window.

A redemption decrements the stock with a conditional update (``stock >= 1``) and counts
the member's redemptions of the reward (``n < limit``) in the redemption's own transaction,
so no stock is oversold and no limit exceeded, however many redeem at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...core import clock
from ...core.errors import Conflict, NotFound, Unprocessable
from ...core.ids import new_id
from ...core.table import cursor
from ...core.table.transactions import Transaction
from ...core.tenancy import TenantContext
from . import store
from .schemas import RewardIn, RewardList, RewardOut, RewardPatch, RewardQuery


@dataclass(frozen=True)
class Reward:
    id: str
    cost: int
    per_member_limit: int | None
    coupon_template_id: str | None


def _out(item: store.RewardItem) -> RewardOut:
    body = dict(item.body)
    return RewardOut(id=item.reward_id, stock=int(item.stock) if item.stock is not None else None,
                     created_at=item.created_at, **body)


def _body(data: dict[str, Any]) -> dict[str, Any]:
    for name in ("active_from", "active_until"):
        if data.get(name):
            data[name] = clock.iso(clock.parse(data[name]))
    return data


def _load(tenant_id: str, reward_id: str) -> store.RewardItem:
    item = store.get_reward(tenant_id, reward_id) if len(reward_id) <= 64 else None
    if item is None:
        raise NotFound("No such reward.", code="reward_not_found")
    return item


def _check_coupon_template(tenant_id: str, template_id: str | None) -> None:
    """A reward that issues a coupon names one of the tenant's templates (else a redemption
    would spend points for a coupon that can never be issued)."""
    from ..coupons import service as coupons

    if template_id is not None and not coupons.template_exists(tenant_id, template_id):
        raise Unprocessable("No such coupon template.", field="coupon_template_id", code="unknown_coupon_template")


def create(ctx: TenantContext, body: RewardIn) -> RewardOut:
    _check_coupon_template(ctx.tenant_id, body.coupon_template_id)
    data = _body(body.model_dump(mode="json", exclude={"stock"}))
    item = store.new_reward(ctx.tenant_id, new_id(), {**data, "active": True}, body.stock, clock.iso(clock.now()))
    store.save_reward(item, new=True)
    return _out(item)


def get(ctx: TenantContext, reward_id: str) -> RewardOut:
    return _out(_load(ctx.tenant_id, reward_id))


def list_rewards(ctx: TenantContext, query: RewardQuery) -> RewardList:
    after = cursor.decode(query.cursor, ctx.tenant_id, "rewards") if query.cursor else None
    items, last = store.rewards_page(ctx.tenant_id, after, query.limit)
    return RewardList(data=[_out(i) for i in items],
                      next_cursor=cursor.encode(ctx.tenant_id, "rewards", last) if last else None)


def update(ctx: TenantContext, reward_id: str, patch: RewardPatch) -> RewardOut:
    item = _load(ctx.tenant_id, reward_id)
    changes = _body(patch.model_dump(mode="json", exclude_unset=True, exclude={"stock"}))
    body = {**dict(item.body), **changes}
    if body.get("active_from") and body.get("active_until") and body["active_until"] <= body["active_from"]:
        raise Unprocessable("active_until must be after active_from.", field="active_until")
    store.update_reward(item, body, patch.stock, "stock" in patch.model_fields_set)
    return _out(_load(ctx.tenant_id, reward_id))


def archive(ctx: TenantContext, reward_id: str) -> None:
    item = _load(ctx.tenant_id, reward_id)
    store.update_reward(item, {**dict(item.body), "active": False}, None, False)


def redeemable(tenant_id: str, reward_id: str, points: int | None) -> Reward:
    """The reward to redeem, checked before anything is written (422 for what the client sent)."""
    item = store.get_reward(tenant_id, reward_id) if len(reward_id) <= 64 else None
    if item is None:
        raise Unprocessable("No such reward.", field="reward_id", code="unknown_reward")
    body = dict(item.body)
    if points is not None and points != body["points_cost"]:
        raise Unprocessable(f"This reward costs {body['points_cost']} points.", field="points",
                            code="points_mismatch")
    now = clock.iso(clock.now())
    if (not body.get("active", True) or (body.get("active_from") and now < body["active_from"])
            or (body.get("active_until") and now >= body["active_until"])):
        raise Conflict("This reward cannot be redeemed now.", code="reward_inactive")
    return Reward(id=item.reward_id, cost=int(body["points_cost"]), per_member_limit=body.get("per_member_limit"),
                  coupon_template_id=body.get("coupon_template_id"))


def check_still_redeemable(tenant_id: str, member_id: str, reward: Reward) -> None:
    """Before each attempt: out of stock or the member's limit reached are 409s (the
    transaction's conditions are what guarantee it; this says which)."""
    item = store.get_reward(tenant_id, reward.id)
    if item is None:
        raise Unprocessable("No such reward.", field="reward_id", code="unknown_reward")
    if item.stock is not None and int(item.stock) <= 0:
        raise Conflict("This reward is out of stock.", code="out_of_stock")
    if reward.per_member_limit is not None:
        sk = store.reward_count_sk(reward.id)
        if store.cap_counts(tenant_id, member_id, [sk])[sk] >= reward.per_member_limit:
            raise Conflict("The member has redeemed this reward as often as allowed.", code="reward_limit_reached")


def stage_redemption(tx: Transaction, tenant_id: str, member_id: str, reward: Reward) -> None:
    item = store.get_reward(tenant_id, reward.id)
    assert item is not None
    store.stage_stock(tx, item)
    if reward.per_member_limit is not None:
        store.stage_cap(tx, tenant_id, member_id, store.reward_count_sk(reward.id), reward.per_member_limit, None)
