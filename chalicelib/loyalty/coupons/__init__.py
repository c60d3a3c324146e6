"""Coupons: templates, unguessable single-use codes held by one member, redemption (the API
and ``order.paid`` in the order's own transaction), refunds and analytics.

Public: ``service`` (what journeys, points and app.py use), ``schemas``, and the pure
``rules`` (discount and conditions) and ``codes`` modules.
"""
