"""Event subscriptions (outbound webhooks): tenants register endpoints for event types;
every domain event becomes an event object delivered, signed, at least once, to each.

Public: ``events`` (the signal receivers and the schedule, wired in app.py), ``service``,
``schemas``, and the pure ``signing`` (receivers verify with ``signing.verify``),
``matching`` and ``backoff``.
"""
