"""(o) Referrals: a sign-up with a referral code (``POST /v1/members`` with
``referral_code``) vs the same sign-up without one: time, capacity units and DynamoDB calls.

A tenant of its own with one program converting on the first order (so the sign-up only
attributes: fraud rules, the referral, the first-touch marker, the velocity slot, the
referrer's stats, two timeline events) and, as a second row, one converting on sign-up (the
rewards follow in the same request: the settle signal's points grants on both sides). Each
referred sign-up uses one of 10 referrers' codes in turn (under the velocity cap), and the
signed-up members are new phones, interleaved with plain sign-ups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api import App
from .report import fmt, heading, median, p90, progress, ratio, table

SIGNUPS = 30
REFERRERS = 10


@dataclass
class Side:
    ms: list[float] = field(default_factory=list)
    rcu: list[float] = field(default_factory=list)
    wcu: list[float] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)


@dataclass
class ReferralFigures:
    sides: dict[str, Side] = field(default_factory=dict)


def run_referrals(client: Any, admin_token: str, app_ddb: Any) -> ReferralFigures:
    from chalicelib.core.table.capacity import metered

    api = App(client)
    api.create_tenant(admin_token, name="Bench Referrals")
    phones = iter(f"+86139{n:08d}" for n in range(1, 10_000))
    codes: dict[str, list[str]] = {}
    for conversion in ("first_order", "signup"):
        _, program = api.call("post", "/v1/referral-programs", {
            "name": f"Bench {conversion}", "conversion": {"type": conversion},
            "referrer_reward": {"type": "points", "points": 100}, "referee_reward": {"type": "points", "points": 20},
            "fraud": {"velocity_per_hour": 1000}}, expected=201)
        codes[conversion] = []
        for _ in range(REFERRERS):
            _, referrer = api.call("post", "/v1/members", {"phone": next(phones)}, expected=201)
            _, mine = api.call("get", f"/v1/members/{referrer['id']}/referral?program={program['id']}")
            codes[conversion].append(mine["code"])
    fig = ReferralFigures({"without a code": Side(), "with a code (first_order)": Side(),
                           "with a code (signup: rewarded)": Side()})
    api.call("post", "/v1/members", {"phone": next(phones), "referral_code": codes["first_order"][0]}, expected=201)
    progress(f"referrals: {SIGNUPS} sign-ups each without a code, with a code, with a code that converts at once")
    for n in range(SIGNUPS):
        for name, code in (("without a code", None), ("with a code (first_order)", codes["first_order"][n % REFERRERS]),
                           ("with a code (signup: rewarded)", codes["signup"][n % REFERRERS])):
            body: dict[str, Any] = {"phone": next(phones), "name": "Bench Member"}
            if code:
                body["referral_code"] = code
            with metered(app_ddb) as usage:
                ms, _ = api.call("post", "/v1/members", body, expected=201)
            side = fig.sides[name]
            side.ms.append(ms)
            side.rcu.append(usage.read)
            side.wcu.append(usage.write)
            side.calls = usage.calls
    return fig


def print_referrals(fig: ReferralFigures) -> None:
    print(heading("(o) Referrals: a sign-up with a referral code vs without"))
    print(f"  {SIGNUPS} sign-ups of each kind, interleaved; the code's checks and writes join the member's own\n"
          "  creating transaction; a sign-up-converting program also grants both sides' points in the request.\n")
    rows = []
    for name, side in fig.sides.items():
        calls = ", ".join(f"{op} x{c}" for op, c in sorted(side.calls.items()))
        rows.append([name, calls, fmt(median(side.ms)), fmt(p90(side.ms)), fmt(median(side.rcu), 1),
                     fmt(median(side.wcu), 1)])
    print(table(["sign-up", "DynamoDB calls (last one)", "median ms", "p90 ms", "RCU", "WCU"], rows, align="llrrrr"))
    plain = fig.sides["without a code"]
    for name in list(fig.sides)[1:]:
        side = fig.sides[name]
        print(f"\n  {name} / without: time {ratio(median(side.ms), median(plain.ms))}, "
              f"units {ratio(median(side.rcu) + median(side.wcu), median(plain.rcu) + median(plain.wcu))}.")
