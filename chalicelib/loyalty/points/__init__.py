"""Points: a ledger of lots that never loses or invents a point.

Public: ``service`` (the program, balances, adjustments, redemptions, analytics,
``REWARD_REDEEMED``, ``available_points`` for segments), ``earning.on_event`` (the
receiver of ``activity.EVENT_RECORDED``), ``expiry.run`` (the ``points_expiry`` schedule),
and the pure ``rules`` / ``ledger`` modules.
"""
