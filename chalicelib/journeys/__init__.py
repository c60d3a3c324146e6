"""Lifecycle journeys: a trigger enrols a member, steps wait, branch, tag, grant coupons,
message and call the tenant's webhook, create a task for the member's guide (the guides
capability receives ``actions.TASK_REQUESTED``), and a goal ends the enrolment at once.

``routes`` is the HTTP layer and ``service`` its rules; ``triggers`` (listeners and the
hourly schedule) and ``enrolments`` enter and leave; ``runner`` runs steps when a timer
fires (``actions`` does each step) and sweeps; ``delivery`` is the message outbox;
``engine`` the pure decisions, ``validation`` the definition checks, ``templates`` the
message templates (public, pure: guides renders task texts with it), ``catalog`` the
cached definitions; ``store`` the items; ``timers`` (Step Functions / local) and
``channels`` (webhook / SES / SNS) the ports with their adapters. See docs/decisions/0007-journeys.md.
"""
