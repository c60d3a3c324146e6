"""Group-buys: an offer (a sku at a group price, or a coupon template), groups opened by a
leader under a short join code, exactly k members however many try at once, completion when
each member's ``order.paid`` carrying the code arrived, failure at the deadline (a durable
timer), and the offer's figures.

Public: ``service`` (routes, app.py's wiring: the ``activity.ORDER_PAID`` participant, the
signal receivers, the deadline timer) and ``schemas``. See docs/decisions/0018-group-buys.md.
"""
