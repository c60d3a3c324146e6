"""Referral figures: sharded counters per program (O(1) in the number of referrals), the
top referrers from the sharded rank index (``top`` per shard, merged) and the invite tree
from the referrals-by-referrer index (each node lists at most ``NODE_LIMIT``). No scans."""
from __future__ import annotations

from ...core.table import counters, keys
from ...core.tenancy import TenantContext
from ...members import service as members
from . import programs, store
from .schemas import AnalyticsQuery, ReferralAnalytics, ReferralTree, TopReferrer, TreeNode, TreeQuery

METRICS = ("codes", "signups", "new_members", "conversions", "rewarded", "reversed", "held", "rejected",
           "active_referrers", "rewards_given", "rewards_reversed")
NODE_LIMIT = 100


def report(ctx: TenantContext, query: AnalyticsQuery) -> ReferralAnalytics:
    programs.load_item(ctx.tenant_id, query.program, field="program")
    name = lambda metric: keys.referral_counter(ctx.tenant_id, query.program, metric)  # noqa: E731
    totals = counters.read([name(m) for m in METRICS])
    got = {m: totals[name(m)] for m in METRICS}
    top = store.top_referrers(ctx.tenant_id, query.program, query.top)
    active = got["active_referrers"]
    return ReferralAnalytics(
        program_id=query.program, codes_shared=got["codes"], signups=got["signups"], new_members=got["new_members"],
        conversions=got["conversions"], rewarded=got["rewarded"], reversed=got["reversed"], held=got["held"],
        rejected=got["rejected"], active_referrers=active,
        fission_ratio=round(got["new_members"] / active, 4) if active else 0.0,
        rewards_given=got["rewards_given"], rewards_reversed=got["rewards_reversed"],
        top_referrers=[TopReferrer(member_id=s.member_id, signups=int(s.signups), conversions=int(s.conversions))
                       for s in top if int(s.conversions) > 0 or int(s.signups) > 0])


def tree(ctx: TenantContext, query: TreeQuery) -> ReferralTree:
    """Whom the member brought, and whom those brought, to ``depth`` levels (3 at most);
    rejected referrals are left out (they brought nobody)."""
    members.get_member(ctx, query.member)  # 404 / 410 like every member route
    if query.program:
        programs.load_item(ctx.tenant_id, query.program, field="program")
    size = 0

    def node(member_id: str, referral: store.ReferralItem | None, depth: int) -> TreeNode:
        nonlocal size
        out = TreeNode(member_id=member_id, referral_id=referral.referral_id if referral else None,
                       status=referral.status if referral else None)
        if depth == 0:
            return out
        found = store.by_referrer(ctx.tenant_id, member_id, NODE_LIMIT + 1)
        found = [r for r in found if (query.program is None or r.program_id == query.program)
                 and r.status != "rejected"]  # a rejected referral brought nobody (self, not new, ...)
        out.truncated = len(found) > NODE_LIMIT
        for child in found[:NODE_LIMIT]:
            size += 1
            out.children.append(node(child.referee_id, child, depth - 1))
        return out

    root = node(query.member, None, query.depth)
    return ReferralTree(root=root, size=size)
