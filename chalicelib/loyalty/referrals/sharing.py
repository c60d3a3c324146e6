"""Each eligible member's one code per program, made on first ask.

Codes reuse the coupons' alphabet (no 0/O/1/I) and normalizing (case, spaces and dashes
ignored). One transaction claims the code item (unique per tenant: a conditional put; a
collision draws again) and the member's pointer to it (one per member and program: two
first asks racing get the same code)."""
from __future__ import annotations

from ...core import clock
from ...core.table import counters, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from ...core.errors import Unprocessable
from ...core.tenancy import TenantContext
from ...members import service as members
from ..coupons import codes
from . import programs, rules, store
from .schemas import MemberReferralOut, MemberReferralQuery

CODE_LENGTH = 8  # 40 bits over the 32-letter alphabet: guessing a live code takes ~10^12/N tries
MAX_ATTEMPTS = 8


def _out(program: store.ProgramItem, member_id: str, code: str, created_at: str) -> MemberReferralOut:
    template = dict(program.body).get("share_url_template")
    return MemberReferralOut(program_id=program.program_id, member_id=member_id, code=code,
                             display_code=codes.grouped(code), created_at=created_at,
                             share_url=template.replace("{code}", code) if template else None)


def _eligible(ctx: TenantContext, member_id: str, who: dict[str, object]) -> bool:
    kind = who.get("type", "all")
    if kind == "segment":
        from ...segments import service as segments

        return segments.member_in_segment(ctx, str(who["segment_id"]), member_id)
    if kind == "tier":
        from ...tiers import service as tiers

        program = tiers.load_config(ctx.tenant_id).program
        standing = tiers.standings(ctx.tenant_id, [member_id]).get(member_id)
        tier = standing.effective_tier(clock.now(), program) if standing else None
        return program.rank(tier) >= program.rank(str(who["tier"])) > 0
    return True


def member_referral(ctx: TenantContext, member_id: str, query: MemberReferralQuery) -> MemberReferralOut:
    """The member's code of the program; 422 ``program_not_active`` / ``referrer_not_eligible``
    when none may be made now (a code made before is always returned)."""
    members.get_member(ctx, member_id)  # 404 / 410 like every member route
    program = (programs.load_item(ctx.tenant_id, query.program, field="program") if query.program
               else programs.newest_active(ctx.tenant_id))
    found = store.get_member_code(ctx.tenant_id, member_id, program.program_id)
    if found is not None:
        return _out(program, member_id, found.code, found.created_at)
    if not rules.in_window(programs.as_rules(program), clock.now()):
        raise Unprocessable("This referral program is not running now.", field="program", code="program_not_active")
    if not _eligible(ctx, member_id, dict(dict(program.body).get("who_may_refer") or {})):
        raise Unprocessable("This member may not refer under this program.", field="member_id",
                            code="referrer_not_eligible")

    def attempt(_: int) -> MemberReferralOut:
        code, now = codes.new_code(length=CODE_LENGTH), clock.iso(clock.now())
        tx = Transaction()
        store.stage_new_code(tx, ctx.tenant_id, member_id, program.program_id, code, now)
        counters.add(tx, keys.referral_counter(ctx.tenant_id, program.program_id, "codes"), member_id, 1)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "member_code" in exc.failed:
                mine = store.get_member_code(ctx.tenant_id, member_id, program.program_id)
                if mine is not None:
                    return _out(program, member_id, mine.code, mine.created_at)
            raise  # the code was taken: draw again
        return _out(program, member_id, code, now)

    return retrying(attempt, attempts=MAX_ATTEMPTS, conflict="No free referral code was found; try again.")
