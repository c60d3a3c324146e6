"""Points: a ledger of lots that never loses or invents a point.

Public: ``service`` (the program, balances, adjustments, redemptions, analytics,
``available_points_of`` for segments, ``forget_member`` for erasure), ``earning.on_event``
(the receiver of ``activity.EVENT_RECORDED``), ``expiry.run`` (the ``points_expiry``
schedule), and the pure ``rules`` / ``ledger`` modules.

Signal for the coupons capability: ``service.REWARD_REDEEMED``
(``loyalty.points.reward_redeemed``) is staged in a reward redemption's own transaction
when the reward has a ``coupon_template_id``; its data is ``{"redemption_id", "reward_id",
"coupon_template_id"}`` and its member is the redeeming member. Delivered at least once:
the receiver (``coupons.service.on_reward_redeemed``, wired in app.py) must issue once per
``redemption_id``.

Journey triggers (domain events, committed with the ledger write): ``points.earned``
``{points, order_id | rules, pending}``, ``points.expiring`` ``{points, expires_at,
lot_id}`` (once per lot, ``expiring_notice_days`` before), ``points.redeemed`` ``{points,
redemption_id, reward_id}``.
"""
