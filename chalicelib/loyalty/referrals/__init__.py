"""Referral programs: members bring members, and fraud does not pay.

Public: ``service`` (routes, app.py), ``schemas`` and the pure ``rules``. Journey triggers
(domain events on both members' timelines): ``referral.signed_up``, ``referral.held``,
``referral.rejected``, ``referral.approved``, ``referral.converted``, ``referral.rewarded``,
``referral.reversed`` with ``{referral_id, program_id, role, other_member_id, status,
reasons, order_id}``. Signal ``service.REFERRAL_SETTLE`` (``loyalty.referrals.settle``) is
staged by conversions and reversals; its receiver is ``service.settle`` (app.py).
"""
